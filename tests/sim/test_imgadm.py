"""imgadm emulation (reference §6) and the imgadm client over sim://."""

from __future__ import annotations

import http.server
import io
import json
import os
import threading
import uuid as uuidlib

import pytest

from openstack_smartos.host import errors
from openstack_smartos.host.transport import connect
from openstack_smartos.host.imgadm import Imgadm
from openstack_smartos.sim import imagebuild, tools
from openstack_smartos.sim.state.zfs import Pool

ZONE_FILES = {"etc/motd": b"hello from the image\n", "opt/blob": os.urandom(300_000)}


def run(host, *argv, stdin=b""):
    out, err = io.BytesIO(), io.BytesIO()
    code = tools.run_tool(str(host.root), list(argv), stdin=io.BytesIO(stdin),
                          stdout=out, stderr=err)
    return code, out.getvalue().decode(), err.getvalue().decode()


@pytest.fixture
def zone_image(tmp_path):
    return imagebuild.build_image(tmp_path / "img", "zone-dataset", name="base",
                                  version="1.0", files=ZONE_FILES)


def _datasets(host):
    with host.locked():
        return {d["name"] for d in Pool(host).list(root=host.zpool)}


@pytest.mark.parametrize("compression", ["gzip", "bzip2", "xz", "none"])
def test_install_each_compression(sim_host, tmp_path, compression):
    """§6.2: install verifies sha1 and size, decompresses (bzip2, gzip, xz or none)
    and receives the stream into <pool>/<uuid>@final."""
    host = sim_host()
    manifest, mpath, fpath = imagebuild.build_image(
        tmp_path / compression, "zone-dataset", files=ZONE_FILES, compression=compression)
    code, out, err = run(host, "imgadm", "install", "-m", mpath, "-f", fpath)
    assert code == 0, err
    assert f"Installed image {manifest['uuid']}" in out
    dataset = f"zones/{manifest['uuid']}"
    with host.locked():
        pool = Pool(host)
        assert [s["name"] for s in pool.snapshots(dataset)] == [f"{dataset}@final"]
        assert pool.read_file(dataset, "opt/blob") == ZONE_FILES["opt/blob"]


def test_get_and_list(sim_host, zone_image):
    """§6.1: get prints {"manifest", "zpool"}; list -j lists installed images;
    published_at is set on install when absent."""
    host = sim_host()
    manifest, mpath, fpath = zone_image
    assert run(host, "imgadm", "install", "-m", mpath, "-f", fpath)[0] == 0
    code, out, _ = run(host, "imgadm", "get", manifest["uuid"])
    assert code == 0
    got = json.loads(out)
    assert got["zpool"] == "zones" and got["manifest"]["uuid"] == manifest["uuid"]
    assert got["manifest"]["published_at"]
    code, out, _ = run(host, "imgadm", "list", "-j")
    assert [i["manifest"]["uuid"] for i in json.loads(out)] == [manifest["uuid"]]
    code, out, _ = run(host, "imgadm", "list", "-H", "-o", "uuid,name,type")
    assert out.split() == [manifest["uuid"], "base", "zone-dataset"]
    code, out, _ = run(host, "imgadm", "list", "-H", "-o", "uuid", "name=~as")
    assert out.strip() == manifest["uuid"]          # =~ is a substring match
    code, out, _ = run(host, "imgadm", "list", "-H", "-o", "uuid", "name=~^b")
    assert out.strip() == ""                        # ... not a regex


def test_get_missing_exits_3(sim_host):
    """§6.1: `imgadm get` of a missing image exits 3 with
    `imgadm get: error (ImageNotInstalled): image "<uuid>" was not found on zpool "zones"`."""
    host = sim_host()
    missing = str(uuidlib.uuid4())
    code, out, err = run(host, "imgadm", "get", missing)
    assert code == 3 and out == ""
    assert err.strip() == (f'imgadm get: error (ImageNotInstalled): image "{missing}" '
                           'was not found on zpool "zones"')


def test_bad_checksum_leaves_nothing(sim_host, zone_image, tmp_path):
    """§6.2: the sha1 is verified; on error the -partial dataset is destroyed."""
    host = sim_host()
    manifest, mpath, fpath = zone_image
    before = _datasets(host)
    wrong = dict(manifest, files=[dict(manifest["files"][0], sha1="0" * 40)])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(wrong))
    code, _, err = run(host, "imgadm", "install", "-m", str(bad), "-f", fpath)
    assert code == 1 and "(DownloadError)" in err and "sha1" in err
    assert _datasets(host) == before
    assert run(host, "imgadm", "get", manifest["uuid"])[0] == 3
    # The correct manifest installs afterwards.
    assert run(host, "imgadm", "install", "-m", mpath, "-f", fpath)[0] == 0


def test_truncated_file_leaves_nothing(sim_host, zone_image, tmp_path):
    """§6.1: UncompressionError on a damaged file; nothing is left behind."""
    host = sim_host()
    manifest, mpath, fpath = zone_image
    data = open(fpath, "rb").read()
    short = tmp_path / "short.zfs.gz"
    short.write_bytes(data[: len(data) // 2])
    before = _datasets(host)
    code, _, err = run(host, "imgadm", "install", "-m", mpath, "-f", str(short))
    assert code == 1, err
    assert _datasets(host) == before


def test_install_twice_refused(sim_host, zone_image):
    host = sim_host()
    manifest, mpath, fpath = zone_image
    assert run(host, "imgadm", "install", "-m", mpath, "-f", fpath)[0] == 0
    code, _, err = run(host, "imgadm", "install", "-m", mpath, "-f", fpath)
    assert code == 1 and "already installed" in err


def test_install_invalid_manifest(sim_host, tmp_path, zone_image):
    """§6.3: a manifest without the required fields is refused (ManifestValidation)."""
    host = sim_host()
    _, _, fpath = zone_image
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps({"uuid": str(uuidlib.uuid4()), "name": "x"}))
    code, _, err = run(host, "imgadm", "install", "-m", str(bad), "-f", fpath)
    assert code == 1 and "(ManifestValidation)" in err


def test_install_missing_paths_is_usage(sim_host):
    host = sim_host()
    code, _, err = run(host, "imgadm", "install", "-m", "/nonexistent.json", "-f", "/nope")
    assert code == 2 and 'manifest path does not exist: "/nonexistent.json"' in err


def test_zvol_image_is_a_volume(sim_host, tmp_path):
    """§6.2: zvol images are volumes <pool>/<uuid> with @final."""
    host = sim_host()
    payload = os.urandom(1 << 20)
    manifest, mpath, fpath = imagebuild.build_image(
        tmp_path / "z", "zvol", volume=payload, volume_size=8 << 20)
    assert run(host, "imgadm", "install", "-m", mpath, "-f", fpath)[0] == 0
    with host.locked():
        pool = Pool(host)
        props = pool.get_props(f"zones/{manifest['uuid']}")
        assert props["type"] == "volume" and int(props["volsize"]) == 8 << 20
        assert pool.read_volume(f"zones/{manifest['uuid']}", 0, len(payload)) == payload


def test_delete_refused_with_clones(sim_host, zone_image):
    """§6.1: delete fails with ImageHasDependentClones while clones exist."""
    host = sim_host()
    manifest, mpath, fpath = zone_image
    assert run(host, "imgadm", "install", "-m", mpath, "-f", fpath)[0] == 0
    with host.locked():
        Pool(host).clone(f"zones/{manifest['uuid']}@final", "zones/some-clone")
    code, _, err = run(host, "imgadm", "delete", manifest["uuid"])
    assert code == 1 and "(ImageHasDependentClones)" in err and "zones/some-clone" in err
    with host.locked():
        Pool(host).destroy("zones/some-clone")
    code, out, _ = run(host, "imgadm", "delete", manifest["uuid"])
    assert code == 0 and f"Deleted image {manifest['uuid']}" in out
    assert f"zones/{manifest['uuid']}" not in _datasets(host)


class _ImgapiHandler(http.server.BaseHTTPRequestHandler):
    images: dict = {}

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        entry = self.images.get(parts[1]) if len(parts) >= 2 and parts[0] == "images" else None
        if entry is None:
            self.send_response(404)
            self.end_headers()
            return
        manifest, path = entry
        body = json.dumps(manifest).encode() if len(parts) == 2 else open(path, "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def imgapi(zone_image):
    manifest, _, fpath = zone_image
    handler = type("H", (_ImgapiHandler,), {"images": {manifest["uuid"]: (manifest, fpath)}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", manifest
    server.shutdown()


def test_import_from_imgapi_source(sim_host, imgapi):
    """§6.1: import downloads from a source IMGAPI (GET /images/<uuid>[/file]);
    a second import says "already installed" and exits 0 (§12.18)."""
    host = sim_host()
    url, manifest = imgapi
    code, out, err = run(host, "imgadm", "import", "-S", url, manifest["uuid"])
    assert code == 0, err
    assert f"Imported image {manifest['uuid']}" in out
    assert json.loads(run(host, "imgadm", "get", manifest["uuid"])[1])["source"] == url
    code, out, _ = run(host, "imgadm", "import", "-S", url, manifest["uuid"])
    assert code == 0 and "is already installed, skipping" in out
    code, _, err = run(host, "imgadm", "import", "-S", url, str(uuidlib.uuid4()))
    assert code == 1 and "(ActiveImageNotFound)" in err


def test_sources(sim_host):
    """§6.1: the default source is https://images.smartos.org; -a/-d edit the list."""
    host = sim_host()
    assert run(host, "imgadm", "sources")[1].split() == ["https://images.smartos.org"]
    assert run(host, "imgadm", "sources", "-a", "http://127.0.0.1:9/")[0] == 0
    assert json.loads(run(host, "imgadm", "sources", "-j")[1])[1]["url"] == "http://127.0.0.1:9/"
    assert run(host, "imgadm", "sources", "-d", "http://127.0.0.1:9/")[0] == 0
    assert run(host, "imgadm", "sources")[1].split() == ["https://images.smartos.org"]


# -- the client ---------------------------------------------------------------------

def test_client_install_streams_and_cleans_staging(sim_host, zone_image):
    host = sim_host()
    manifest, _, fpath = zone_image
    transport = connect(f"sim://{host.root}")
    client = Imgadm(transport)
    staged_before = set(os.listdir("/var/tmp"))
    with open(fpath, "rb") as data:
        client.install(manifest, data)
    assert client.exists(manifest["uuid"])
    assert client.get(manifest["uuid"])["manifest"]["name"] == "base"
    assert [i["manifest"]["uuid"] for i in client.list()] == [manifest["uuid"]]
    assert set(os.listdir("/var/tmp")) == staged_before
    # The image data really went through stdin.
    assert transport.stats.bytes_out >= os.path.getsize(fpath)


def test_client_errors_are_typed(sim_host, zone_image):
    host = sim_host()
    client = Imgadm(connect(f"sim://{host.root}"))
    with pytest.raises(errors.ImageNotInstalled):
        client.get(str(uuidlib.uuid4()))
    assert client.exists(str(uuidlib.uuid4())) is False
    manifest, _, fpath = zone_image
    wrong = dict(manifest, files=[dict(manifest["files"][0], sha1="1" * 40)])
    with open(fpath, "rb") as data, pytest.raises(errors.CommandError) as info:
        client.install(wrong, data)
    assert "sha1" in info.value.message


def test_failed_install_then_retry(sim_host, zone_image):
    """An injected imgadm install failure leaves the host clean; the retry works."""
    from openstack_smartos.sim import faults
    host = sim_host()
    manifest, _, fpath = zone_image
    client = Imgadm(connect(f"sim://{host.root}"))
    faults.add_rule(host, "imgadm install", "fail", stderr="imgadm install: error "
                    "(InternalError): injected", times=1)
    before = _datasets(host)
    with open(fpath, "rb") as data, pytest.raises(errors.CommandError):
        client.install(manifest, data)
    assert _datasets(host) == before and not client.exists(manifest["uuid"])
    with open(fpath, "rb") as data:
        client.install(manifest, data)
    assert client.exists(manifest["uuid"])
