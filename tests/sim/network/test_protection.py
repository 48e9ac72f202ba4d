"""Anti-spoofing as SmartOS enforces it on the VNIC: each forbidden packet is sent and lost.

smartos-contracts.md §2.4 and the zone boot's setup_net: mac-nospoof unless
allow_mac_spoofing, ip-nospoof unless allow_ip_spoofing (allowed: ips and
allowed_ips), dhcp-nospoof unless allow_dhcp_spoofing, restricted unless
allow_restricted_traffic; vmadm update changes them on a running zone
(smartos-live test-spoof-opts.js "antispoof options should update without
reboot").
"""

from __future__ import annotations

import sys

from netprobe import in_ns, nic, ns_of, ok, ping, reaches

SEND_FROM_67 = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 67)); s.settimeout(1)
s.sendto(b"offer", (sys.argv[1], 68))
try:
    sys.exit(0 if s.recv(10) == b"hello\n" else 2)
except OSError:
    sys.exit(1)
"""

# A frame of an ethertype that is neither IPv4, IPv6 nor ARP (0x88b5, local
# experimental), sent from net0 and looked for on the other zone's net0.
RAW_SEND = r"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("net0", 0))
src = bytes.fromhex(open("/sys/class/net/net0/address").read().strip().replace(":", ""))
dst = bytes.fromhex(sys.argv[1].replace(":", ""))
for _ in range(5):
    s.send(dst + src + b"\x88\xb5" + b"smartos-restricted".ljust(46, b"."))
"""
RAW_SEEN = r"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
s.bind(("net0", 0)); s.settimeout(1.5)
print("ready", flush=True)
try:
    sys.exit(0 if b"smartos-restricted" in s.recv(2000) else 2)
except OSError:
    sys.exit(1)
"""


def _pair(rack, **a_nic):
    host = rack.host("h1")
    a = rack.zone(host, nic(ip="10.0.0.1/24", **a_nic))
    b = rack.zone(host, nic(ip="10.0.0.2/24"))
    return host, a, b


def _update_nic(host, uuid, **props):
    mac = ok(host, "vmadm", "get", uuid).json["nics"][0]["mac"]
    ok(host, "vmadm", "update", uuid, stdin={"update_nics": [{"mac": mac, **props}]})


def test_ip_spoofing_is_dropped_until_allowed_ips_or_allow_ip_spoofing(rack):
    host, a, b = _pair(rack)
    ns = ns_of(host, a)
    in_ns(ns, "ip", "address", "add", "10.0.0.9/24", "dev", "net0")
    assert reaches(ns, "10.0.0.2", source="10.0.0.1")
    assert not ping(ns, "10.0.0.2", source="10.0.0.9")
    _update_nic(host, a, allowed_ips=["10.0.0.9"])
    assert reaches(ns, "10.0.0.2", source="10.0.0.9")
    in_ns(ns, "ip", "address", "add", "10.0.0.10/24", "dev", "net0")
    assert not ping(ns, "10.0.0.2", source="10.0.0.10")
    _update_nic(host, a, allow_ip_spoofing=True)
    assert reaches(ns, "10.0.0.2", source="10.0.0.10")
    _update_nic(host, a, allow_ip_spoofing=False)
    assert not ping(ns, "10.0.0.2", source="10.0.0.10")


def test_a_foreign_source_mac_is_dropped_until_allow_mac_spoofing(rack):
    host, a, b = _pair(rack)
    ns = ns_of(host, a)
    in_ns(ns, "ip", "link", "set", "net0", "address", "02:00:de:ad:be:ef")
    assert not ping(ns, "10.0.0.2")
    _update_nic(host, a, allow_mac_spoofing=True)
    assert reaches(ns, "10.0.0.2")


def test_dhcp_server_replies_are_dropped_until_allow_dhcp_spoofing(rack, listen):
    host, a, b = _pair(rack)
    listen(ns_of(host, b), "0.0.0.0", 68, "udp")
    sender = [sys.executable, "-c", SEND_FROM_67, "10.0.0.2"]
    assert in_ns(ns_of(host, a), *sender).returncode == 1
    _update_nic(host, a, allow_dhcp_spoofing=True)
    assert in_ns(ns_of(host, a), *sender).returncode == 0


def test_restricted_traffic_allows_only_ip_and_arp_until_allowed(rack):
    host, a, b = _pair(rack)
    b_mac = ok(host, "vmadm", "get", b).json["nics"][0]["mac"]

    def seen():
        import subprocess
        watcher = subprocess.Popen(["ip", "netns", "exec", ns_of(host, b), sys.executable,
                                    "-c", RAW_SEEN], stdout=subprocess.PIPE, text=True)
        assert watcher.stdout.readline().strip() == "ready"
        in_ns(ns_of(host, a), sys.executable, "-c", RAW_SEND, b_mac)
        return watcher.wait(timeout=5) == 0

    assert not seen()
    _update_nic(host, a, allow_restricted_traffic=True)
    assert seen()


def test_a_nic_removed_from_a_running_zone_keeps_its_protection_until_reboot(rack):
    host, a, b = _pair(rack)
    ok(host, "vmadm", "update", a, stdin={"add_nics": [nic(ip="10.0.0.11/24")]})
    ok(host, "vmadm", "reboot", a)
    ns = ns_of(host, a)
    mac1 = ok(host, "vmadm", "get", a).json["nics"][1]["mac"]
    ok(host, "vmadm", "update", a, stdin={"remove_nics": [mac1]})
    in_ns(ns, "ip", "address", "add", "10.0.0.19/24", "dev", "net1")
    assert not ping(ns, "10.0.0.2", source="10.0.0.19")
