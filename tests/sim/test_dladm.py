"""The emulated dladm and ipadm, and the overlay rules in nictagadm and sysinfo.

Each test's docstring names the section of the network formats research
(net-formats §0-§4) it checks. Running VMs come from fixture objects patched
into ``vmstore``, except where ``vmadm create`` itself is under test.
"""

from __future__ import annotations

import io
import json

import pytest

import openstack_smartos.sim.state.zfs  # noqa: F401  (tables before init_host)

from openstack_smartos.sim import tools
from openstack_smartos.sim.host import init_host
from openstack_smartos.sim.state.network import overlays

UUID_A = "54f1cc77-68f1-42ab-acac-5c4f64f5d6e0"
UUID_B = "0d0c3e4f-1111-4222-8333-944455556666"
OVERLAY = ["-e", "vxlan", "-s", "files", "-p",
           "vxlan/listen_ip=127.0.0.1,files/config=/var/tmp/x.json"]


def run(host, *argv):
    out, err = io.BytesIO(), io.BytesIO()
    code = tools.run_tool(host.root, list(argv), stdin=io.BytesIO(), stdout=out, stderr=err)
    return code, out.getvalue().decode(), err.getvalue().decode()


def ok(host, *argv) -> str:
    code, out, err = run(host, *argv)
    assert code == 0, err
    return out


def fails(host, *argv, code=1) -> str:
    got, out, err = run(host, *argv)
    assert (got, out) == (code, ""), (got, out, err)
    return err


@pytest.fixture
def host(tmp_path):
    host = init_host(tmp_path / "h", nic_tags=("admin", "external"))
    cfg = host.config
    cfg["interfaces"]["e1000g0"]["mac"] = "00:0c:29:0a:bb:01"
    cfg["interfaces"]["e1000g1"]["mac"] = "00:0c:29:0a:bb:02"
    cfg["interfaces"]["e1000g0"]["ip4addr"] = "10.0.0.5"
    host.save_config()
    return host


@pytest.fixture
def vms(fake_vms):
    return fake_vms


def zone(uuid, zoneid, nics, state="running"):
    vm = {"uuid": uuid, "zonename": uuid, "brand": "joyent", "state": state, "nics": nics}
    if zoneid is not None:
        vm["zoneid"] = zoneid
    return vm


def rules(host, **entries):
    path = host.path("root", overlays.RULES_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries))


# -- §0/§1.2 show-phys --------------------------------------------------------------------

def test_show_phys_human_table(host):
    """§1.2: LINK 13, MEDIA 21, STATE 11, SPEED 7, DUPLEX 10, DEVICE; Ethernet, up,
    10000, full, device = link; the last column unpadded."""
    assert ok(host, "dladm", "show-phys").splitlines() == [
        "LINK         MEDIA                STATE      SPEED  DUPLEX    DEVICE",
        "e1000g0      Ethernet             up         10000  full      e1000g0",
        "e1000g1      Ethernet             up         10000  full      e1000g1"]


def test_show_phys_macs_unpadded_and_escaped(host):
    """§0: dladm MACs are not zero-padded; -p escapes ':' only with several fields."""
    assert ok(host, "dladm", "show-phys", "-m", "-p", "-o", "link,address").splitlines() == [
        "e1000g0:0\\:c\\:29\\:a\\:bb\\:1", "e1000g1:0\\:c\\:29\\:a\\:bb\\:2"]
    assert ok(host, "dladm", "show-phys", "-pmo", "address").splitlines() == [
        "0:c:29:a:bb:1", "0:c:29:a:bb:2"]
    out = ok(host, "dladm", "show-phys", "-m", "e1000g1").splitlines()
    assert out[0].split() == ["LINK", "SLOT", "ADDRESS", "INUSE", "CLIENT"]
    assert out[1].split() == ["e1000g1", "primary", "0:c:29:a:bb:2", "yes", "e1000g1"]


def test_show_phys_errors(host):
    """§1.2 and §0: -p needs -o, "-o all" is not parsable, bad and non-phys links,
    unknown fields (a warning, fatal with -p), option errors."""
    assert fails(host, "dladm", "show-phys", "-p") == "dladm: -p requires -o\n"
    assert fails(host, "dladm", "show-phys", "-p", "-o", "all") == (
        'dladm: "-o all" is invalid with -p\n')
    assert fails(host, "dladm", "show-phys", "nope0") == (
        "dladm: link nope0 is not valid: object not found\n")
    ok(host, "dladm", "create-etherstub", "stub0")
    assert fails(host, "dladm", "show-phys", "stub0") == (
        "dladm: failed to show physical link stub0: invalid argument\n")
    assert fails(host, "dladm", "show-phys", "-m", "-P") == "dladm: -m not compatible with -P\n"
    code, out, err = run(host, "dladm", "show-phys", "-o", "link,bogus")
    assert code == 0 and out.splitlines()[1] == "e1000g0"
    assert err == "dladm: warning: ignoring unknown output field: `bogus'\n"
    assert fails(host, "dladm", "show-phys", "-p", "-o", "link,bogus,worse") == (
        "dladm: unknown output fields: `bogus' `worse'\n")
    assert fails(host, "dladm", "show-phys", "-o", "bogus") == "dladm: no valid output fields\n"
    assert fails(host, "dladm", "show-phys", "-x").startswith(
        "dladm: unrecognized option '-x'\nusage:     show-phys")
    assert fails(host, "dladm", "show-phys", "-o").startswith(
        "dladm: option '-o' requires a value\nusage: ")


# -- §1.1/§1.3/§1.4 links and VNICs of running zones ----------------------------------------

@pytest.fixture
def zones(host, vms):
    """A with a nic on a physical tag (VLAN 12) and one on an etherstub; B on an
    overlay; a stopped VM with no VNICs."""
    ok(host, "dladm", "create-etherstub", "stub0")
    rules(host, sdc_overlay="-e vxlan -s files -p vxlan/listen_ip=127.0.0.1")
    ok(host, "dladm", "create-overlay", *OVERLAY, "-v", "4000", "sdc_overlay4000")
    vms.append(zone(UUID_A, 3, [
        {"interface": "net0", "mac": "02:08:20:ab:0c:01", "nic_tag": "external", "vlan_id": 12},
        {"interface": "net1", "mac": "02:08:20:ab:0c:02", "nic_tag": "stub0", "mtu": 9000}]))
    vms.append(zone(UUID_B, 4, [
        {"interface": "net0", "mac": "90:b8:d0:1a:2b:3c", "nic_tag": "sdc_overlay/4000",
         "mtu": 1400}]))
    vms.append(zone("11111111-2222-4333-8444-555555555555", None, [
        {"interface": "net0", "mac": "02:00:00:00:00:09", "nic_tag": "admin"}], "stopped"))
    return vms


def test_show_link_lists_global_links_then_zone_vnics(host, zones):
    """§1.3: phys, etherstub, overlay, then each running zone's VNICs under their zone
    names with OVER the link their nic tag resolves to; empty BRIDGE/OVER as --."""
    assert ok(host, "dladm", "show-link").splitlines() == [
        "LINK        CLASS     MTU    STATE    BRIDGE     OVER",
        "e1000g0     phys      1500   up       --         --",
        "e1000g1     phys      1500   up       --         --",
        "stub0       etherstub 9000   unknown  --         --",
        "sdc_overlay4000 overlay 1400 up       --         --",
        "net0        vnic      1500   up       --         e1000g1",
        "net1        vnic      9000   up       --         stub0",
        "net0        vnic      1400   up       --         sdc_overlay4000"]
    assert ok(host, "dladm", "show-link", "-p", "-o", "link,class,over").splitlines() == [
        "e1000g0:phys:", "e1000g1:phys:", "stub0:etherstub:", "sdc_overlay4000:overlay:",
        "net0:vnic:e1000g1", "net1:vnic:stub0", "net0:vnic:sdc_overlay4000"]


def test_show_link_namespaces(host, zones):
    """§1.1: a zone's links are found by name only with -z; -z lists that zone only."""
    assert fails(host, "dladm", "show-link", "net0") == (
        "dladm: link net0 is not valid: object not found\n")
    assert ok(host, "dladm", "show-link", "-p", "-o", "link,over", "-z", UUID_B,
              "net0") == "net0:sdc_overlay4000\n"
    assert ok(host, "dladm", "show-link", "-p", "-o", "link", "-z", UUID_A).split() == [
        "net0", "net1"]
    assert ok(host, "dladm", "show-link", "-p", "-o", "state", "e1000g0") == "up\n"
    assert fails(host, "dladm", "show-link", "-p") == "dladm: -p requires -o\n"


def test_show_vnic_all_fields_by_default(host, zones):
    """§1.4: every field by default; SPEED of the lower link, unpadded MAC, fixed,
    VID, ZONE the zone's name (the VM uuid)."""
    assert ok(host, "dladm", "show-vnic").splitlines() == [
        "LINK         OVER       SPEED MACADDRESS        MACADDRTYPE VID  ZONE",
        f"net0         e1000g1    10000 2:8:20:ab:c:1     fixed       12   {UUID_A}",
        f"net1         stub0      0     2:8:20:ab:c:2     fixed       0    {UUID_A}",
        f"net0         sdc_overlay4000 0 90:b8:d0:1a:2b:3c fixed      0    {UUID_B}"]


def test_show_vnic_parsable_and_lookups(host, zones):
    """§1.4/§0: -p needs -o (ofmt's message); escaping with several fields, raw with one;
    name lookups in the -z namespace; -l filters by lower link."""
    assert fails(host, "dladm", "show-vnic", "-p") == (
        "dladm: output fields must be specified in parsable mode\n")
    assert fails(host, "dladm", "show-vnic", "-p", "-o", "all") == (
        "dladm: output field `all' invalid in parsable mode\n")
    assert ok(host, "dladm", "show-vnic", "-p", "-o", "LINK,MACADDRESS,ZONE", "-z", UUID_B) == (
        f"net0:90\\:b8\\:d0\\:1a\\:2b\\:3c:{UUID_B}\n")
    assert ok(host, "dladm", "show-vnic", "-z", UUID_A, "-p", "-o", "MACADDRESS",
              "net1") == "2:8:20:ab:c:2\n"
    assert ok(host, "dladm", "show-vnic", "-z", UUID_A, "-o", "link", "-p") == "net0\nnet1\n"
    assert fails(host, "dladm", "show-vnic", "net0") == (
        "dladm: invalid vnic name 'net0': object not found\n")
    assert fails(host, "dladm", "show-vnic", "-z", UUID_A, "net7") == (
        "dladm: invalid vnic name 'net7': object not found\n")
    assert fails(host, "dladm", "show-vnic", "e1000g0") == (
        "dladm: failed to show vnic 'e1000g0': invalid argument\n")
    assert ok(host, "dladm", "show-vnic", "-l", "stub0", "-p", "-o", "link,zone") == (
        f"net1:{UUID_A}\n")
    assert fails(host, "dladm", "show-vnic", "-l", "nope0") == (
        "dladm: invalid link name 'nope0': object not found\n")
    assert ok(host, "dladm", "show-vnic", "-z", "no-such-zone") == ""


# -- §1.5 etherstubs --------------------------------------------------------------------------

def test_etherstub_lifecycle_shared_with_nictagadm(host, vms):
    """§1.5, §2: create/show/delete; nictagadm add -l makes the same etherstub (it runs
    dladm create-etherstub), and dladm's are nictagadm's local tags."""
    ok(host, "dladm", "create-etherstub", "-t", "stub0")
    ok(host, "nictagadm", "add", "-l", "stub1")
    assert ok(host, "dladm", "show-etherstub", "-p") == "stub0\nstub1\n"
    assert ok(host, "dladm", "show-etherstub") == "LINK\nstub0\nstub1\n"
    assert ok(host, "nictagadm", "list", "-p", "-l").splitlines() == [
        "stub0:-:-:etherstub", "stub1:-:-:etherstub"]
    assert fails(host, "dladm", "create-etherstub", "stub1") == (
        "dladm: etherstub creation failed: object already exists\n")
    assert fails(host, "dladm", "create-etherstub", "e1000g0") == (
        "dladm: etherstub creation failed: object already exists\n")
    assert fails(host, "dladm", "create-etherstub", "stub01") == (
        "dladm: invalid link name 'stub01'\n")
    assert fails(host, "dladm", "create-etherstub", "stub") == "dladm: invalid link name 'stub'\n"
    assert fails(host, "dladm", "create-etherstub", "s" * 31 + "0") == (
        f"dladm: link name too long '{'s' * 31}0'\n")
    assert fails(host, "dladm", "create-etherstub").startswith(
        "usage: dladm <subcommand> <args> ...\n")
    vms.append(zone(UUID_A, 3, [{"interface": "net0", "mac": "02:00:00:00:00:01",
                                 "nic_tag": "stub1"}]))
    assert fails(host, "dladm", "delete-etherstub", "stub1") == (
        "dladm: vnic deletion failed: link busy\n")
    ok(host, "dladm", "delete-etherstub", "stub0")
    assert fails(host, "dladm", "delete-etherstub", "stub0") == (
        "dladm: invalid link name 'stub0'\n")
    assert fails(host, "dladm", "delete-etherstub", "e1000g0") == (
        "dladm: 'e1000g0' is not an etherstub\n")
    assert fails(host, "dladm", "delete-etherstub", "-z", UUID_A, "net0") == (
        "dladm: 'net0' is not an etherstub\n")
    assert host.path("host.json").read_text().count('"stub0"') == 0
    assert fails(host, "dladm", "show-etherstub", "-t").startswith(
        "dladm: unrecognized option '-t'\n")
    assert fails(host, "dladm", "show-etherstub", "-l", "x") == (
        "dladm: option not supported for this command\n")


def test_header_repeats_every_23_rows_when_not_a_tty(host):
    """§0: the header comes before data rows 1, 24, 47... (a 24-row window)."""
    cfg = host.config
    cfg["etherstubs"] = {f"stub{i}": {} for i in range(30)}
    host.save_config()
    lines = ok(host, "dladm", "show-etherstub").splitlines()
    assert [i for i, line in enumerate(lines) if line == "LINK"] == [0, 24]
    assert len(lines) == 32


# -- §1.6 overlays ------------------------------------------------------------------------------

def test_create_and_show_overlay(host):
    """§1.6: properties in kernel, encap, varpd, search order; VALUE/DEFAULT/POSSIBLE
    as -- when empty; POSSIBLE wraps at commas; -f; -t with no targets."""
    ok(host, "dladm", "create-overlay", *OVERLAY, "-v", "4000", "sdc_overlay4000")
    assert ok(host, "dladm", "show-overlay").splitlines() == [
        "LINK               PROPERTY           PERM REQ VALUE      DEFAULT   POSSIBLE",
        "sdc_overlay4000    mtu                rw   -   1400       1400      576-8900",
        "sdc_overlay4000    vnetid             rw   -   4000       --        --",
        "sdc_overlay4000    encap              r-   -   vxlan      --        vxlan",
        "sdc_overlay4000    varpd/id           r-   -   1          --        --",
        "sdc_overlay4000    vxlan/listen_ip    rw   y   127.0.0.1  --        --",
        "sdc_overlay4000    vxlan/listen_port  rw   y   4789       4789      1-65535",
        "sdc_overlay4000    search             r-   -   files      --        direct,",
        " " * 68 + "files,svp",
        "sdc_overlay4000    files/config       rw   y   /var/tmp/x.json --   --"]
    assert ok(host, "dladm", "show-overlay", "-p", "-o", "property,value",
              "sdc_overlay4000").splitlines()[-1] == "files/config:/var/tmp/x.json"
    assert ok(host, "dladm", "show-overlay", "-p", "-o", "link,possible").splitlines()[6] == (
        "sdc_overlay4000:direct,files,svp")
    assert ok(host, "dladm", "show-overlay", "-f").splitlines() == [
        "LINK                STATUS  DETAILS", "sdc_overlay4000     ONLINE  -"]
    assert ok(host, "dladm", "show-overlay", "-t") == ""
    assert fails(host, "dladm", "show-overlay", "-p") == (
        "dladm: output fields must be specified in parsable mode\n")


def test_show_overlay_targets(host):
    """§1.6: -t lists the record's targets: unpadded MAC, ip:port (v4-mapped as v4)."""
    ok(host, "dladm", "create-overlay", *OVERLAY, "-v", "4000", "sdc_overlay4000")
    record = overlays.get(host, "sdc_overlay4000")
    record["targets"] = [{"mac": "90:b8:d0:01:02:03", "ip": "::ffff:10.0.0.6", "port": 4789}]
    host.db.execute("UPDATE net_overlays SET body = ? WHERE name = ?",
                    (json.dumps(record), record["name"]))
    assert ok(host, "dladm", "show-overlay", "-t").splitlines() == [
        "LINK                TARGET            DESTINATION",
        "sdc_overlay4000     90:b8:d0:1:2:3    10.0.0.6:4789"]


def test_show_overlay_operands_decide_the_exit_code(host):
    """§1.6: unknown operands and non-overlays warn; exit 0 only if all were found."""
    ok(host, "dladm", "create-overlay", *OVERLAY, "-v", "4000", "sdc_overlay4000")
    code, out, err = run(host, "dladm", "show-overlay", "-p", "-o", "link", "nope0",
                         "sdc_overlay4000", "e1000g0")
    assert code == 1 and set(out.split()) == {"sdc_overlay4000"}
    assert err.splitlines() == ["dladm: warning: failed to find nope0: object not found",
                                "dladm: warning: e1000g0 is not an overlay"]
    assert run(host, "dladm", "show-overlay", "sdc_overlay4000")[0] == 0
    assert fails(host, "dladm", "show-overlay", "-f", "e1000g0") == (
        "dladm: datalink e1000g0 is not an overlay device\n")


def test_create_overlay_refusals(host):
    """§1.6 and §6: argument checks in dladm's order, then the errlists of a missing
    files/config or vxlan/listen_ip, a duplicate name and a vnet used twice."""
    args = ["dladm", "create-overlay"]
    assert fails(host, *args, "x0") == "dladm: missing required virtual network id\n"
    assert fails(host, *args, "-v", "1", "x0") == (
        "dladm: missing required encapsulation plugin\n")
    assert fails(host, *args, "-v", "1", "-e", "vxlan", "x0") == (
        "dladm: missing required search plugin\n")
    assert fails(host, *args, "-v", "1", "-e", "vxlan", "-s", "files") == (
        "dladm: missing device name\n")
    assert fails(host, *args, "-v", "1", "-e", "vxlan", "-s", "files", "x") == (
        "dladm: invalid link name 'x'\n")
    assert fails(host, *args, "-v", "x1", "x0") == (
        "dladm: couldn't parse virtual networkd id: x1\n")
    assert fails(host, *args, "-v", str(2 ** 64), "x0") == (
        f"dladm: virtual networkd id too large: {2 ** 64}\n")
    assert fails(host, *args, "-e", "vxlan", "-s", "files", "-p", "mtu", "-v", "1", "x0") == (
        "dladm: invalid overlay property\n")
    assert fails(host, *args, "-e", "vxlan", "-s", "files", "-p", "vxlan/listen_ip=127.0.0.1",
                 "-v", "4000", "sdc_overlay4000") == (
        "dladm: warning: failed to activate varpd instance: Resource temporarily unavailable\n"
        "dladm: warning: unset required property: files/config\n"
        "dladm: overlay creation failed: try again later\n")
    assert fails(host, *args, "-e", "vxlan", "-s", "files", "-p", "files/config=/var/tmp/x.json",
                 "-v", "4000", "sdc_overlay4000") == (
        "dladm: warning: failed to activate device: Invalid argument\n"
        "dladm: warning: unset required property: vxlan/listen_ip\n"
        "dladm: overlay creation failed: invalid argument\n")
    # -p may be repeated: the values are joined
    ok(host, *args, "-e", "vxlan", "-s", "files", "-p", "vxlan/listen_ip=127.0.0.1",
       "-p", "files/config=/var/tmp/x.json", "-v", "4000", "sdc_overlay4000")
    assert fails(host, *args, *OVERLAY, "-v", "4001", "sdc_overlay4000") == (
        "dladm: overlay creation failed: object already exists\n")
    assert fails(host, *args, *OVERLAY, "-v", "4000", "other4000") == (
        "dladm: overlay creation failed: object already exists\n")
    assert [r["name"] for r in overlays.list_all(host)] == ["sdc_overlay4000"]


def test_delete_overlay(host, vms):
    """§1.6: unknown name, non-overlay, busy while a running zone has a VNIC on it."""
    ok(host, "dladm", "create-overlay", *OVERLAY, "-v", "4000", "sdc_overlay4000")
    assert fails(host, "dladm", "delete-overlay", "nope0") == (
        "dladm: failed to delete nope0: object not found\n")
    assert fails(host, "dladm", "delete-overlay", "e1000g0") == (
        "dladm: failed to delete e1000g0: invalid argument\n")
    vms.append(zone(UUID_B, 4, [{"interface": "net0", "mac": "90:b8:d0:1a:2b:3c",
                                 "nic_tag": "sdc_overlay/4000"}]))
    assert fails(host, "dladm", "delete-overlay", "sdc_overlay4000") == (
        "dladm: failed to delete sdc_overlay4000: link busy\n")
    vms.clear()
    ok(host, "dladm", "delete-overlay", "-t", "sdc_overlay4000")
    assert ok(host, "dladm", "show-overlay") == ""
    assert fails(host, "dladm", "delete-overlay").startswith("usage: dladm")


def test_unknown_subcommand_and_default(host):
    """§0: an unknown subcommand prints the usage list; no arguments is show-link."""
    err = fails(host, "dladm", "frob")
    assert err.startswith("dladm: unknown subcommand 'frob'\nusage: dladm <subcommand>")
    assert ok(host, "dladm").splitlines()[0].split()[0] == "LINK"


# -- §3 ipadm ---------------------------------------------------------------------------------

def test_ipadm_show_addr(host):
    """§3: lo0/v4, each configured interface as <if>/? (prefix from the rack or 24),
    lo0/v6; IPv6 colons escaped with several fields."""
    assert ok(host, "ipadm", "show-addr").splitlines() == [
        "ADDROBJ           TYPE     STATE        ADDR",
        "lo0/v4            static   ok           127.0.0.1/8",
        "e1000g0/?         static   ok           10.0.0.5/24",
        "lo0/v6            static   ok           ::1/128"]
    assert ok(host, "ipadm", "show-addr", "-p", "-o", "ADDROBJ,TYPE,STATE,ADDR").splitlines() == [
        "lo0/v4:static:ok:127.0.0.1/8", "e1000g0/?:static:ok:10.0.0.5/24",
        "lo0/v6:static:ok:\\:\\:1/128"]
    cfg = host.config
    # a rack record whose rack is gone: its link addresses, but no data plane
    cfg["rack"] = {"dir": str(host.root / "no-rack"),
                   "links": {"e1000g0": {"address": "10.0.0.5/16", "tag": "admin"}}}
    host.save_config()
    assert ok(host, "ipadm", "show-addr", "-p", "-o", "addr", "e1000g0/") == "10.0.0.5/16\n"
    assert ok(host, "ipadm", "show-addr", "-p", "-o", "current,persistent",
              "lo0/v6") == "U--t-:---\n"


def test_ipadm_errors(host):
    """§3: -p needs -o; an operand without '/'; an unknown address object."""
    assert fails(host, "ipadm", "show-addr", "-p") == "ipadm: -p requires -o\n"
    assert fails(host, "ipadm", "show-addr", "lo0") == (
        "ipadm: Invalid address object name provided\n")
    assert fails(host, "ipadm", "show-addr", "lo0/v9") == "ipadm: Address object not found\n"
    assert fails(host, "ipadm", "show-addr", "e1000g0/?") == "ipadm: Address object not found\n"
    assert fails(host, "ipadm", "show-addr", "a/", "b/").startswith("ipadm: Usage: ")
    assert fails(host, "ipadm", "show-addr", "-p", "-o", "addr,bogus") == (
        "ipadm: unknown output field: `bogus'\n")


# -- §2/§4 nictagadm overlay rules, vmadm, sysinfo ------------------------------------------

def test_nictagadm_lists_overlay_rules(host):
    """§2: rules from overlay_rules.json are tags of type "overlay rule" (mac and link
    -); invalid rule names are skipped; rule/N exists, the bare rule does not."""
    rules(host, sdc_overlay="-e vxlan -s svp", bad1="-e vxlan")
    assert "sdc_overlay:-:-:overlay rule" in ok(host, "nictagadm", "list", "-p").splitlines()
    rows = [line.split() for line in ok(host, "nictagadm", "list").splitlines()]
    assert ["sdc_overlay", "-", "-", "overlay", "rule"] in rows
    assert "bad1" not in ok(host, "nictagadm", "list")
    ok(host, "nictagadm", "exists", "sdc_overlay/4000", "sdc_overlay/0",
       "sdc_overlay/4294967294")
    assert fails(host, "nictagadm", "exists", "sdc_overlay") == "invalid tag: sdc_overlay\n"
    assert fails(host, "nictagadm", "exists", "-l", "sdc_overlay/4294967295",
                 "other/1") == "sdc_overlay/4294967295\nother/1\n"
    assert ok(host, "nictagadm", "list", "-p", "-L").count("overlay rule") == 1
    assert fails(host, "nictagadm", "delete", "sdc_overlay").endswith("does not exist\n")


def test_vmadm_accepts_overlay_rule_tags(sim_host, install_image):
    """§2: vmadm validates nic tags with nictagadm exists: rule/N for an existing rule."""
    host = sim_host()
    image = install_image(host, "zone-dataset")["uuid"]
    rules(host, sdc_overlay="-e vxlan -s svp")

    def create(tag):
        payload = {"brand": "joyent", "image_uuid": image, "autoboot": False,
                   "nics": [{"nic_tag": tag, "ips": ["10.1.0.5/24"], "mtu": 1400}]}
        err = io.BytesIO()
        code = tools.run_tool(host.root, ["vmadm", "create"],
                              stdin=io.BytesIO(json.dumps(payload).encode()),
                              stdout=io.BytesIO(), stderr=err)
        return code, err.getvalue().decode()

    code, err = create("sdc_overlay/4000")
    assert code == 0, err
    code, err = create("sdc_overlay")
    assert (code, err.strip()) == (1, 'Invalid nic tag "sdc_overlay"')
    code, err = create("nope/4000")
    assert (code, err.strip()) == (1, 'Invalid nic tag "nope/4000"')


def test_sysinfo_network_keys(host):
    """§4: zero-padded MACs, Link Status up, NIC Names; no GZ VNICs; -p Nic_Tags also
    names overlay rules, NIC_<tag> the link of each tag."""
    rules(host, sdc_overlay="-e vxlan -s svp")
    info = json.loads(ok(host, "sysinfo", "-f"))
    assert info["Network Interfaces"]["e1000g0"] == {
        "MAC Address": "00:0c:29:0a:bb:01", "ip4addr": "10.0.0.5", "Link Status": "up",
        "NIC Names": ["admin"]}
    assert info["Network Interfaces"]["e1000g1"]["ip4addr"] == ""
    assert info["Virtual Network Interfaces"] == {}
    lines = ok(host, "sysinfo", "-p").splitlines()
    assert "Nic_Tags='admin,external,sdc_overlay'" in lines
    assert "NIC_external='e1000g1'" in lines
    assert "Network_Interface_e1000g0_MAC_Address='00:0c:29:0a:bb:01'" in lines
    assert "Network_Interface_e1000g0_Link_Status='up'" in lines
