"""Conformance of the emulated vmadm with the reference (smartos-contracts.md §0-§3, §10)."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid as uuidlib

import pytest

from openstack_smartos.sim import faults
from openstack_smartos.sim.state import vms as vmstore
from openstack_smartos.sim.tools import run_tool
from openstack_smartos.sim.state.zfs import Pool, ZFSError


class Run:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    @property
    def json(self):
        return json.loads(self.out)


def vmadm(host, *argv, stdin=b"", tty=False, cancel=None):
    out, err = io.BytesIO(), io.BytesIO()
    if isinstance(stdin, dict):
        stdin = json.dumps(stdin).encode()
    code = run_tool(host.root, ["vmadm", *argv], stdin=io.BytesIO(stdin), stdout=out,
                    stderr=err, stdin_is_tty=tty, cancel=cancel)
    return Run(code, out.getvalue().decode(), err.getvalue().decode())


def create(host, payload, **kwargs):
    result = vmadm(host, "create", stdin=payload, **kwargs)
    assert result.code == 0, result.err
    return result.err.split()[-1]


def datasets(host):
    with host.locked():
        return {d["name"] for d in Pool(host).list(types=("filesystem", "volume", "snapshot"))}


def set_timings(host, **timings):
    host.config.setdefault("timings", {}).update(timings)
    host.save_config()


@pytest.fixture
def host(sim_host):
    return sim_host()


@pytest.fixture
def zone_image(host, install_image):
    return install_image(host, "zone-dataset")["uuid"]


@pytest.fixture
def zvol_image(host, install_image):
    return install_image(host, "zvol", size_mib=10240)["uuid"]


@pytest.fixture
def zone(host, zone_image):
    return create(host, {"brand": "joyent", "image_uuid": zone_image, "alias": "web",
                         "nics": [{"nic_tag": "admin", "ips": ["10.0.0.5/24"],
                                   "gateways": ["10.0.0.1"]}]})


@pytest.fixture
def kvm(host, zvol_image):
    return create(host, {"brand": "kvm", "ram": 1024, "alias": "hvm1",
                         "disks": [{"image_uuid": zvol_image, "boot": True,
                                    "model": "virtio"}],
                         "nics": [{"nic_tag": "external", "ip": "dhcp", "model": "virtio"}]})


@pytest.fixture
def bhyve(host, zvol_image):
    return create(host, {"brand": "bhyve", "ram": 2048, "vcpus": 2, "alias": "bh",
                         "flexible_disk_size": 20480,
                         "disks": [{"image_uuid": zvol_image, "boot": True,
                                    "model": "virtio"},
                                   {"size": 2048, "model": "virtio"}],
                         "nics": [{"nic_tag": "admin", "ips": ["10.0.0.9/24"],
                                   "model": "virtio"}]})


# -- §1.1 streams, messages and exit codes ------------------------------------------------
def test_create_message_on_stderr_and_nothing_on_stdout(host, zone_image):
    """§1.1: success messages go to stderr (`Successfully created VM <uuid>`), exit 0."""
    result = vmadm(host, "create", stdin={"brand": "joyent", "image_uuid": zone_image})
    assert result.code == 0
    assert result.out == ""
    assert result.err.startswith("Successfully created VM ")
    assert len(result.err.strip().split()[-1]) == 36


def test_create_uses_payload_uuid_and_refuses_it_twice(host, zone_image):
    """§1.1: an existing uuid fails with `VM with UUID <uuid> already exists`."""
    wanted = str(uuidlib.uuid4())
    payload = {"uuid": wanted, "brand": "joyent", "image_uuid": zone_image}
    assert create(host, payload) == wanted
    again = vmadm(host, "create", stdin=payload)
    assert again.code == 1
    assert again.err.strip() == f"VM with UUID {wanted} already exists"


def test_get_prints_json_on_stdout(host, zone):
    """§1.3 get: the VM object as 2-space-indented JSON on stdout, nothing on stderr."""
    result = vmadm(host, "get", zone)
    assert result.code == 0 and result.err == ""
    assert result.out.startswith('{\n  "')
    assert result.json["uuid"] == zone


def test_get_missing_vm_says_no_such_zone(host):
    """§1.1: `vmadm get <missing>` prints `zoneadm: <uuid>: No such zone configured`, exit 1."""
    missing = str(uuidlib.uuid4())
    result = vmadm(host, "get", missing)
    assert (result.code, result.out) == (1, "")
    assert result.err.strip() == f"zoneadm: {missing}: No such zone configured"


@pytest.mark.parametrize("command", ["start", "stop", "reboot", "delete", "update", "info"])
def test_other_commands_say_vm_not_found(host, command):
    """§1.1: other commands report a missing VM as `VM <uuid> not found`."""
    missing = str(uuidlib.uuid4())
    extra = ["alias=x"] if command == "update" else []
    result = vmadm(host, command, missing, *extra)
    assert result.code == 1
    # vmadm.js prefixes delete's errors with "Failed to delete VM <uuid>: ".
    prefix = f"Failed to delete VM {missing}: " if command == "delete" else ""
    assert result.err.strip() == f"{prefix}VM {missing} not found"


@pytest.mark.parametrize("argv", [["get"], ["get", "nope"], ["start", "x" * 36],
                                  ["delete", "12345678-1234-1234-1234-12345678901"]])
def test_bad_uuid_is_a_usage_error(host, argv):
    """§0: getUUID checks length and dashes; failure prints
    `Invalid or missing UUID for <command>` and the usage text, exit 2."""
    result = vmadm(host, *argv)
    assert result.code == 2
    lines = result.err.splitlines()
    assert lines[0] == f"Invalid or missing UUID for {argv[0]}"
    assert any(line.startswith("Usage:") for line in lines)


def test_unknown_command_and_help(host):
    """§1.1: a bad command prints `Invalid command: "<x>".` and usage (exit 2);
    `vmadm help` prints usage on stdout, exit 0."""
    bad = vmadm(host, "frobnicate")
    assert bad.code == 2
    assert bad.err.splitlines()[0] == 'Invalid command: "frobnicate".'
    helped = vmadm(host, "help")
    assert helped.code == 0 and helped.out.startswith("Usage:") and helped.err == ""


def test_create_refuses_tty_stdin(host):
    """§1.1: a payload from a TTY stdin is a usage error (exit 2) with
    `Will not create from stdin when stdin is a tty.`"""
    result = vmadm(host, "create", tty=True)
    assert result.code == 2
    assert result.err.splitlines()[0] == "Will not create from stdin when stdin is a tty."
    update = vmadm(host, "update", str(uuidlib.uuid4()), tty=True)
    assert update.err.splitlines()[0] == "Will not update from stdin when stdin is a tty."


def test_missing_file_and_bad_json(host, tmp_path):
    """§1.1: `File: <f> does not exist.` and `Invalid JSON payload: <error>`, exit 1."""
    path = tmp_path / "absent.json"
    result = vmadm(host, "create", "-f", str(path))
    assert (result.code, result.err.strip()) == (1, f"File: {path} does not exist.")
    result = vmadm(host, "create", stdin=b"{not json")
    assert result.code == 1 and result.err.startswith("Invalid JSON payload: ")


def test_create_from_file(host, zone_image, tmp_path):
    """§1.3 create: `-f file` reads the payload from a file."""
    path = tmp_path / "payload.json"
    path.write_text(json.dumps({"brand": "joyent", "image_uuid": zone_image}))
    result = vmadm(host, "create", "-f", str(path))
    assert result.code == 0 and result.err.startswith("Successfully created VM")


# -- §1.3 / §2 validation and defaults -----------------------------------------------------
def test_joyent_defaults(host, zone, zone_image):
    """§1.3/§2.5: defaults of an OS VM (memory 256, quota 10, dns_domain local, zeros uuids)."""
    vm = vmadm(host, "get", zone).json
    expected = {"brand": "joyent", "autoboot": True, "max_physical_memory": 256,
                "max_locked_memory": 256, "max_swap": 256, "max_shm_memory": 256,
                "tmpfs": 256, "quota": 10, "cpu_shares": 100, "zfs_io_priority": 100,
                "max_lwps": 2000, "limit_priv": "default", "dns_domain": "local",
                "owner_uuid": "0" * 8 + "-0000-0000-0000-" + "0" * 12,
                "billing_id": "00000000-0000-0000-0000-000000000000", "resolvers": [],
                "zpool": "zones", "zonename": zone, "zonepath": f"/zones/{zone}",
                "zfs_filesystem": f"zones/{zone}", "hvm": False, "state": "running",
                "zone_state": "running", "customer_metadata": {}, "internal_metadata": {},
                "tags": {}, "routes": {}, "snapshots": [], "firewall_enabled": False,
                "image_uuid": zone_image, "v": 1, "max_msg_ids": 4096}
    for key, value in expected.items():
        assert vm[key] == value, key
    assert "ram" not in vm and "vcpus" not in vm
    assert vm["create_timestamp"].endswith("Z")
    assert isinstance(vm["zoneid"], int) and isinstance(vm["pid"], int)


def test_os_ram_sets_memory_caps(host, zone_image):
    """§2.2: for OS VMs max_physical_memory defaults to ram; swap/locked/tmpfs follow."""
    uuid = create(host, {"brand": "joyent", "image_uuid": zone_image, "ram": 1024})
    vm = vmadm(host, "get", uuid).json
    assert [vm[k] for k in ("max_physical_memory", "max_swap", "max_locked_memory",
                            "tmpfs")] == [1024] * 4


def test_kvm_defaults(host, kvm, zvol_image):
    """§2.5: kvm adds ram, vcpus, disks; max_physical_memory = ram+1024, HVM limit_priv,
    no dns_domain/tmpfs; disk path /dev/zvol/rdsk/zones/<uuid>-disk0, image_size from the
    manifest."""
    vm = vmadm(host, "get", kvm).json
    assert (vm["ram"], vm["vcpus"], vm["max_physical_memory"]) == (1024, 1, 2048)
    assert vm["limit_priv"] == ("default,-file_link_any,-net_access,-proc_fork,"
                                "-proc_info,-proc_session")
    assert "dns_domain" not in vm and "tmpfs" not in vm and vm["hvm"] is True
    disk = vm["disks"][0]
    assert disk["path"] == f"/dev/zvol/rdsk/zones/{kvm}-disk0"
    assert disk["zfs_filesystem"] == f"zones/{kvm}-disk0"
    assert (disk["image_uuid"], disk["image_size"], disk["size"]) == (zvol_image, 10240, 10240)
    assert (disk["media"], disk["compression"], disk["block_size"]) == ("disk", "off", 8192)


def test_bhyve_defaults_and_layout(host, bhyve):
    """§2.3/§10.1/§10.4: bhyve ram+1280, disks are children zones/<uuid>/diskN,
    quota reported from refquota (default 1 GiB), free_space from flexible_disk_size."""
    vm = vmadm(host, "get", bhyve).json
    assert vm["max_physical_memory"] == 2048 + 1280
    assert vm["quota"] == 1
    assert [d["zfs_filesystem"] for d in vm["disks"]] == [f"zones/{bhyve}/disk0",
                                                          f"zones/{bhyve}/disk1"]
    assert vm["disks"][1]["size"] == 2048
    assert vm["free_space"] == 20480 - 10240 - 2048
    names = datasets(host)
    assert {f"zones/{bhyve}", f"zones/{bhyve}/disk0", f"zones/{bhyve}/disk1",
            f"zones/cores/{bhyve}"} <= names


def test_seed_style_string_numbers_and_unknown_keys(host, zvol_image):
    """§1.1: unknown properties are dropped and creation succeeds; integer strings convert."""
    uuid = create(host, {"brand": "kvm", "ram": "512", "vcpus": "2", "default-gateway": "x",
                         "disks": [{"image_uuid": zvol_image, "model": "virtio"}]})
    vm = vmadm(host, "get", uuid).json
    assert (vm["ram"], vm["vcpus"]) == (512, 2)
    assert "default-gateway" not in vm


def test_invalid_values_listed(host, zone_image):
    """§1.1: bad values fail with `Invalid value(s) for: a,b` and create nothing."""
    before = datasets(host)
    result = vmadm(host, "create", stdin={"brand": "joyent", "image_uuid": zone_image,
                                          "ram": "lots", "autoboot": "maybe"})
    assert result.code == 1
    assert result.err.strip() == "Invalid value(s) for: ram,autoboot"
    assert vmadm(host, "list", "-H").out == ""
    assert datasets(host) == before


def test_missing_required_and_bad_brand(host, install_image):
    """§1.1: `Missing required properties: image_uuid`; lx also needs kernel_version;
    `Invalid brand while validating payload: "<brand>"`."""
    result = vmadm(host, "create", stdin={"brand": "joyent"})
    assert (result.code, result.err.strip()) == (1, "Missing required properties: image_uuid")
    lx_image = install_image(host, "lx-dataset")["uuid"]
    result = vmadm(host, "create", stdin={"brand": "lx", "image_uuid": lx_image})
    assert (result.code, result.err.strip()) == (
        1, "Missing required properties: kernel_version")
    result = vmadm(host, "create", stdin={"brand": "solaris10"})
    assert result.err.strip() == 'Invalid brand while validating payload: "solaris10"'


def test_image_must_be_installed_and_of_the_right_type(host, zone_image, zvol_image):
    """§1.1: a missing image or one of the wrong type gives `Invalid value(s) for:
    image_uuid` (zones) or `disks.N.image_uuid` (HVM)."""
    missing = vmadm(host, "create", stdin={"brand": "joyent",
                                           "image_uuid": str(uuidlib.uuid4())})
    assert missing.err.strip() == "Invalid value(s) for: image_uuid"
    wrong = vmadm(host, "create", stdin={"brand": "joyent", "image_uuid": zvol_image})
    assert wrong.err.strip() == "Invalid value(s) for: image_uuid"
    lx = vmadm(host, "create", stdin={"brand": "lx", "image_uuid": zone_image,
                                      "kernel_version": "4.3.0"})
    assert lx.err.strip() == "Invalid value(s) for: image_uuid"
    hvm = vmadm(host, "create", stdin={"brand": "bhyve", "disks": [
        {"image_uuid": zone_image, "model": "virtio"}]})
    assert hvm.err.strip() == "Invalid value(s) for: disks.0.image_uuid"


def test_invalid_nic_tag(host, zone_image):
    """§1.1: `Invalid nic tag "<tag>"`, one line per bad tag."""
    result = vmadm(host, "create", stdin={"brand": "joyent", "image_uuid": zone_image,
                                          "nics": [{"nic_tag": "nope"},
                                                   {"nic_tag": "alsonope"}]})
    assert result.code == 1
    assert result.err.splitlines() == ['Invalid nic tag "nope"', 'Invalid nic tag "alsonope"']


def test_nic_normalisation(host, zone_image, install_image):
    """§2.4: interfaces net0.. (lx eth0..), first NIC primary, MACs generated,
    ip/netmask derived from ips and gateway from gateways (and back)."""
    uuid = create(host, {"brand": "joyent", "image_uuid": zone_image, "nics": [
        {"nic_tag": "admin", "ips": ["10.1.2.3/16"], "gateways": ["10.1.0.1"]},
        {"nic_tag": "external", "ip": "192.168.1.5", "netmask": "255.255.255.0",
         "gateway": "192.168.1.1", "mac": "2:8:20:A:b:c"}]})
    nics = vmadm(host, "get", uuid).json["nics"]
    assert [n["interface"] for n in nics] == ["net0", "net1"]
    assert nics[0]["primary"] is True and "primary" not in nics[1]
    assert (nics[0]["ip"], nics[0]["netmask"], nics[0]["gateway"]) == (
        "10.1.2.3", "255.255.0.0", "10.1.0.1")
    assert nics[1]["ips"] == ["192.168.1.5/24"] and nics[1]["gateways"] == ["192.168.1.1"]
    assert nics[1]["mac"] == "02:08:20:0a:0b:0c"
    assert len(nics[0]["mac"].split(":")) == 6
    lx_image = install_image(host, "lx-dataset")["uuid"]
    lx = create(host, {"brand": "lx", "image_uuid": lx_image, "kernel_version": "4.3.0",
                       "nics": [{"nic_tag": "admin", "ip": "dhcp"}]})
    assert vmadm(host, "get", lx).json["nics"][0]["interface"] == "eth0"


def test_mac_conflict(host, zone_image):
    """§1.1: a MAC used by another VM is a conflict."""
    nic = {"nic_tag": "admin", "mac": "02:00:00:00:00:01"}
    create(host, {"brand": "joyent", "image_uuid": zone_image, "nics": [nic]})
    result = vmadm(host, "create", stdin={"brand": "joyent", "image_uuid": zone_image,
                                          "nics": [nic]})
    assert result.code == 1
    assert result.err.strip() == ("Conflict detected with another vm, please check the MAC, "
                                  "IP, and VRID")


def test_validate(host, zone_image):
    """§1.3 validate: VALID message on stderr (exit 0); otherwise a JSON report with
    bad_properties (which create would drop silently), exit 1."""
    ok = vmadm(host, "validate", "create", stdin={"brand": "joyent", "image_uuid": zone_image})
    assert (ok.code, ok.err.strip()) == (0, "VALID 'create' payload for joyent brand VMs.")
    bad = vmadm(host, "validate", "create", stdin={"brand": "joyent", "image_uuid": zone_image,
                                                   "bogus": 1, "vcpus": 2, "quota": "x"})
    assert bad.code == 1
    report = json.loads(bad.err)
    # VM.js exports.validate: all three arrays, empty ones included, in this order
    assert list(report) == ["bad_values", "bad_properties", "missing_properties"]
    assert report == {"bad_properties": ["bogus", "vcpus"], "bad_values": ["quota"],
                      "missing_properties": []}
    upd = vmadm(host, "validate", "update", "kvm", stdin={"ram": 512,
                                                          "customer_metadata": {}})
    assert json.loads(upd.err) == {"bad_values": [], "bad_properties": ["customer_metadata"],
                                   "missing_properties": []}
    brand = vmadm(host, "validate", "update", "zonez", stdin={})
    assert json.loads(brand.err) == {"bad_brand": "zonez"}


# -- §10 datasets ----------------------------------------------------------------------------
def test_os_vm_datasets(host, zone, zone_image):
    """§10.1/§10.4: OS zoneroot is a clone of <image>@final with quota=<Q> GiB; a cores
    dataset exists; metadata, tags and routes live in the zoneroot's config/*.json."""
    with host.locked():
        pool = Pool(host)
        props = pool.get_props(f"zones/{zone}")
        assert props["origin"] == f"zones/{zone_image}@final"
        assert int(props["quota"]) == 10 << 30
        assert pool.exists(f"zones/cores/{zone}")
        assert json.loads(pool.read_file(f"zones/{zone}", "config/tags.json")) == {}


def test_delete_destroys_what_the_vm_owns_and_nothing_else(host, zone, kvm, bhyve,
                                                           zone_image, zvol_image):
    """§1.3 delete: removes zones/<uuid> (recursively), kvm -diskN volumes and
    zones/cores/<uuid>; images and other VMs stay."""
    before = datasets(host)
    for uuid in (kvm, bhyve):
        result = vmadm(host, "delete", uuid)
        assert (result.code, result.err.strip()) == (0, f"Successfully deleted VM {uuid}")
    after = datasets(host)
    gone = before - after
    assert all(kvm in name or bhyve in name for name in gone)
    assert not any(kvm in name or bhyve in name for name in after)
    assert f"zones/{zone}" in after and f"zones/{zvol_image}@final" in after
    assert vmadm(host, "get", kvm).code == 1


def test_indestructible_zoneroot_blocks_delete(host, zone_image):
    """§1.3 delete / §2.2: indestructible_zoneroot blocks delete until cleared."""
    uuid = create(host, {"brand": "joyent", "image_uuid": zone_image,
                         "indestructible_zoneroot": True})
    assert f"zones/{uuid}@indestructible" in datasets(host)
    assert vmadm(host, "delete", uuid).code == 1
    assert vmadm(host, "update", uuid, "indestructible_zoneroot=false").code == 0
    assert vmadm(host, "delete", uuid).code == 0


# -- failures leave nothing behind ------------------------------------------------------------
def test_injected_failure_before_create_leaves_nothing(host, zone_image):
    """§12.2 / faults: a create that fails leaves no dataset and no VM."""
    faults.add_rule(host, "vmadm create", "fail", stderr="boom", times=1)
    before = datasets(host)
    result = vmadm(host, "create", stdin={"brand": "joyent", "image_uuid": zone_image})
    assert (result.code, result.err.strip()) == (1, "boom")
    assert datasets(host) == before
    assert vmstore.all_vms(host) == []


def test_fail_after_keeps_the_vm_like_a_timeout(host, zone_image):
    """§12.2: a create reported as failed may still have made the VM; `vmadm get` on the
    payload uuid finds it and `vmadm delete` cleans it up."""
    faults.add_rule(host, "vmadm create", "fail_after", stderr="timed out", times=1)
    wanted = str(uuidlib.uuid4())
    result = vmadm(host, "create", stdin={"uuid": wanted, "brand": "joyent",
                                          "image_uuid": zone_image})
    assert result.code == 1
    assert vmadm(host, "get", wanted).code == 0
    assert vmadm(host, "delete", wanted).code == 0
    assert not any(wanted in name for name in datasets(host))


def test_zfs_failure_mid_create_is_undone(host, zvol_image, monkeypatch):
    """A failure after some datasets exist (second disk) removes the first ones too."""
    real = Pool.create_volume

    def failing(self, name, *args, **kwargs):
        if name.endswith("disk1"):
            raise ZFSError(f"cannot create '{name}': out of space")
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(Pool, "create_volume", failing)
    before = datasets(host)
    result = vmadm(host, "create", stdin={"brand": "kvm", "disks": [
        {"image_uuid": zvol_image, "model": "virtio"}, {"size": 1024, "model": "virtio"}]})
    assert result.code == 1 and "out of space" in result.err
    assert datasets(host) == before
    assert vmadm(host, "list", "-H").out == ""


def test_bad_payload_leaves_nothing(host, zone_image):
    """§1.1: nic tag errors are checked before anything is created."""
    before = datasets(host)
    vmadm(host, "create", stdin={"brand": "joyent", "image_uuid": zone_image,
                                 "nics": [{"nic_tag": "bogus"}]})
    assert datasets(host) == before and vmstore.all_vms(host) == []


# -- §1.3 list / lookup ------------------------------------------------------------------------
def test_list_default_columns_and_widths(host, zone, kvm):
    """§1.3 list: columns UUID 36, TYPE 4, RAM 7, STATE 16, ALIAS 10 joined by two spaces,
    right-trimmed; sorted by ram then uuid; OS `ram` is max_physical_memory."""
    lines = vmadm(host, "list").out.splitlines()
    assert lines[0] == "UUID".ljust(36) + "  TYPE  RAM      STATE             ALIAS"
    assert lines[1] == f"{zone}  OS    256      running           web"
    assert lines[2] == f"{kvm}  KVM   1024     running           hvm1"


def test_list_parsable_and_options(host, zone, kvm, bhyve):
    """§1.3 list: -p joins with ':' (no header, empty for missing), -H drops the header,
    -o/-s choose and sort, type is BHYV for bhyve."""
    out = vmadm(host, "list", "-p", "-o", "uuid,type,cpu_cap", "-s", "-ram").out
    assert out.splitlines() == [f"{bhyve}:BHYV:", f"{kvm}:KVM:", f"{zone}:OS:"]
    assert not vmadm(host, "list", "-H").out.startswith("UUID")
    flat = vmadm(host, "list", "-p", "-o", "alias,nics.0.ip", "alias=web").out
    assert flat == "web:10.0.0.5\n"


def test_list_filters(host, zone, kvm, bhyve):
    """§1.3 list: key=value exact, key=~regex case-insensitive, ANDed; bad keys refused."""
    def uuids(*filters):
        return vmadm(host, "list", "-H", "-p", "-o", "uuid", *filters).out.split()
    assert uuids("type=BHYV") == [bhyve]
    assert uuids("alias=~^H") == [kvm]
    assert uuids("brand=kvm", "alias=web") == []
    assert uuids("nics.*.nic_tag=admin") == sorted([zone, bhyve], key=lambda u:
                                                    [zone, bhyve].index(u))
    bad = vmadm(host, "list", "nics.0.ips=10.0.0.5/24")
    assert (bad.code, bad.err.strip()) == (1, 'Invalid filter key: "nics.0.ips"')


def test_lookup(host, zone, kvm):
    """§1.3 lookup: uuids per line; -j full objects with fake type/ram; -j -o picks keys;
    -1 demands one match; -o needs -j."""
    assert vmadm(host, "lookup", "brand=kvm").out == f"{kvm}\n"
    full = json.loads(vmadm(host, "lookup", "-j", "alias=web").out)
    assert full[0]["uuid"] == zone and full[0]["type"] == "OS" and full[0]["ram"] == 256
    picked = json.loads(vmadm(host, "lookup", "-j", "-o", "uuid,state", "brand=kvm").out)
    assert picked == [{"uuid": kvm, "state": "running"}]
    many = vmadm(host, "lookup", "-1", "state=running")
    assert (many.code, many.err.strip()) == (1, "Requested unique lookup but found 2 results.")
    none = vmadm(host, "lookup", "-1", "alias=zzz")
    assert none.err.strip() == "Requested unique lookup but found 0 results."
    assert vmadm(host, "lookup", "-1", "alias=web").out == f"{zone}\n"
    assert vmadm(host, "lookup", "-o", "uuid").err.strip() == "Cannot specify -o without -j"
    bad = vmadm(host, "lookup", "foo=bar")
    assert bad.err.strip() == 'Invalid lookup key: "foo"'


def test_vmstore_returns_get_objects(host, zone, kvm):
    """vmstore.all_vms/get_vm return the objects `vmadm get` prints."""
    assert vmstore.get_vm(host, zone) == vmadm(host, "get", zone).json
    assert sorted(vm["uuid"] for vm in vmstore.all_vms(host)) == sorted([zone, kvm])
    assert vmstore.get_vm(host, str(uuidlib.uuid4())) is None


# -- §3 states and §1.3 start/stop/reboot -------------------------------------------------------
def test_stop_start_cycle(host, zone):
    """§1.3/§3: stop sets autoboot=false and leaves exit_status/exit_timestamp; start sets
    autoboot=true and a new zoneid; both are idempotent with exit 0."""
    first = vmadm(host, "get", zone).json
    stop = vmadm(host, "stop", zone)
    assert (stop.code, stop.err.strip()) == (0, f"Successfully completed stop for VM {zone}")
    stopped = vmadm(host, "get", zone).json
    assert (stopped["state"], stopped["zone_state"], stopped["autoboot"]) == (
        "stopped", "installed", False)
    assert "zoneid" not in stopped and stopped["exit_status"] == 0
    again = vmadm(host, "stop", zone)
    assert (again.code, again.err.strip()) == (
        0, f"VM {zone} is already not 'running' (currently: stopped)")
    start = vmadm(host, "start", zone)
    assert start.err.strip() == f"Successfully started VM {zone}"
    running = vmadm(host, "get", zone).json
    assert running["state"] == "running" and running["autoboot"] is True
    assert running["zoneid"] != first["zoneid"] and "exit_status" not in running
    assert vmadm(host, "start", zone).err.strip() == f"VM {zone} is already 'running'"


def test_autoboot_false_leaves_vm_stopped(host, zone_image):
    """§1.3 create: `autoboot: false` creates the VM stopped."""
    uuid = create(host, {"brand": "joyent", "image_uuid": zone_image, "autoboot": False})
    vm = vmadm(host, "get", uuid).json
    assert (vm["state"], vm["autoboot"]) == ("stopped", False)
    # VM.js reboot: a VM that is not running cannot be rebooted (exit 1).
    result = vmadm(host, "reboot", uuid)
    assert (result.code, result.err.strip()) == (
        1, 'Cannot reboot vm from state "stopped", must be "running"')


def test_reboot_gives_a_new_zoneid(host, kvm):
    """§1.3 reboot: message `Successfully completed reboot for VM <uuid>`; a new boot."""
    before = vmadm(host, "get", kvm).json["zoneid"]
    result = vmadm(host, "reboot", kvm, "-F")
    assert result.err.strip() == f"Successfully completed reboot for VM {kvm}"
    assert vmadm(host, "get", kvm).json["zoneid"] != before


def test_provisioning_is_visible_and_blocks_start(host, zone_image):
    """§3: while create blocks, readers see `provisioning`; start is refused from it."""
    set_timings(host, provision_seconds=600)
    gave_up = threading.Event()
    gave_up.set()          # the caller gives up at once: the transition stays in place
    wanted = str(uuidlib.uuid4())
    vmadm(host, "create", stdin={"uuid": wanted, "brand": "joyent",
                                 "image_uuid": zone_image}, cancel=gave_up)
    vm = vmadm(host, "get", wanted).json
    assert (vm["state"], vm["zone_state"]) == ("provisioning", "running")
    refused = vmadm(host, "start", wanted)
    assert refused.code == 1
    assert refused.err.strip() == (f'Unable to start VM {wanted}: Cannot start vm from state '
                                   '"provisioning", must be "stopped".')


def test_hvm_stop_shows_stopping_transition(host, kvm):
    """§3: an HVM stop shows state `stopping` with transition_to `stopped` and a
    transition_expire in epoch ms; `stop -F` halts at once."""
    set_timings(host, stop_seconds=600)
    gave_up = threading.Event()
    gave_up.set()
    vmadm(host, "stop", kvm, cancel=gave_up)
    vm = vmadm(host, "get", kvm).json
    assert (vm["state"], vm["zone_state"], vm["transition_to"]) == (
        "stopping", "running", "stopped")
    assert vm["transition_expire"] > 10 ** 12
    assert vmadm(host, "stop", kvm, "-F").code == 0
    assert vmadm(host, "get", kvm).json["state"] == "stopped"


def test_expired_transition_is_finished_by_readers(host, zone):
    """§3: if the vmadm that started a transition is gone, a later reader finishes it."""
    set_timings(host, stop_seconds=0.05)
    gave_up = threading.Event()
    gave_up.set()
    vmadm(host, "stop", zone, cancel=gave_up)
    for _ in range(400):
        vm = vmadm(host, "get", zone).json
        if vm["state"] == "stopped":
            break
        assert vm["state"] == "shutting_down"
        time.sleep(0.01)
    assert vm["state"] == "stopped" and vm["exit_status"] == 0


def test_concurrent_reader_sees_transition_then_final_state(host, kvm):
    """§3: the lock is released during the wait, so a concurrent get sees `stopping`."""
    set_timings(host, stop_seconds=600)
    cancel = threading.Event()
    worker = threading.Thread(target=vmadm, args=(host, "stop", kvm),
                              kwargs={"cancel": cancel})
    worker.start()
    try:
        for _ in range(1000):
            if vmadm(host, "get", kvm).json["state"] == "stopping":
                break
            time.sleep(0.01)
        assert vmadm(host, "get", kvm).json["state"] == "stopping"
    finally:
        cancel.set()
        worker.join()


def test_stop_timeout_rejected_for_os_vms(host, zone, kvm):
    """§1.1: stop -t on an OS VM: `Timeout option is only supported for bhyve, KVM and
    docker containers.`; accepted for kvm."""
    result = vmadm(host, "stop", zone, "-t", "30")
    assert (result.code, result.err.strip()) == (
        1, "Timeout option is only supported for bhyve, KVM and docker containers.")
    assert vmadm(host, "stop", kvm, "-t", "30").code == 0


def test_start_arguments(host, zone, kvm):
    """§1.3 start: order=/cdrom=/disk= only for HVM; anything else is a usage error."""
    vmadm(host, "stop", kvm)
    ok = vmadm(host, "start", kvm, "order=cd,once=d", "cdrom=/image.iso,ide")
    assert ok.code == 0
    vmadm(host, "stop", zone)
    bad = vmadm(host, "start", zone, "order=cd")
    assert bad.code == 2 and bad.err.splitlines()[0] == "Invalid argument to start: order"
    vmadm(host, "stop", kvm)
    worse = vmadm(host, "start", kvm, "foo=bar")
    assert worse.code == 2 and worse.err.splitlines()[0] == "Invalid argument to start: foo"


# -- §1.3 update ---------------------------------------------------------------------------------
def test_update_key_values_convert_types(host, kvm):
    """§1.3 update: key=value strings are converted per property type; ram on HVM moves
    max_physical_memory; unknown keys are dropped."""
    result = vmadm(host, "update", kvm, "ram=2048", "alias=a=b", "autoboot=false", "nope=1")
    assert (result.code, result.err.strip()) == (0, f"Successfully updated VM {kvm}")
    vm = vmadm(host, "get", kvm).json
    assert (vm["ram"], vm["alias"], vm["autoboot"]) == (2048, "a=b", False)
    assert vm["max_physical_memory"] == 2048 + 1024
    bad = vmadm(host, "update", kvm, "ram=big")
    assert (bad.code, bad.err.strip()) == (1, "Invalid value(s) for: ram")


def test_update_maps(host, zone):
    """§1.3 update: set_/remove_ for metadata, tags and routes; customer_metadata itself
    is dropped; JSON null clears a property."""
    vmadm(host, "update", zone, stdin={"set_customer_metadata": {"a": "1", "b": "2"},
                                       "set_tags": {"role": "db"}, "cpu_cap": 100,
                                       "set_routes": {"10.2.0.0/16": "10.0.0.1"}})
    vmadm(host, "update", zone, stdin={"remove_customer_metadata": ["a"],
                                       "customer_metadata": {"z": "9"}, "cpu_cap": None})
    vm = vmadm(host, "get", zone).json
    assert vm["customer_metadata"] == {"b": "2"}
    assert vm["tags"] == {"role": "db"} and vm["routes"] == {"10.2.0.0/16": "10.0.0.1"}
    assert "cpu_cap" not in vm


def test_update_quota_is_live_in_zfs(host, zone):
    """§1.3 update / §10.4: quota changes ZFS quota on zones/<uuid> at once."""
    vmadm(host, "update", zone, "quota=25")
    with host.locked():
        assert int(Pool(host).get_props(f"zones/{zone}")["quota"]) == 25 << 30
    assert vmadm(host, "get", zone).json["quota"] == 25


def test_update_nics(host, zone):
    """§1.3 update: add_nics, update_nics keyed on mac (primary moves), remove_nics."""
    vmadm(host, "update", zone, stdin={"add_nics": [
        {"nic_tag": "external", "ips": ["192.168.9.9/24"], "mac": "02:aa:bb:cc:dd:ee"}]})
    nics = vmadm(host, "get", zone).json["nics"]
    assert [n["interface"] for n in nics] == ["net0", "net1"]
    first = nics[0]["mac"]
    vmadm(host, "update", zone, stdin={"update_nics": [{"mac": "02:AA:BB:CC:DD:EE",
                                                        "primary": True}]})
    nics = vmadm(host, "get", zone).json["nics"]
    assert "primary" not in nics[0] and nics[1]["primary"] is True
    bad_tag = vmadm(host, "update", zone, stdin={"add_nics": [{"nic_tag": "nope"}]})
    assert bad_tag.err.strip() == 'Invalid nic tag "nope"'
    vmadm(host, "update", zone, stdin={"remove_nics": [first]})
    nics = vmadm(host, "get", zone).json["nics"]
    assert [n["mac"] for n in nics] == ["02:aa:bb:cc:dd:ee"]


def test_update_disks(host, kvm, bhyve):
    """§1.3 update / §2.3: add_/remove_disks; size change only for bhyve; shrinking needs
    dangerous_allow_shrink. VM.js checkPayloadProperties: disks change only while the VM
    is stopped."""
    running = vmadm(host, "update", kvm, stdin={"add_disks": [{"size": 512,
                                                                "model": "virtio"}]})
    assert running.code == 1 and running.err.strip() == (
        'updates to disks are only allowed when state is "stopped", currently: running '
        '(running)')
    for uuid in (kvm, bhyve):
        assert vmadm(host, "stop", uuid, "-F").code == 0
    vmadm(host, "update", kvm, stdin={"add_disks": [{"size": 512, "model": "virtio"}]})
    disks = vmadm(host, "get", kvm).json["disks"]
    assert disks[1]["zfs_filesystem"] == f"zones/{kvm}-disk1" and disks[1]["size"] == 512
    assert f"zones/{kvm}-disk1" in datasets(host)
    vmadm(host, "update", kvm, stdin={"update_disks": [{"path": disks[1]["path"],
                                                        "size": 4096}]})
    assert vmadm(host, "get", kvm).json["disks"][1]["size"] == 512
    vmadm(host, "update", kvm, stdin={"remove_disks": [disks[1]["path"]]})
    assert len(vmadm(host, "get", kvm).json["disks"]) == 1
    assert f"zones/{kvm}-disk1" not in datasets(host)

    path = vmadm(host, "get", bhyve).json["disks"][1]["path"]
    grow = vmadm(host, "update", bhyve, stdin={"update_disks": [{"path": path, "size": 4096}]})
    assert grow.code == 0
    assert vmadm(host, "get", bhyve).json["disks"][1]["size"] == 4096
    shrink = vmadm(host, "update", bhyve, stdin={"update_disks": [{"path": path,
                                                                   "size": 1024}]})
    assert shrink.code == 1
    forced = vmadm(host, "update", bhyve, stdin={"update_disks": [
        {"path": path, "size": 1024, "dangerous_allow_shrink": True}]})
    assert forced.code == 0
    vm = vmadm(host, "get", bhyve).json
    assert vm["disks"][1]["size"] == 1024 and "dangerous_allow_shrink" not in vm["disks"][1]


# -- §1.3 info / sysrq / kill ------------------------------------------------------------------
def test_info(host, zone, kvm, bhyve):
    """§1.3 info/§5: kvm supports all types; bhyve only vnc; OS brands none; needs running."""
    info = json.loads(vmadm(host, "info", kvm).out)
    assert set(info) == {"block", "blockstats", "chardev", "cpus", "kvm", "pci", "spice",
                         "status", "version", "vnc"}
    assert info["vnc"]["display"] == info["vnc"]["port"] - 5900
    assert info["status"]["status"] == "running"
    assert set(json.loads(vmadm(host, "info", bhyve).out)) == {"vnc"}
    bad = vmadm(host, "info", bhyve, "status")
    assert bad.err.strip() == f"Unable to get VM info for VM {bhyve}: unknown info type status"
    zone_info = vmadm(host, "info", zone)
    assert zone_info.code == 1 and "no info types supported for brand joyent" in zone_info.err
    vmadm(host, "stop", kvm)
    stopped = vmadm(host, "info", kvm, "vnc")
    assert stopped.err.strip() == (
        f'Unable to get VM info for VM {kvm}: Unable to get info for vm from state '
        '"stopped", must be "running" or "stopping".')


def test_sysrq(host, zone, kvm, bhyve):
    """§1.3 sysrq: kvm nmi and screenshot, bhyve nmi; anything else a usage error (exit 2)."""
    assert vmadm(host, "sysrq", kvm, "nmi").err.strip() == f"Sent NMI to VM {kvm}"
    shot = vmadm(host, "sysrq", kvm, "screenshot")
    assert shot.err.strip() == f"Sent screenshot sysrq to VM {kvm}"
    with host.locked():
        assert Pool(host).read_file(f"zones/{kvm}", "root/tmp/vm.ppm").startswith(b"P6")
    assert vmadm(host, "sysrq", bhyve, "nmi").code == 0
    bad = vmadm(host, "sysrq", bhyve, "screenshot")
    assert bad.code == 2 and bad.err.splitlines()[0] == "Invalid sysrq type: screenshot"
    assert vmadm(host, "sysrq", zone, "nmi").code == 2


def test_kill(host, zone):
    """§1.3 kill: message `Sent signal "<SIG>" to init process for VM <uuid>`; not running
    gives `Cannot find running init PID for VM`."""
    assert vmadm(host, "kill", "-s", "KILL", zone).err.strip() == (
        f'Sent signal "SIGKILL" to init process for VM {zone}')
    vmadm(host, "stop", zone)
    result = vmadm(host, "kill", zone)
    assert result.code == 1 and "Cannot find running init PID for VM" in result.err


# -- §10.2 snapshots -------------------------------------------------------------------------
def test_snapshots_create_list_rollback_delete(host, zone):
    """§10.2: @vmsnap-<name> snapshots show in `snapshots` (newest first); rollback
    restores data and destroys newer snapshots; delete removes one."""
    with host.locked():
        Pool(host).write_file(f"zones/{zone}", "root/data.txt", b"one")
    result = vmadm(host, "create-snapshot", zone, "s1")
    assert (result.code, result.err.strip()) == (0, f"Created snapshot s1 for VM {zone}")
    with host.locked():
        Pool(host).write_file(f"zones/{zone}", "root/data.txt", b"two")
    assert vmadm(host, "create-snapshot", zone, "s2").code == 0
    dup = vmadm(host, "create-snapshot", zone, "s2")
    assert dup.err.strip() == 'snapshot with name "s2" already exists.'
    snaps = vmadm(host, "get", zone).json["snapshots"]
    assert [s["name"] for s in snaps] == ["s2", "s1"]
    assert set(snaps[0]) == {"name", "size", "created_at"}
    zoneid = vmadm(host, "get", zone).json["zoneid"]
    back = vmadm(host, "rollback-snapshot", zone, "s1")
    assert back.err.strip() == f"Rolled back snapshot s1 for VM {zone}"
    vm = vmadm(host, "get", zone).json
    assert [s["name"] for s in vm["snapshots"]] == ["s1"]
    assert vm["state"] == "running" and vm["zoneid"] != zoneid
    with host.locked():
        assert Pool(host).read_file(f"zones/{zone}", "root/data.txt") == b"one"
    assert vmadm(host, "delete-snapshot", zone, "s1").err.strip() == (
        f"Deleted snapshot s1 for VM {zone}")
    missing = vmadm(host, "delete-snapshot", zone, "s1")
    assert missing.code == 1 and f'No snapshot named "s1" for {zone}' in missing.err


def test_snapshot_rules(host, kvm, bhyve, zone):
    """§10.2: names [A-Za-z0-9-_.:%]{1,64}; kvm refused; bhyve snapshots are recursive."""
    assert vmadm(host, "create-snapshot", zone, "bad/name").err.strip() == (
        "Invalid snapshot name")
    assert vmadm(host, "create-snapshot", zone, "x" * 65).code == 1
    assert vmadm(host, "create-snapshot", kvm, "s").err.strip() == (
        "snapshots for kvm VMs currently unsupported")
    assert vmadm(host, "create-snapshot", bhyve, "s").code == 0
    assert f"zones/{bhyve}/disk0@vmsnap-s" in datasets(host)


# -- §4 send / receive --------------------------------------------------------------------------
def _send(host, uuid):
    out, err = io.BytesIO(), io.BytesIO()
    code = run_tool(host.root, ["vmadm", "send", uuid], stdin=io.BytesIO(), stdout=out,
                    stderr=err)
    return code, out.getvalue(), err.getvalue().decode()


def test_send_bundle_framing(host, zone):
    """§4.1: VMBUNDLE chunks with 512-byte headers; JSON first, then one header per dataset;
    the VM is stopped; `Successfully sent VM <uuid>` on stderr; @sending is cleaned up."""
    code, bundle, err = _send(host, zone)
    assert code == 0 and err.strip() == f"Successfully sent VM {zone}"
    fields = bundle[:512].split(b"\0")
    assert fields[:4] == [b"MAGIC-VMBUNDLE", b"1", b"CHECKSUM", b"JSON"]
    size, padded = int(fields[4]), int(fields[5])
    assert padded % 512 == 0 and padded >= size
    vm = json.loads(bundle[512:512 + size])
    assert vm["uuid"] == zone and bundle[512 + size - 1:512 + size] == b"\n"
    second = bundle[512 + padded:512 + padded + 512].split(b"\0")
    assert second[:6] == [b"MAGIC-VMBUNDLE", b"1", b"CHECKSUM", f"zones/{zone}".encode(),
                          b"0", b"0"]
    assert vmadm(host, "get", zone).json["state"] == "stopped"
    assert not any("@sending" in name for name in datasets(host))
    out, err = io.BytesIO(), io.BytesIO()
    code = run_tool(host.root, ["vmadm", "send", zone], stdin=io.BytesIO(), stdout=out,
                    stderr=err, stdout_is_tty=True)
    assert (code, out.getvalue(), err.getvalue()) == (1, b"", b"Cannot send VM to a TTY.\n")


def test_send_receive_roundtrip(host, sim_host, install_image, kvm, zone_image, zvol_image):
    """§4.2: receive on another host keeps the uuid, metadata travels in the zoneroot,
    the VM boots there if it was sent with autoboot, and the images must be installed."""
    vmadm(host, "update", kvm, stdin={"set_customer_metadata": {"k": "v"},
                                      "set_tags": {"t": "1"}})
    with host.locked():
        Pool(host).write_volume(f"zones/{kvm}-disk0", 0, b"guest bytes")
    code, bundle, _ = _send(host, kvm)
    assert code == 0
    target = sim_host()
    refused = vmadm(target, "receive", stdin=bundle)
    assert refused.code == 1 and refused.err.strip() == "Invalid value(s) for: disks.0.image_uuid"
    assert vmadm(target, "list", "-H").out == ""
    install_image(target, "zvol", uuid=zvol_image, size_mib=10240)
    got = vmadm(target, "receive", stdin=bundle)
    assert (got.code, got.err.strip()) == (0, f"Successfully received VM {kvm}")
    vm = vmadm(target, "get", kvm).json
    # test-send-recv.js: VM.install boots a VM whose sent object has autoboot true;
    # the source is left stopped with autoboot false ("VM is stopped after send").
    assert (vm["state"], vm["autoboot"]) == ("running", True)
    source = vmadm(host, "get", kvm).json
    assert (source["state"], source["autoboot"]) == ("stopped", False)
    assert vm["customer_metadata"] == {"k": "v"} and vm["tags"] == {"t": "1"}
    assert vm["disks"][0]["size"] == 10240
    with target.locked():
        assert Pool(target).read_volume(f"zones/{kvm}-disk0", 0, 11) == b"guest bytes"
    assert not any("@sending" in name for name in datasets(target))
    again = vmadm(target, "receive", stdin=bundle)
    assert again.err.strip() == f"VM with UUID {kvm} already exists"
    assert vmadm(target, "stop", kvm).code == 0 and vmadm(target, "start", kvm).code == 0
