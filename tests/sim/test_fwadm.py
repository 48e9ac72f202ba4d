"""Conformance of the emulated fwadm and its rule language (reference §9).

Each test's docstring names the fact of the reference it checks. VMs come
from fixture objects patched into ``vmstore``.
"""

from __future__ import annotations

import io
import json
import re
import threading

import pytest

# Imported up front so its tables are registered before init_host opens the
# state database (init_host imports it lazily, after connecting).
import openstack_smartos.sim.state.zfs  # noqa: F401

from openstack_smartos.sim import tools
from openstack_smartos.sim.state.firewall import language as fwadm_rules
from openstack_smartos.sim.state import vms as vmstore
from openstack_smartos.sim.host import SimHost, init_host

VM_A = "04128191-d2cb-43fc-a970-e4deefe970d8"
VM_B = "5b1f3c0e-7d2a-4c8e-9f10-2a3b4c5d6e7f"
VM_C = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
OWNER = "930896af-bf8c-48d4-885c-6573a94b1853"
OTHER_OWNER = "11111111-2222-4333-8444-555555555555"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def run(host, *argv, stdin=b""):
    out, err = io.BytesIO(), io.BytesIO()
    code = tools.run_tool(host.root, list(argv), stdin=io.BytesIO(stdin), stdout=out,
                          stderr=err)
    return code, out.getvalue().decode(), err.getvalue().decode()


@pytest.fixture
def host(tmp_path):
    return init_host(tmp_path / "h", cpus=4, memory_mib=8192)


@pytest.fixture
def vms(monkeypatch):
    current = [
        {"uuid": VM_A, "owner_uuid": OWNER, "firewall_enabled": True,
         "tags": {"role": "web", "sg-1": True}, "state": "running",
         "nics": [{"interface": "net0", "ips": ["10.0.0.5/24"]}]},
        {"uuid": VM_B, "owner_uuid": OWNER, "firewall_enabled": False,
         "tags": {"role": "db"}, "state": "running", "nics": []},
        {"uuid": VM_C, "owner_uuid": OTHER_OWNER, "firewall_enabled": True,
         "tags": {"role": "web"}, "state": "stopped", "nics": []},
    ]
    monkeypatch.setattr(vmstore, "all_vms", lambda host: [dict(v) for v in current])
    monkeypatch.setattr(vmstore, "get_vm", lambda host, uuid: next(
        (dict(v) for v in current if v["uuid"] == uuid), None))
    return current


def add(host, *args, stdin=b""):
    code, out, err = run(host, "fwadm", "-j", "add", *args, stdin=stdin)
    assert code == 0, err
    return json.loads(out)["rules"]


# -- the rule language -----------------------------------------------------------------

@pytest.mark.parametrize("text, canonical", [
    ("FROM any TO vm 04128191-d2cb-43fc-a970-e4deefe970d8 ALLOW tcp PORT 22",
     "FROM any TO vm 04128191-d2cb-43fc-a970-e4deefe970d8 ALLOW tcp PORT 22"),
    ("from any to all vms allow TCP port 80",
     "FROM any TO all vms ALLOW tcp PORT 80"),
    ("FROM subnet 10.0.0.0/8 TO all vms ALLOW tcp PORTS 443, 80",
     "FROM subnet 10.0.0.0/8 TO all vms ALLOW tcp PORTS 80, 443"),
    ("FROM any TO all vms ALLOW udp PORTS 8000-8100, 53",
     "FROM any TO all vms ALLOW udp PORTS 53, 8000 - 8100"),
    ("FROM any TO all vms ALLOW tcp (PORT 22 AND PORT 80)",
     "FROM any TO all vms ALLOW tcp PORTS 22, 80"),
    ("FROM any TO all vms BLOCK tcp PORT all",
     "FROM any TO all vms BLOCK tcp PORT all"),
    ("FROM (ip 10.1.1.1 OR ip 10.1.1.2) TO tag role = web ALLOW tcp PORT 443",
     "FROM (ip 10.1.1.1 OR ip 10.1.1.2) TO tag role = web ALLOW tcp PORT 443"),
    ('FROM any TO tag "my tag" = "some value" ALLOW tcp PORT 1',
     'FROM any TO tag "my tag" = "some value" ALLOW tcp PORT 1'),
    ("FROM any TO all vms ALLOW icmp TYPE 8 CODE 0",
     "FROM any TO all vms ALLOW icmp TYPE 8 CODE 0"),
    ("FROM any TO all vms ALLOW icmp6 TYPE all",
     "FROM any TO all vms ALLOW icmp6 TYPE all"),
    ("FROM any TO all vms ALLOW icmp (TYPE 8 AND TYPE 0 CODE 0)",
     "FROM any TO all vms ALLOW icmp (TYPE 8 AND TYPE 0 CODE 0)"),
    ("FROM all vms TO ip fd00::0001 ALLOW esp",
     "FROM all vms TO ip fd00::1 ALLOW esp"),
    ("FROM any TO all vms ALLOW tcp PORT 22 priority 10",
     "FROM any TO all vms ALLOW tcp PORT 22 PRIORITY 10"),
])
def test_rule_canonical_text(text, canonical):
    """§9: canonical text has upper-case keywords, lower-case protocol and targets,
    and PORTS ranges written `a - b`."""
    assert fwadm_rules.parse(text).text == canonical
    assert fwadm_rules.parse(canonical).text == canonical  # idempotent


@pytest.mark.parametrize("text, message", [
    ("FROM any TO any ALLOW tcp PORT 22", "rule does not affect VMs"),
    ("FROM ip 10.0.0.1 TO subnet 10.0.0.0/8 ALLOW tcp PORT 22",
     "rule does not affect VMs"),
    ("FROM any TO all vms ALLOW tcp PORT 0", "between 1 and 65535"),
    ("FROM any TO all vms ALLOW tcp PORT 65536", "between 1 and 65535"),
    ("FROM any TO all vms ALLOW tcp PORTS 10 - 5", "port range"),
    ("FROM any TO all vms ALLOW icmp TYPE 256", "between 0 and 255"),
    ("FROM any TO all vms PERMIT tcp PORT 22", "Error at character 21: 'PERMIT'"),
    ("FROM any TO all vms ALLOW gre", "expected a protocol"),
    ("FROM any TO all vms ALLOW tcp", "Error at end of rule"),
    ("FROM any TO vm not-a-uuid ALLOW tcp PORT 1", "not a valid VM UUID"),
    ("FROM ip 300.1.1.1 TO all vms ALLOW tcp PORT 1", "IP address"),
    ("FROM subnet 10.0.0.1/8 TO all vms ALLOW tcp PORT 1", "must be 10.0.0.0/8"),
    ("FROM any TO all vms ALLOW tcp PORT 22 extra", "Error at character"),
])
def test_rule_errors(text, message):
    """§9: invalid rules are refused with a clear message (limits: ports 1-65535,
    types 0-255; a rule must touch a VM)."""
    with pytest.raises(fwadm_rules.RuleError) as info:
        fwadm_rules.parse(text)
    assert message in str(info.value)


def test_rule_limits_24_targets_and_ports():
    """§9: 24 targets per side and 24 ports (v4)."""
    ips = [f"ip 10.0.0.{i}" for i in range(1, 26)]
    fwadm_rules.parse(f"FROM ({' OR '.join(ips[:24])}) TO all vms ALLOW tcp PORT 1")
    with pytest.raises(fwadm_rules.RuleError, match="too many targets"):
        fwadm_rules.parse(f"FROM ({' OR '.join(ips)}) TO all vms ALLOW tcp PORT 1")
    ports = ", ".join(str(p) for p in range(1, 26))
    with pytest.raises(fwadm_rules.RuleError, match="too many ports"):
        fwadm_rules.parse(f"FROM any TO all vms ALLOW tcp PORTS {ports}")


# -- add / get / list -------------------------------------------------------------------

def test_add_prints_added_rules_disabled_by_default(host):
    """§9: add takes rule text from arguments, prints `Added rules:` then
    `<uuid> <enabled> <rule>`; rules are disabled by default."""
    code, out, err = run(host, "fwadm", "add", "from", "any", "to", "all", "vms",
                         "allow", "tcp", "port", "22")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Added rules:"
    uuid, rest = lines[1].split(" ", 1)
    assert UUID_RE.match(uuid)
    assert rest == "false   FROM any TO all vms ALLOW tcp PORT 22"
    rule = json.loads(run(host, "fwadm", "get", uuid)[1])
    assert rule["enabled"] is False
    assert rule["rule"] == "FROM any TO all vms ALLOW tcp PORT 22"


def test_add_enable_flag_and_json_enabled(host):
    """§9: -e enables; JSON rules with "enabled": true are enabled."""
    rules = add(host, "-e", "FROM any TO all vms ALLOW tcp PORT 80")
    assert rules[0]["enabled"] is True
    payload = {"rules": [{"rule": "FROM any TO all vms ALLOW tcp PORT 81", "enabled": True},
                         {"rule": "FROM any TO all vms ALLOW tcp PORT 82"}]}
    rules = add(host, "-f", "-", stdin=json.dumps(payload).encode())
    assert [r["enabled"] for r in rules] == [True, False]


def test_add_bare_rule_object_from_stdin_and_file(host, tmp_path):
    """§9: a bare rule object (not wrapped in "rules") is accepted from stdin or a file."""
    bare = {"rule": "FROM any TO all vms ALLOW udp PORT 53", "description": "dns",
            "owner_uuid": OWNER}
    (rule,) = add(host, stdin=json.dumps(bare).encode())
    assert rule["description"] == "dns" and rule["owner_uuid"] == OWNER
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"rules": [{"rule": "FROM any TO all vms ALLOW udp PORT 54"}]}))
    (rule,) = add(host, "-f", str(path))
    assert rule["rule"].endswith("PORT 54")


def test_rule_json_fields(host):
    """§9: rule JSON has uuid, rule, enabled, owner_uuid or global (global only when
    true; mutually exclusive), description and a `<ms-epoch>.<pid6>` version."""
    (owned,) = add(host, "-O", OWNER, "--desc", "ssh in",
                   "FROM any TO all vms ALLOW tcp PORT 22")
    got = json.loads(run(host, "fwadm", "get", owned["uuid"])[1])
    assert got["owner_uuid"] == OWNER and "global" not in got
    assert got["description"] == "ssh in"
    assert re.match(r"^\d{13}\.\d{6}$", got["version"])
    (glob,) = add(host, "-g", "FROM any TO all vms ALLOW tcp PORT 23")
    got = json.loads(run(host, "fwadm", "get", glob["uuid"])[1])
    assert got["global"] is True and "owner_uuid" not in got
    code, _, err = run(host, "fwadm", "add", "-g", "-O", OWNER,
                       "FROM any TO all vms ALLOW tcp PORT 24")
    assert code == 1 and "owner_uuid" in err


def test_add_invalid_rule_fails_and_stores_nothing(host):
    """§9: `rule does not affect VMs` is an error (exit 1); a bad rule in a batch
    stores none of the batch."""
    code, out, err = run(host, "fwadm", "add", "FROM any TO any ALLOW tcp PORT 22")
    assert (code, out) == (1, "")
    assert "rule does not affect VMs" in err
    payload = {"rules": [{"rule": "FROM any TO all vms ALLOW tcp PORT 1"},
                         {"rule": "FROM any TO all vms ALLOW tcp PORT 99999"}]}
    code, _, err = run(host, "fwadm", "add", stdin=json.dumps(payload).encode())
    assert code == 1 and "65535" in err
    assert json.loads(run(host, "fwadm", "list", "-j")[1]) == []


def test_json_errors_with_j(host):
    """§9: with -j, errors are JSON `{"errors":[{message}]}` on stderr."""
    code, out, err = run(host, "fwadm", "-j", "add", "FROM any TO any ALLOW tcp PORT 1")
    assert code == 1 and out == ""
    assert json.loads(err) == {"errors": [{"message": "rule does not affect VMs"}]}


def test_list_formats(host):
    """§9: list has default columns UUID ENABLED RULE; -p uses ':' and no header;
    -j prints rule JSON; -o picks fields; -d changes the delimiter."""
    (r1,) = add(host, "-e", "FROM any TO all vms ALLOW tcp PORT 22")
    (r2,) = add(host, "FROM any TO all vms ALLOW tcp PORT 80")
    out = run(host, "fwadm", "list")[1].splitlines()
    assert out[0].split() == ["UUID", "ENABLED", "RULE"]
    assert out[1].split(None, 2) == [r1["uuid"], "true", r1["rule"]]
    assert out[2].split(None, 2) == [r2["uuid"], "false", r2["rule"]]
    out = run(host, "fwadm", "list", "-p")[1].splitlines()
    assert out == [f"{r1['uuid']}:true:{r1['rule']}", f"{r2['uuid']}:false:{r2['rule']}"]
    out = run(host, "fwadm", "list", "-p", "-o", "uuid,enabled", "-d", ",")[1]
    assert out.splitlines() == [f"{r1['uuid']},true", f"{r2['uuid']},false"]
    listed = json.loads(run(host, "fwadm", "list", "-j")[1])
    assert [r["uuid"] for r in listed] == [r1["uuid"], r2["uuid"]]
    assert run(host, "fwadm", "list", "-o", "bogus")[0] == 2


# -- update / enable / disable / delete -------------------------------------------------

def test_update_enable_disable_delete(host):
    """§9: update changes the rule text (new version), enable/disable flip `enabled`,
    delete removes; each prints its `… rules:` header."""
    (rule,) = add(host, "FROM any TO all vms ALLOW tcp PORT 22")
    code, out, err = run(host, "fwadm", "update", rule["uuid"],
                         "FROM any TO all vms ALLOW tcp PORT 2222")
    assert code == 0, err
    assert out.splitlines()[0] == "Updated rules:"
    got = json.loads(run(host, "fwadm", "get", rule["uuid"])[1])
    assert got["rule"].endswith("PORT 2222") and got["version"] >= rule["version"]
    code, out, _ = run(host, "fwadm", "enable", rule["uuid"])
    assert out.splitlines()[0] == "Enabled rules:"
    assert json.loads(run(host, "fwadm", "get", rule["uuid"])[1])["enabled"] is True
    code, out, _ = run(host, "fwadm", "disable", rule["uuid"])
    assert out.splitlines()[0] == "Disabled rules:"
    assert json.loads(run(host, "fwadm", "get", rule["uuid"])[1])["enabled"] is False
    code, out, _ = run(host, "fwadm", "delete", rule["uuid"])
    assert code == 0 and out.splitlines()[0] == "Deleted rules:"
    code, _, err = run(host, "fwadm", "get", rule["uuid"])
    assert code == 1 and rule["uuid"] in err


def test_update_from_json_and_unknown_rule(host):
    """§9: update [-f file] takes rule JSON; an unknown rule UUID is an error (exit 1)."""
    (rule,) = add(host, "FROM any TO all vms ALLOW tcp PORT 22")
    payload = {"uuid": rule["uuid"], "enabled": True, "description": "now on"}
    code, out, err = run(host, "fwadm", "-j", "update", "-f", "-",
                         stdin=json.dumps(payload).encode())
    assert code == 0, err
    (updated,) = json.loads(out)["rules"]
    assert updated["enabled"] is True and updated["description"] == "now on"
    assert updated["rule"] == rule["rule"]
    code, _, err = run(host, "fwadm", "update", VM_A, "FROM any TO all vms ALLOW tcp PORT 1")
    assert code == 1 and "Unknown rule" in err
    assert run(host, "fwadm", "delete", VM_A)[0] == 1


def test_dryrun_stores_nothing(host):
    """§9: --dryrun reports without changing anything."""
    code, out, _ = run(host, "fwadm", "add", "--dryrun", "FROM any TO all vms ALLOW tcp PORT 1")
    assert code == 0 and out.startswith("Added rules:")
    assert json.loads(run(host, "fwadm", "list", "-j")[1]) == []


def test_usage_errors(host):
    """§9: exit codes 0 ok, 1 error, 2 usage."""
    assert run(host, "fwadm")[0] == 2
    assert run(host, "fwadm", "frob")[0] == 2
    assert run(host, "fwadm", "get")[0] == 2
    assert run(host, "fwadm", "get", "not-a-uuid")[0] == 2
    assert run(host, "fwadm", "add", "--bogus-option", "x")[0] == 2


def test_concurrent_adds_are_all_stored(host):
    """§9 (state): rules are stored under the host lock, so parallel adds all land."""
    def worker(port):
        assert run(host, "fwadm", "add", f"FROM any TO all vms ALLOW tcp PORT {port}")[0] == 0
    threads = [threading.Thread(target=worker, args=(p,)) for p in range(100, 110)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rules = json.loads(run(host, "fwadm", "list", "-j")[1])
    assert sorted(int(r["rule"].rsplit(" ", 1)[1]) for r in rules) == list(range(100, 110))


# -- VMs ---------------------------------------------------------------------------------

def test_vms_resolves_targets_with_firewall_enabled(host, vms):
    """§9: rules apply only to VMs with firewall_enabled; `vms` lists the VMs a rule
    affects (vm, tag [= value] and all vms targets)."""
    cases = {
        f"FROM any TO vm {VM_A} ALLOW tcp PORT 22": [VM_A],
        f"FROM any TO vm {VM_B} ALLOW tcp PORT 22": [],          # firewall off
        "FROM any TO tag role = web ALLOW tcp PORT 80": sorted([VM_A, VM_C]),
        "FROM any TO tag role = db ALLOW tcp PORT 80": [],
        'FROM any TO tag "sg-1" ALLOW tcp PORT 80': [VM_A],
        "FROM all vms TO any BLOCK tcp PORT 25": sorted([VM_A, VM_C]),
    }
    for text, expected in cases.items():
        (rule,) = add(host, text)
        code, out, err = run(host, "fwadm", "vms", rule["uuid"])
        assert code == 0, err
        assert sorted(out.split()) == expected, text


def test_owner_limits_affected_vms(host, vms):
    """§9: a rule with owner_uuid applies to that owner's VMs; a global rule to all."""
    (owned,) = add(host, "-O", OWNER, "FROM any TO all vms ALLOW tcp PORT 22")
    assert run(host, "fwadm", "vms", owned["uuid"])[1].split() == [VM_A]
    (glob,) = add(host, "-g", "FROM any TO all vms ALLOW tcp PORT 22")
    assert sorted(run(host, "fwadm", "vms", glob["uuid"])[1].split()) == sorted([VM_A, VM_C])


def test_rules_for_vm_and_status(host, vms):
    """§9: `rules <vm>` lists the rules that name a VM; `status` is running/stopped
    from firewall_enabled."""
    (r1,) = add(host, f"FROM any TO vm {VM_B} ALLOW tcp PORT 22")
    (r2,) = add(host, "FROM any TO tag role = db ALLOW tcp PORT 5432")
    (r3,) = add(host, "FROM any TO tag role = web ALLOW tcp PORT 80")
    listed = json.loads(run(host, "fwadm", "rules", "-j", VM_B)[1])
    assert sorted(r["uuid"] for r in listed) == sorted([r1["uuid"], r2["uuid"]])
    out = run(host, "fwadm", "rules", VM_B)[1].splitlines()
    assert out[0].split() == ["UUID", "ENABLED", "RULE"] and len(out) == 3
    assert run(host, "fwadm", "status", VM_A)[1].strip() == "running"
    assert run(host, "fwadm", "status", VM_B)[1].strip() == "stopped"
    code, _, err = run(host, "fwadm", "status", "00000000-0000-4000-8000-000000000000")
    assert code == 1 and "not found" in err
    assert r3  # unrelated rule is not listed for VM_B


def test_start_stop_with_vmadm(host):
    """§9: start/stop run `vmadm update firewall_enabled=true/false` and print
    `Firewall started for VM <uuid>` / `Firewall stopped for VM <uuid>`."""
    pytest.importorskip("openstack_smartos.sim.state.vms.store")
    host = SimHost(host.root)  # a connection opened after the VM store's tables exist
    try:
        vmstore.all_vms(host)
    except NotImplementedError:
        pytest.skip("the vmadm emulation is not available yet")
    uuid = "7e57c0de-0000-4000-8000-00000000fa01"
    payload = {"uuid": uuid, "brand": "bhyve", "ram": 256, "vcpus": 1,
               "nics": [{"nic_tag": "external", "ips": ["10.9.0.3/24"],
                        "model": "virtio"}]}
    code, _, err = run(host, "vmadm", "create", stdin=json.dumps(payload).encode())
    assert code == 0, err
    assert run(host, "fwadm", "status", uuid)[1].strip() == "stopped"
    code, out, err = run(host, "fwadm", "start", uuid)
    assert code == 0, err
    assert out.strip() == f"Firewall started for VM {uuid}"
    assert vmstore.get_vm(host, uuid)["firewall_enabled"] is True
    assert run(host, "fwadm", "status", uuid)[1].strip() == "running"
    (rule,) = add(host, f"FROM any TO vm {uuid} ALLOW tcp PORT 22")
    assert run(host, "fwadm", "vms", rule["uuid"])[1].split() == [uuid]
    code, out, _ = run(host, "fwadm", "stop", uuid)
    assert out.strip() == f"Firewall stopped for VM {uuid}"
    assert run(host, "fwadm", "vms", rule["uuid"])[1] == ""
