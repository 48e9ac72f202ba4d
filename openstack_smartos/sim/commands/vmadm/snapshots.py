"""create-snapshot, rollback-snapshot, delete-snapshot (§10.2, §1.1 messages).

Snapshots are ``<zoneroot>@vmsnap-<name>`` (bhyve: recursive, so the disks
are included). Refused for kvm, for bhyve without flexible_disk_size and for
OS VMs with delegated datasets. Rollback stops a running VM, rolls back
(destroying newer snapshots) and starts it again.
"""

from __future__ import annotations

import re
import time

from openstack_smartos.sim.state.vms import datasets, runtime, store
from openstack_smartos.sim.commands.vmadm.common import Usage, fail, get_uuid, load_row, log_change
from openstack_smartos.sim.state.zfs import Pool, ZFSError

NAME_RE = re.compile(r"^[A-Za-z0-9\-_.:%]{1,64}$")


def _args(args, command):
    uuid = get_uuid(args, command)
    if len(args) != 2:
        raise Usage(f"{command} requires a snapshot name")
    name = args[1]
    if not NAME_RE.match(name):
        fail("Invalid snapshot name")
    return uuid, name


def _check_brand(cfg):
    if cfg["brand"] == "kvm":
        fail("snapshots for kvm VMs currently unsupported")
    if cfg["brand"] == "bhyve" and not cfg.get("flexible_disk_size"):
        fail("bhyve VMs need flexible_disk_size to be snapshotted")
    if cfg.get("datasets") or cfg.get("delegate_dataset"):
        fail("Cannot currently snapshot zones that have datasets")


def _snapshot_datasets(pool, cfg):
    root = datasets.zoneroot(cfg)
    names = [root]
    if cfg["brand"] == "bhyve":
        names += [ds["name"] for ds in pool.list(root=root, types=("volume", "filesystem"))
                  if ds["name"] != root]
    return names


def _vm_snapshot(ctx, pool, uuid, name):
    """(row, zoneroot snapshot name) for a VM whose brand allows snapshots."""
    row = load_row(ctx.host, uuid)
    _check_brand(row.cfg)
    return row, f"{datasets.zoneroot(row.cfg)}@vmsnap-{name}"


def cmd_create_snapshot(ctx, args):
    uuid, name = _args(args, "create-snapshot")
    pool = Pool(ctx.host)
    with ctx.host.locked():
        row, snap = _vm_snapshot(ctx, pool, uuid, name)
        if pool.exists(snap):
            fail(f'snapshot with name "{name}" already exists.')
        try:
            pool.snapshot(snap, recursive=row.cfg["brand"] == "bhyve")
        except ZFSError as exc:
            fail(exc.message)
        store.save(ctx.host, row)
    log_change(ctx, "created snapshot", vm_uuid=uuid, snapshot=name)
    ctx.err(f"Created snapshot {name} for VM {uuid}")
    return 0


def cmd_delete_snapshot(ctx, args):
    uuid, name = _args(args, "delete-snapshot")
    pool = Pool(ctx.host)
    with ctx.host.locked():
        row, snap = _vm_snapshot(ctx, pool, uuid, name)
        if not pool.exists(snap):
            fail(f'Failed to delete snapshot: No snapshot named "{name}" for {uuid}')
        try:
            for dataset in reversed(_snapshot_datasets(pool, row.cfg)):
                if pool.exists(f"{dataset}@vmsnap-{name}"):
                    pool.destroy(f"{dataset}@vmsnap-{name}")
        except ZFSError as exc:
            fail(exc.message)
        store.save(ctx.host, row)
    log_change(ctx, "deleted snapshot", vm_uuid=uuid, snapshot=name)
    ctx.err(f"Deleted snapshot {name} for VM {uuid}")
    return 0


def cmd_rollback_snapshot(ctx, args):
    uuid, name = _args(args, "rollback-snapshot")
    pool = Pool(ctx.host)
    with ctx.host.locked():
        row, snap = _vm_snapshot(ctx, pool, uuid, name)
        if not pool.exists(snap):
            fail(f'Failed to rollback snapshot: No snapshot named "{name}" for {uuid}')
        was_running = runtime.derive(row.rt)["zone_state"] == "running"
        now = time.time()
        if was_running:
            row.rt["op"] = None
            runtime.halt(row.rt, now)
        try:
            for dataset in _snapshot_datasets(pool, row.cfg):
                if pool.exists(f"{dataset}@vmsnap-{name}"):
                    pool.rollback(f"{dataset}@vmsnap-{name}", destroy_newer=True)
        except ZFSError as exc:
            fail(exc.message)
        if was_running:
            runtime.boot(row.rt, store.counter_fn(ctx.host), now, row.cfg)
        store.save(ctx.host, row)
    log_change(ctx, "rolled back snapshot", vm_uuid=uuid, snapshot=name)
    ctx.err(f"Rolled back snapshot {name} for VM {uuid}")
    return 0
