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
        """Install an image, streaming its (compressed) file on stdin.

        imgadm takes the manifest as a path, so it is staged in /var/tmp
        under a random name and removed afterwards, whatever happens.
        """
        staged = f"{STAGING_DIR}/openstack-smartos-{secrets.token_hex(8)}.imgmanifest"
        self._t.write_file(staged, json.dumps(manifest).encode())
        try:
            self._run("install", "-q", "-m", staged, "-f", "/dev/stdin", pool=pool,
                      stdin=data, timeout=timeout)
        finally:
            self._t.remove_file(staged)

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
