"""Client for ``fwadm`` (reference §9). Every call uses ``-j`` (JSON results).

    fw = Fwadm(transport)
    fw.add(["FROM any TO vm <uuid> ALLOW tcp PORT 22"], enable=True,
           owner_uuid=...)            -> [rule dicts]
    fw.add([{"rule": "...", "enabled": True, "description": "..."}])
    fw.update(uuid, rule="...", enabled=False, description=...) -> rule dict
    fw.enable(uuid, ...) / fw.disable(uuid, ...) -> [rule dicts]
    fw.delete(uuid, ...) -> [rule dicts]
    fw.get(uuid) -> rule dict          (errors.NotFound when it does not exist)
    fw.list() -> [rule dicts];  fw.rules_for_vm(vm_uuid) -> [rule dicts]
    fw.vms(rule_uuid) -> [vm uuids];  fw.status(vm_uuid) -> bool

Rules are sent as JSON on stdin (``-f -``), never as shell text.
"""

from __future__ import annotations

import json

from openstack_smartos.host import errors


def _json(result, what):
    try:
        return json.loads(result.stdout) if result.stdout.strip() else None
    except ValueError as exc:
        raise errors.SmartOSError(f"fwadm {what} printed invalid JSON: {exc}") from exc


class Fwadm:
    def __init__(self, transport, timeout: float | None = 120):
        self.transport = transport
        self.timeout = timeout

    def _run(self, argv, stdin=None):
        try:
            return self.transport.run(argv, stdin=stdin, timeout=self.timeout)
        except errors.CommandError as exc:
            raise _unwrap(exc) from None

    def _rules_result(self, argv, stdin=None) -> list[dict]:
        doc = _json(self._run(argv, stdin), argv[2] if len(argv) > 2 else "")
        if isinstance(doc, dict):
            return list(doc.get("rules") or [])
        return list(doc or [])

    def add(self, rules, enable: bool = False, owner_uuid: str | None = None,
            global_: bool = False, description: str | None = None,
            dryrun: bool = False) -> list[dict]:
        """Add rules (texts or rule dicts); returns them as stored (with uuids).

        ``enable`` applies to rules that do not say ``enabled`` themselves;
        ``owner_uuid``/``global_``/``description`` to those without their own.
        """
        if isinstance(rules, (str, dict)):
            rules = [rules]
        payload = []
        for rule in rules:
            entry = {"rule": rule} if isinstance(rule, str) else dict(rule)
            entry.setdefault("enabled", bool(enable))
            if owner_uuid and "owner_uuid" not in entry and not entry.get("global"):
                entry["owner_uuid"] = owner_uuid
            if global_ and "owner_uuid" not in entry:
                entry.setdefault("global", True)
            if description is not None:
                entry.setdefault("description", description)
            payload.append(entry)
        if not payload:
            return []
        argv = ["fwadm", "-j", "add", "-f", "-"] + (["--dryrun"] if dryrun else [])
        return self._rules_result(argv, json.dumps({"rules": payload}).encode())

    def update(self, uuid: str, rule: str | None = None, enabled: bool | None = None,
               description: str | None = None, owner_uuid: str | None = None,
               global_: bool | None = None) -> dict:
        entry = {"uuid": uuid}
        for key, value in (("rule", rule), ("enabled", enabled),
                           ("description", description), ("owner_uuid", owner_uuid),
                           ("global", global_)):
            if value is not None:
                entry[key] = value
        rules = self._rules_result(["fwadm", "-j", "update", "-f", "-"],
                                   json.dumps({"rules": [entry]}).encode())
        return rules[0] if rules else self.get(uuid)

    def enable(self, *uuids: str) -> list[dict]:
        return self._rules_result(["fwadm", "-j", "enable", *_flatten(uuids)])

    def disable(self, *uuids: str) -> list[dict]:
        return self._rules_result(["fwadm", "-j", "disable", *_flatten(uuids)])

    def delete(self, *uuids: str) -> list[dict]:
        return self._rules_result(["fwadm", "-j", "delete", *_flatten(uuids)])

    def get(self, uuid: str) -> dict:
        return _json(self._run(["fwadm", "get", uuid]), "get")

    def list(self) -> list[dict]:
        return list(_json(self._run(["fwadm", "list", "-j"]), "list") or [])

    def rules_for_vm(self, vm_uuid: str) -> list[dict]:
        return list(_json(self._run(["fwadm", "rules", "-j", vm_uuid]), "rules") or [])

    def vms(self, rule_uuid: str) -> list[str]:
        return list(_json(self._run(["fwadm", "vms", "-j", rule_uuid]), "vms") or [])

    def status(self, vm_uuid: str) -> bool:
        """Whether the VM's firewall is running (firewall_enabled)."""
        doc = _json(self._run(["fwadm", "status", "-j", vm_uuid]), "status")
        return bool(doc.get("running"))

    def start(self, vm_uuid: str):
        self._run(["fwadm", "start", vm_uuid])

    def stop(self, vm_uuid: str):
        self._run(["fwadm", "stop", vm_uuid])


def _flatten(uuids):
    out = []
    for item in uuids:
        if isinstance(item, (list, tuple, set)):
            out.extend(item)
        else:
            out.append(item)
    if not out:
        raise ValueError("at least one rule UUID is needed")
    return out


def _unwrap(exc: errors.CommandError) -> errors.CommandError:
    """With -j, fwadm's stderr is {"errors":[{message}]}: reclassify on the text."""
    try:
        doc = json.loads(exc.stderr)
        messages = [e.get("message", "") for e in doc.get("errors", [])]
    except (ValueError, AttributeError, TypeError):
        return exc
    if not messages:
        return exc
    return errors.classify(exc.argv, exc.exit_code, "\n".join(messages), exc.stdout)
