"""vmadm's NIC rules as smartos-live specifies them (src/vm/node_modules/VM.js, nic.js,
proptable.js and the tests in src/vm/tests/). Each test names the rule and its source.

Disk, memory and update rules are in test_vmadm_conformance_update.py.
"""

from __future__ import annotations

import io
import json

import pytest

from openstack_smartos.sim.tools import run_tool
from test_vmadm import create, host, vmadm, zone_image, zvol_image  # noqa: F401 (fixtures)

UPPER_UUID = "1E7D0C2A-5F3B-4C4D-9E8F-0A1B2C3D4E5F"


def zone(zone_image, *nics, **extra):
    return {"brand": "joyent", "image_uuid": zone_image, "autoboot": False, "nics": list(nics),
            **extra}


def kvm(zvol_image, *nics, **extra):
    return {"brand": "kvm", "autoboot": False, "nics": list(nics),
            "disks": [{"image_uuid": zvol_image, "boot": True, "model": "virtio"}], **extra}


def fails(host, *argv, stdin=b""):
    """vmadm's stderr for a command that must exit 1."""
    result = vmadm(host, *argv, stdin=stdin)
    assert result.code == 1, (result.code, result.err)
    return result.err.strip()


def nics_of(host, uuid):
    return vmadm(host, "get", uuid).json["nics"]


def nictagadm(host, *argv):
    out, err = io.BytesIO(), io.BytesIO()
    code = run_tool(host.root, ["nictagadm", *argv], stdin=io.BytesIO(b""), stdout=out,
                    stderr=err)
    assert code == 0, err.getvalue()


ADMIN = {"nic_tag": "admin"}


# -- validation paths -------------------------------------------------------------------------
@pytest.mark.parametrize("nic,prop", [
    ({"mac": "zz:00:00:00:00:01"}, "mac"), ({"vlan_id": 4096}, "vlan_id"),
    ({"mtu": 575}, "mtu"), ({"mtu": 9001}, "mtu"), ({"vrrp_vrid": 256}, "vrrp_vrid"),
    ({"primary": "blah"}, "primary"), ({"network_uuid": "asdf"}, "network_uuid"),
    ({"network_uuid": UPPER_UUID}, "network_uuid")])
def test_nic_value_errors_name_nics_star_prop(host, zone_image, nic, prop):
    """VM.js exports.validate checks each NIC as `nics.*.<prop>` (test-vrrp-nics.js
    'Invalid value(s) for: nics.*.vrrp_vrid'; utils.isUUID is lowercase only,
    test-required-nic-props.js payload_network_uuid_invalid)."""
    assert fails(host, "create", stdin=zone(zone_image, {**ADMIN, **nic})) == (
        f"Invalid value(s) for: nics.*.{prop}")


def test_add_and_update_nics_are_checked_as_nics(host, zone_image):
    """VM.js validate: add_nics/update_nics have check_as 'nics' (proptable.js)."""
    uuid = create(host, zone(zone_image, {**ADMIN, "mac": "02:00:00:00:00:01"}))
    assert fails(host, "update", uuid, stdin={"add_nics": [{**ADMIN, "vlan_id": -1}]}) == (
        "Invalid value(s) for: nics.*.vlan_id")
    assert fails(host, "update", uuid, stdin={"update_nics": [
        {"mac": "02:00:00:00:00:01", "primary": "blah"}]}) == (
        "Invalid value(s) for: nics.*.primary")


def test_validate_reports_nics_star_paths(host, zone_image):
    """VM.js validate; vmadm validate prints the same `nics.*.<prop>` names."""
    result = vmadm(host, "validate", "create", stdin=zone(zone_image, {**ADMIN, "mtu": 1}))
    assert result.code == 1 and '"nics.*.mtu"' in result.err


def test_lowercase_network_uuid_is_stored_as_given(host, zone_image):
    """utils.isUUID; network_uuid is bookkeeping only (no existence check)."""
    net = UPPER_UUID.lower()
    uuid = create(host, zone(zone_image, {**ADMIN, "network_uuid": net}))
    assert nics_of(host, uuid)[0]["network_uuid"] == net


# -- primary flag ---------------------------------------------------------------------------
def test_create_with_more_than_one_primary_fails(host, zone_image):
    """VM.js checkPayloadProperties; test-primary-flag.js 'create VM with 3 nics (all primary)'."""
    nics = [{**ADMIN, "primary": True}, {**ADMIN, "primary": 1}, {**ADMIN, "primary": "1"}]
    assert fails(host, "create", stdin=zone(zone_image, *nics)) == (
        "payload specifies more than 1 primary NIC")


def test_create_without_primary_makes_the_first_nic_primary(host, zone_image):
    """VM.js createZone: add_nics[0].primary = true when no NIC is primary;
    normalizeNics drops a false primary."""
    uuid = create(host, zone(zone_image, {**ADMIN, "primary": False}, ADMIN))
    assert [n.get("primary") for n in nics_of(host, uuid)] == [True, None]


def test_update_nics_primary_false_fails(host, zone_image):
    """VM.js checkPayloadProperties: 'invalid value for NIC's primary flag: false (must be
    true)'; test-primary-flag.js (update_nics primary false must fail)."""
    uuid = create(host, zone(zone_image, {**ADMIN, "mac": "02:00:00:00:00:01"}))
    assert fails(host, "update", uuid, stdin={"update_nics": [
        {"mac": "02:00:00:00:00:01", "primary": False}]}) == (
        "invalid value for NIC's primary flag: false (must be true)")


def test_update_moves_the_primary_flag(host, zone_image):
    """VM.js buildNicZonecfg: the NIC marked primary in update_nics/add_nics becomes the only
    primary; test-primary-flag.js."""
    uuid = create(host, zone(zone_image, {**ADMIN, "mac": "02:00:00:00:00:01"},
                             {**ADMIN, "mac": "02:00:00:00:00:02"}))
    assert vmadm(host, "update", uuid, stdin={"update_nics": [
        {"mac": "02:00:00:00:00:02", "primary": True}]}).code == 0
    assert [n.get("primary") for n in nics_of(host, uuid)] == [None, True]
    assert vmadm(host, "update", uuid, stdin={"add_nics": [
        {**ADMIN, "mac": "02:00:00:00:00:03", "primary": True}]}).code == 0
    assert [n.get("primary") for n in nics_of(host, uuid)] == [None, None, True]


def test_add_nic_to_vm_without_nics_sets_no_primary(host, zone_image):
    """VM.js buildNicZonecfg: with a nics array (even empty) nothing is made primary;
    test-update.js 'add NIC with minimal properties' (only interface, mac, nic_tag, ip, ips)."""
    uuid = create(host, {"brand": "joyent", "image_uuid": zone_image, "autoboot": False})
    assert vmadm(host, "update", uuid, stdin={"add_nics": [
        {**ADMIN, "mac": "02:00:00:00:00:09", "ip": "dhcp"}]}).code == 0
    assert nics_of(host, uuid) == [{"interface": "net0", "mac": "02:00:00:00:00:09",
                                    "nic_tag": "admin", "ip": "dhcp", "ips": ["dhcp"]}]


def test_removing_the_primary_picks_a_public_then_private_successor(host, zone_image):
    """VM.js buildNicZonecfg + utils.isPrivateIP: the lowest remaining NIC with a non-private
    address wins (169.254/16 and dhcp count as public), else one with a private IPv4;
    test-update.js 'remove net1 -- 1st/2nd time'."""
    macs = [f"02:00:00:00:00:0{i}" for i in range(1, 5)]
    uuid = create(host, zone(zone_image, {**ADMIN, "mac": macs[0], "ips": ["10.0.0.1/24"]},
                             {**ADMIN, "mac": macs[1], "ips": ["10.0.1.1/24"]},
                             {**ADMIN, "mac": macs[2], "ips": ["169.254.1.1/16"]},
                             {**ADMIN, "mac": macs[3]}))
    assert vmadm(host, "update", uuid, stdin={"remove_nics": [macs[0]]}).code == 0
    assert [n["mac"] for n in nics_of(host, uuid) if n.get("primary")] == [macs[2]]
    assert vmadm(host, "update", uuid, stdin={"remove_nics": [macs[2]]}).code == 0
    assert [n["mac"] for n in nics_of(host, uuid) if n.get("primary")] == [macs[1]]


def test_removing_the_primary_without_candidates_leaves_no_primary(host, zone_image):
    """VM.js buildNicZonecfg: NICs without ips are never candidates; test-update.js
    'remove empty, primary NIC'."""
    uuid = create(host, zone(zone_image, {**ADMIN, "mac": "02:00:00:00:00:01"},
                             {**ADMIN, "mac": "02:00:00:00:00:02"}))
    assert vmadm(host, "update", uuid, stdin={"remove_nics": ["02:00:00:00:00:01"]}).code == 0
    assert "primary" not in nics_of(host, uuid)[0]


# -- nic_tag ----------------------------------------------------------------------------------
@pytest.mark.parametrize("tag", [None, "", "ad-min"])
def test_missing_or_invalid_nic_tag(host, zone_image, tag):
    """VM.js checkPayloadProperties (regex ^[a-zA-Z0-9_/]+$): 'invalid or missing .nic_tag
    option for NIC: <JSON>' with the normalised NIC; test-required-nic-props.js 'test create
    without nic_tag'."""
    nic = {"ip": "10.99.99.223", "netmask": "255.255.255.0", "gateway": "10.99.99.1",
           "mac": "02:00:00:00:00:01"}
    if tag is not None:
        nic["nic_tag"] = tag
    shown = dict(mac="02:00:00:00:00:01", **({"nic_tag": tag} if tag is not None else {}),
                 ips=["10.99.99.223/24"], gateways=["10.99.99.1"])
    assert fails(host, "create", stdin=zone(zone_image, nic)) == (
        "invalid or missing .nic_tag option for NIC: " + json.dumps(shown, separators=(",", ":")))


def test_update_nics_nic_tag_may_not_hold_a_slash(host, zone_image):
    """VM.js checkPayloadProperties: update_nics nic_tag regex ^[a-zA-Z0-9_]+$."""
    uuid = create(host, zone(zone_image, {**ADMIN, "mac": "02:00:00:00:00:01"}))
    assert fails(host, "update", uuid, stdin={"update_nics": [
        {"mac": "02:00:00:00:00:01", "nic_tag": "sdc_overlay/123"}]}) == (
        'invalid .nic_tag option for NIC: {"mac":"02:00:00:00:00:01",'
        '"nic_tag":"sdc_overlay/123"}')


def test_unknown_tag_on_create_and_update(host, zone_image):
    """VM.js lookupInvalidNicTags; test-invalid-nic-tags.js 'create/update with invalid nic
    tag' (ERR_STR 'Invalid nic tag "%s"'); a bare prefix before '/' is no tag."""
    assert fails(host, "create", stdin=zone(zone_image, {"nic_tag": "admin/5"})) == (
        'Invalid nic tag "admin/5"')
    uuid = create(host, zone(zone_image, ADMIN))
    assert fails(host, "update", uuid, stdin={"add_nics": [{"nic_tag": "nope"}]}) == (
        'Invalid nic tag "nope"')


def test_conflict_is_checked_before_nic_tags(host, zone_image):
    """VM.js create: lookupConflicts runs before validateNicTags."""
    create(host, zone(zone_image, {**ADMIN, "mac": "02:00:00:00:00:01"}))
    assert fails(host, "create", stdin=zone(zone_image, {"nic_tag": "nope",
                                                     "mac": "02:00:00:00:00:01"})).startswith(
        "Conflict detected with another vm")


def test_start_and_reboot_refuse_a_vm_whose_tag_is_gone(host, zone_image):
    """VM.js VM.start _validateNicTags and VM.reboot; test-invalid-nic-tags.js 'booting with
    invalid etherstub', 'reboot / start with invalid nic tag'. The VM stays as it was."""
    nictagadm(host, "add", "-l", "stub0")
    uuid = create(host, zone(zone_image, {"nic_tag": "stub0"}))
    assert vmadm(host, "start", uuid).code == 0
    nictagadm(host, "delete", "-f", "stub0")
    assert fails(host, "reboot", uuid) == 'Cannot reboot vm: Invalid nic tag "stub0"'
    assert vmadm(host, "get", uuid).json["state"] == "running"
    assert vmadm(host, "stop", uuid).code == 0
    assert fails(host, "start", uuid) == f'Unable to start VM {uuid}: Invalid nic tag "stub0"'
    assert vmadm(host, "get", uuid).json["state"] == "stopped"


# -- MTU ------------------------------------------------------------------------------------
def test_mtu_below_1500_on_a_physical_tag_fails(host, zone_image):
    """VM.js lookupInvalidNicTagMTUs: 'nic <idx> (<mac>): MTU is below the supported MTU
    (1500) of nic tag "<tag>"' for tags of type normal; the lowest MTU per tag is named."""
    nics = [{**ADMIN, "mac": "02:00:00:00:00:01", "mtu": 1400},
            {**ADMIN, "mac": "02:00:00:00:00:02", "mtu": 1300}]
    assert fails(host, "create", stdin=zone(zone_image, *nics)) == (
        'nic 1 (02:00:00:00:00:02): MTU is below the supported MTU (1500) of nic tag "admin"')


def test_mtu_below_1500_on_an_etherstub_is_fine(host, zone_image):
    """VM.js lookupInvalidNicTagMTUs: only type 'normal' tags have the 1500 floor."""
    nictagadm(host, "add", "-l", "stub0")
    uuid = create(host, zone(zone_image, {"nic_tag": "stub0", "mtu": 576}))
    assert nics_of(host, uuid)[0]["mtu"] == 576


# -- addresses ------------------------------------------------------------------------------
def test_ip_without_netmask(host, zone_image):
    """nic.js upgradeNic: 'Missing .netmask option for NIC: <JSON>'; test-required-nic-props.js
    'create without netmask'."""
    assert fails(host, "create", stdin=zone(zone_image, {**ADMIN, "ip": "10.0.0.5",
                                                     "mac": "02:00:00:00:00:01"})) == (
        'Missing .netmask option for NIC: {"nic_tag":"admin","ip":"10.0.0.5",'
        '"mac":"02:00:00:00:00:01"}')


@pytest.mark.parametrize("netmask", ["", "255.0.255.0", "nope"])
def test_bad_netmask(host, zone_image, netmask):
    """nic.js upgradeNic + ip.js isIPv4Netmask: 'Specified netmask value is invalid: <mask>'."""
    assert fails(host, "create", stdin=zone(zone_image, {**ADMIN, "ip": "10.0.0.5",
                                                     "netmask": netmask})) == (
        f"Specified netmask value is invalid: {netmask}".strip())


@pytest.mark.parametrize("ips", [["10.0.0.5/7"], ["10.0.0.5"], ["nope/24"],
                                 ["10.99.99.12,10.99.99.33/24"]])
def test_invalid_ip(host, zone_image, ips):
    """VM.js checkPayloadProperties + ip.js isCIDRInput (IPv4 prefix 8-32): 'Invalid IP for
    NIC: <JSON>'; test-update.js 'add net1 -- bad IP'."""
    assert fails(host, "create", stdin=zone(zone_image, {**ADMIN, "ips": ips})).startswith(
        "Invalid IP for NIC: {")


def test_gateways_must_be_ipv4(host, zone_image):
    """VM.js checkPayloadProperties: 'Static gateways must be IPv4 addresses: <gw>'."""
    assert fails(host, "create", stdin=zone(zone_image, {**ADMIN, "ips": ["10.0.0.5/24"],
                                                     "gateways": ["fd00::1"]})) == (
        "Static gateways must be IPv4 addresses: fd00::1")


def test_empty_ips_make_an_empty_nic(host, zone_image):
    """buildNicZonecfg: `ips: []` is legal and shows neither ips nor ip/netmask;
    test-update.js 'add empty NICs', 'remove IPs to make empty NIC'."""
    uuid = create(host, zone(zone_image, {**ADMIN, "ips": []},
                             {**ADMIN, "mac": "02:00:00:00:00:02", "ips": ["10.0.0.5/24"]}))
    first, second = nics_of(host, uuid)
    assert not {"ips", "ip", "netmask"} & set(first)
    assert vmadm(host, "update", uuid, stdin={"update_nics": [
        {"mac": "02:00:00:00:00:02", "ips": []}]}).code == 0
    assert not {"ips", "ip", "netmask"} & set(nics_of(host, uuid)[1])


def test_update_nics_address_rules(host, zone_image):
    """nic.js updateNic: the mac key, a known NIC, a netmask taken from the single IPv4;
    VM.js: update_nics model '' is invalid; test-required-nic-props.js 'update to empty
    netmask', 'update to empty model'."""
    mac = "02:00:00:00:00:01"
    uuid = create(host, zone(zone_image, {**ADMIN, "mac": mac, "ips": ["10.0.0.5/24"]},
                             {**ADMIN, "mac": "02:00:00:00:00:02", "ips": ["dhcp"]}))
    assert fails(host, "update", uuid, stdin={"update_nics": [{"ip": "10.0.0.6"}]}) == (
        "NIC object needs a .mac property to update")
    assert fails(host, "update", uuid, stdin={"update_nics": [
        {"mac": "02:00:00:00:00:99", "ip": "10.0.0.6"}]}) == (
        "There is no existing NIC with that mac address")
    assert fails(host, "update", uuid, stdin={"update_nics": [
        {"mac": "02:00:00:00:00:02", "netmask": "255.255.255.0"}]}) == (
        "Need a single existing IPv4 address to update .ip or .netmask")
    assert fails(host, "update", uuid, stdin={"update_nics": [{"mac": mac, "netmask": ""}]}) == (
        "Specified netmask value is invalid:")
    assert vmadm(host, "update", uuid, stdin={"update_nics": [
        {"mac": mac, "ip": "10.0.0.6"}]}).code == 0
    nic = nics_of(host, uuid)[0]
    assert (nic["ips"], nic["ip"], nic["netmask"]) == (["10.0.0.6/24"], "10.0.0.6",
                                                         "255.255.255.0")
    assert vmadm(host, "update", uuid, stdin={"update_nics": [
        {"mac": mac, "netmask": "255.255.0.0"}]}).code == 0
    assert nics_of(host, uuid)[0]["ips"] == ["10.0.0.6/16"]


def test_same_vm_duplicates(host, zone_image):
    """VM.js checkPayloadProperties: 'Cannot add multiple NICs with the same MAC/IP/VRID'
    (test-vrrp-nics.js 'Cannot add multiple NICs with the same VRID: 27')."""
    mac = "02:00:00:00:00:01"
    assert fails(host, "create", stdin=zone(zone_image, {**ADMIN, "mac": mac},
                                            {**ADMIN, "mac": mac})) == (
        f"Cannot add multiple NICs with the same MAC: {mac}")
    assert fails(host, "create", stdin=zone(zone_image, {**ADMIN, "ips": ["10.0.0.5/24"]},
                                            {**ADMIN, "ips": ["10.0.0.5/24"]})) == (
        "Cannot add multiple NICs with the same IP: 10.0.0.5/24")
    uuid = create(host, zone(zone_image, {**ADMIN, "mac": mac, "ips": ["10.0.0.5/24"]}))
    assert fails(host, "update", uuid, stdin={"add_nics": [{**ADMIN, "mac": mac}]}) == (
        f"Cannot add multiple NICs with the same MAC: {mac}")
    vrrp = {**ADMIN, "vrrp_vrid": 27, "vrrp_primary_ip": "10.0.0.5", "ips": ["10.0.0.6/24"]}
    assert vmadm(host, "update", uuid, stdin={"add_nics": [vrrp]}).code == 0
    assert fails(host, "update", uuid, stdin={"add_nics": [
        {**vrrp, "ips": ["10.0.0.7/24"]}]}) == "Cannot add multiple NICs with the same VRID: 27"


def test_vrrp_rules(host, zone_image):
    """VM.js checkPayloadProperties VRRP texts; test-vrrp-nics.js."""
    assert fails(host, "create", stdin=zone(zone_image, ADMIN, {**ADMIN, "vrrp_vrid": 1})) == (
        "vrrp_vrid set but not vrrp_primary_ip")
    assert fails(host, "create", stdin=zone(zone_image, {**ADMIN, "vrrp_vrid": 1,
                                                     "vrrp_primary_ip": "10.0.0.5"})) == (
        "VM cannot contain only VRRP nics")
    assert fails(host, "create", stdin=zone(zone_image, ADMIN, {
        **ADMIN, "vrrp_vrid": 1, "vrrp_primary_ip": "10.0.0.5"})) == (
        "vrrp_primary_ip must belong to the same VM")
    assert fails(host, "create", stdin=zone(zone_image, ADMIN, {
        **ADMIN, "vrrp_vrid": 1, "mac": "02:00:00:00:00:01"})) == (
        "Cannot set both mac and vrrp_vrid")


def test_vrrp_mac(host, zone_image):
    """VM.js vrrpMAC: 00:00:5e:00:01:<vrid>."""
    uuid = create(host, zone(zone_image, {**ADMIN, "ips": ["10.0.0.5/24"]}, {
        **ADMIN, "vrrp_vrid": 16, "vrrp_primary_ip": "10.0.0.5", "ips": ["10.0.0.6/24"]}))
    assert nics_of(host, uuid)[1]["mac"] == "00:00:5e:00:01:10"


def test_generated_macs(host, zone_image):
    """utils.generateMAC: first octet <1-f>2, the others 01-ff."""
    uuid = create(host, zone(zone_image, *[ADMIN] * 8))
    for nic in nics_of(host, uuid):
        octets = nic["mac"].split(":")
        assert octets[0][1] == "2" and octets[0][0] != "0"
        assert "00" not in octets[1:]


# -- limits -----------------------------------------------------------------------------------
def _v4(count, base=10):
    return [f"10.{base}.{i // 250}.{i % 250 + 1}/16" for i in range(count)]


def test_address_limits(host, zone_image):
    """VM.js checkPayloadProperties l.5543, validateIPlist, l.5672-5687, l.5764: ips (20),
    allowed_ips (13, prefixes 1-32), allowed_dhcp_cids (20, < 1024 chars), 32 per NIC."""
    def error(**nic):
        return fails(host, "create", stdin=zone(zone_image, {**ADMIN, **nic}))
    assert error(ips=_v4(21)) == "nic.*.ips contains 21 addresses, but is limited to 20"
    assert error(allowed_ips=["10.0.0.0/0", "nope", "10.0.0.1"]) == (
        "invalid allowed_ips: 10.0.0.0/0, nope")
    assert error(allowed_ips=[f"10.0.0.{i}" for i in range(14)]) == (
        "Maximum of 13 allowed_ips per nic")
    assert error(allowed_dhcp_cids=["0x0102"] * 21) == (
        "nics.*.allowed_dhcp_cids contains 21 Client Identifiers, but is limited to 20")
    assert error(allowed_dhcp_cids=["0x" + "ab" * 255] * 4) == (
        "nics.*.allowed_dhcp_cids contains too many long Client Identifiers")
    for cid in ("0x123", "0xgg", "0x" + "ab" * 256):
        assert error(allowed_dhcp_cids=[cid]) == "Invalid value(s) for: nics.*.allowed_dhcp_cids"
    assert error(ips=_v4(20), allowed_ips=[f"10.1.0.{i}" for i in range(13)]) == (
        "More than 32 IPs cannot be associated with a NIC")
    uuid = create(host, zone(zone_image, {**ADMIN, "ips": _v4(20),
                                     "allowed_ips": [f"10.1.0.{i}" for i in range(12)]}))
    assert len(nics_of(host, uuid)[0]["ips"]) == 20


def test_kvm_nic_takes_several_ipv4_addresses(host, zvol_image):
    """No one-IPv4 limit for kvm in VM.js: ip is the first IPv4 entry (getRepresentativeIP)."""
    uuid = create(host, kvm(zvol_image, {**ADMIN, "model": "virtio",
                                   "ips": ["10.0.0.5/24", "10.0.0.6/24"]}))
    nic = nics_of(host, uuid)[0]
    assert (nic["ip"], nic["ips"]) == ("10.0.0.5", ["10.0.0.5/24", "10.0.0.6/24"])


# -- flags and models -------------------------------------------------------------------------
def test_false_anti_spoof_flags_are_kept(host, zone_image):
    """VM.js buildNicZonecfg writes every given flag; test-spoof-opts.js 'update net1 to
    disable dhcp spoofing' expects allow_dhcp_spoofing present and false."""
    mac = "02:00:00:00:00:01"
    uuid = create(host, zone(zone_image, {**ADMIN, "mac": mac, "allow_ip_spoofing": False}))
    assert nics_of(host, uuid)[0]["allow_ip_spoofing"] is False
    assert vmadm(host, "update", uuid, stdin={"update_nics": [
        {"mac": mac, "allow_dhcp_spoofing": True}]}).code == 0
    assert vmadm(host, "update", uuid, stdin={"update_nics": [
        {"mac": mac, "allow_dhcp_spoofing": False}]}).code == 0
    assert nics_of(host, uuid)[0]["allow_dhcp_spoofing"] is False
    assert "allow_mac_spoofing" not in nics_of(host, uuid)[0]


def test_hvm_nic_model(host, zvol_image):
    """VM.js applyZoneDefaults (nic_driver) and checkPayloadProperties l.5594: 'missing .model
    option for NIC', add_nics falls back to nic_driver then nics[0].model; any string is
    a model; test-required-nic-props.js 'create KVM without model', 'create good KVM then
    add nic with no model'."""
    assert fails(host, "create", stdin=kvm(zvol_image, {**ADMIN, "mac": "02:00:00:00:00:01"})) == (
        'missing .model option for NIC: {"nic_tag":"admin","mac":"02:00:00:00:00:01",'
        '"ips":[]}')
    uuid = create(host, kvm(zvol_image, {**ADMIN, "model": "e1000"}))
    assert vmadm(host, "update", uuid, stdin={"add_nics": [ADMIN]}).code == 0
    assert [n["model"] for n in nics_of(host, uuid)] == ["e1000", "e1000"]
    other = create(host, kvm(zvol_image, ADMIN, nic_driver="rtl8139"))
    assert nics_of(host, other)[0]["model"] == "rtl8139"
    odd = create(host, kvm(zvol_image, {**ADMIN, "model": "ne2k_pci"}))
    assert nics_of(host, odd)[0]["model"] == "ne2k_pci"
    assert fails(host, "update", uuid, stdin={"update_nics": [
        {"mac": nics_of(host, uuid)[0]["mac"], "model": ""}]}).startswith(
        "invalid .model option for NIC: ")


def test_vlan_id_absent_unless_given(host, zone_image):
    """proptable nics.*.vlan_id: no vlan_id in get unless given; an explicit 0 is kept."""
    uuid = create(host, zone(zone_image, ADMIN, {**ADMIN, "vlan_id": 0}))
    first, second = nics_of(host, uuid)
    assert "vlan_id" not in first and second["vlan_id"] == 0
