"""imgadm client: installed images, install from streamed data, import, delete, create."""

from __future__ import annotations

import json
import secrets

from openstack_smartos.host import errors

STAGING_DIR = "/var/tmp"


class Imgadm:
    def __init__(self, transport):
        self._t = transport

    def _run(self, *args, pool=None, **kwargs):
        argv = ["imgadm", *args]
        if pool:
            argv[2:2] = ["-P", pool]
        return self._t.run(argv, **kwargs)

    def list(self, filters: dict | None = None) -> list[dict]:
        """Installed images: [{"manifest": {...}, "zpool": ..., "source": ...}]."""
        args = ["list", "-j"] + [f"{k}={v}" for k, v in (filters or {}).items()]
        return json.loads(self._t.run(["imgadm", *args]).stdout or b"[]")

    def get(self, uuid: str, pool: str | None = None, children=False) -> dict:
        """{"manifest", "zpool", "source"?}; raises ImageNotInstalled."""
        args = ["get"] + (["-r"] if children else [])
        return json.loads(self._run(*args, uuid, pool=pool).stdout)

    def exists(self, uuid: str, pool: str | None = None) -> bool:
        try:
            self.get(uuid, pool)
        except errors.ImageNotInstalled:
            return False
        return True

    def install(self, manifest: dict, data, pool: str | None = None,
                timeout: float | None = None) -> None:
        """Install an image from its manifest and (compressed) file.

        imgadm takes both as paths and checks the file's size and sha1
        against the manifest with stat and a first read, so the file is
        streamed into a private staging file on the host first (the data
        crosses the network once), then installed; both staged files are
        removed afterwards, whatever happens.
        """
        token = secrets.token_hex(8)
        staged_manifest = f"{STAGING_DIR}/openstack-smartos-{token}.imgmanifest"
        staged_file = f"{STAGING_DIR}/openstack-smartos-{token}.imgfile"
        try:
            self._t.write_file(staged_manifest, json.dumps(manifest).encode())
            self._t.write_file(staged_file, data, timeout=timeout)
            self._run("install", "-q", "-m", staged_manifest, "-f", staged_file,
                      pool=pool, timeout=timeout)
        finally:
            for path in (staged_file, staged_manifest):
                self._t.remove_file(path)

    def import_image(self, uuid: str, source: str | None = None, pool: str | None = None,
                     timeout: float | None = None) -> None:
        args = ["import", "-q"] + (["-S", source] if source else []) + [uuid]
        self._run(*args, pool=pool, timeout=timeout)

    def delete(self, uuid: str, pool: str | None = None) -> None:
        self._run("delete", uuid, pool=pool)

    def create(self, vm_uuid: str, manifest: dict, output_dir: str,
               compression: str = "gzip", timeout: float | None = None) -> dict:
        """Create an image from a stopped VM; returns the paths and manifest."""
        staged = f"{STAGING_DIR}/openstack-smartos-{secrets.token_hex(8)}.imgmanifest"
        self._t.write_file(staged, json.dumps(manifest).encode())
        try:
            result = self._t.run(["imgadm", "create", "-q", "-c", compression, "-o",
                                  output_dir, "-m", staged, vm_uuid], timeout=timeout)
        finally:
            self._t.remove_file(staged)
        paths = {}
        for line in result.text.splitlines():
            if line.startswith("Wrote image manifest: "):
                paths["manifest_path"] = line.split(": ", 1)[1]
            elif line.startswith("Wrote image file: "):
                paths["file_path"] = line.split(": ", 1)[1]
        return paths

    def sources(self) -> list[dict]:
        return json.loads(self._t.run(["imgadm", "sources", "-j"]).stdout or b"[]")

    def add_source(self, url: str, source_type: str = "imgapi") -> None:
        self._t.run(["imgadm", "sources", "-a", url, "-t", source_type])

    def remove_source(self, url: str) -> None:
        self._t.run(["imgadm", "sources", "-d", url])
