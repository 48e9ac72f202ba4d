"""The ``openstack-smartos`` command.

``walkthrough`` is the main job until the demo cloud exists: it creates an
emulated SmartOS host, installs a zone image and a bhyve image, boots a zone
and a bhyve VM, drives them through their lifecycle and shows what happened
on the host, all through the same host clients the Nova driver uses.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="openstack-smartos")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("walkthrough", help="boot a zone and a bhyve VM on an emulated host")
    p.add_argument("--dir", help="where to create the emulated host (default: a temp dir)")
    p.add_argument("--transport", choices=("ssh", "sim"), default=None,
                   help="how to reach the host (default: ssh when sshd is installed)")
    p.add_argument("--keep", action="store_true", help="keep the host directory")
    p = sub.add_parser("demo", help="run the demo cloud (Keystone, Glance, Placement, "
                                    "Nova) on emulated SmartOS hosts")
    p.add_argument("action", nargs="?", choices=("start", "stop"), default="start")
    p.add_argument("--state-dir", help="where the cloud keeps its state (default: "
                                       "$XDG_STATE_HOME/openstack-smartos/demo)")
    p.add_argument("--hosts", type=int, help="emulated SmartOS hosts (default 2)")
    p.add_argument("--address", help="loopback address to listen on (default 127.0.0.1)")
    p.add_argument("--detach", action="store_true",
                   help="run in the background once started")
    p.add_argument("--database-url", help="mysql+pymysql://user:password@host[:port]: run "
                   "each service in its own process on this database server")
    p.add_argument("--transport-url", help="rabbit://user:password@host:port/[vhost]: "
                   "the message broker for that mode")
    p.add_argument("--database-prefix", help="prefix of the database names on the server "
                   "(default smartos_demo_)")
    p.add_argument("--foreground", action="store_true", help=argparse.SUPPRESS)
    p = sub.add_parser("tempest-config", help="write a tempest.conf for the running demo")
    p.add_argument("--state-dir", help="the demo's state directory")
    p.add_argument("--output", help="where to write it (default: STATE/tempest/etc/tempest.conf)")
    args = parser.parse_args(argv)
    if args.command == "tempest-config":
        return tempest_config(args)
    if args.command == "walkthrough":
        return walkthrough(args)
    if args.command == "demo":
        return demo(args)
    return 2


def tempest_config(args) -> int:
    from openstack_smartos.aio import demo as demo_cloud, tempest
    from openstack_smartos.aio.settings import DemoSettings, default_state_dir

    state_dir = args.state_dir or default_state_dir()
    try:
        settings = DemoSettings.load(state_dir)
    except FileNotFoundError:
        print(f"openstack-smartos tempest-config: no demo cloud in {state_dir}",
              file=sys.stderr)
        return 1
    if not demo_cloud.running_pid(settings):
        print(f"openstack-smartos tempest-config: the demo cloud in {state_dir} is not "
              "running (start it with openstack-smartos demo --detach)", file=sys.stderr)
        return 1
    output = args.output or settings.path("tempest", "etc", "tempest.conf")
    path = tempest.write(settings, output)
    print(path)
    return 0


def demo(args) -> int:
    from openstack_smartos.aio import demo as demo_cloud
    from openstack_smartos.aio.settings import DemoSettings, default_state_dir

    state_dir = args.state_dir or default_state_dir()
    try:
        settings = DemoSettings.load(state_dir)
    except FileNotFoundError:
        if args.action == "stop":
            print(f"no demo cloud in {state_dir}")
            return 0
        settings = DemoSettings(state_dir)
    if args.hosts is not None:
        if args.hosts < 1:
            print("openstack-smartos demo: --hosts must be at least 1", file=sys.stderr)
            return 2
        settings.hosts = args.hosts
    if args.address is not None:
        if not args.address.startswith("127."):
            print("openstack-smartos demo: --address must be a loopback address (127.x.y.z)",
                  file=sys.stderr)
            return 2
        settings.address = args.address
    given = {key: getattr(args, key) for key in ("database_url", "transport_url",
                                                  "database_prefix")
             if getattr(args, key) is not None}
    if given and settings.file.exists() and any(
            getattr(settings, key) != value for key, value in given.items()):
        print(f"openstack-smartos demo: {settings.state_dir} holds a demo with other "
              "database or messaging settings; use another --state-dir", file=sys.stderr)
        return 2
    for key, value in given.items():
        setattr(settings, key, value)
    if (settings.database_url is None) != (settings.transport_url is None):
        print("openstack-smartos demo: --database-url and --transport-url go together",
              file=sys.stderr)
        return 2
    try:
        if args.action == "stop":
            return demo_cloud.stop(settings)
        settings.save()
        if args.detach and not args.foreground:
            return demo_cloud.start_detached(settings)
        return demo_cloud.run(settings)
    except demo_cloud.DemoError as exc:
        print(f"openstack-smartos demo: {exc}", file=sys.stderr)
        return 1


def _say(text=""):
    print(text, flush=True)


def _step(text):
    _say(f"\n==> {text}")


def walkthrough(args) -> int:
    from openstack_smartos.host import SmartOSHost
    from openstack_smartos.sim import imagebuild
    from openstack_smartos.sim.host import init_host

    transport = args.transport or ("ssh" if os.path.exists("/usr/sbin/sshd") else "sim")
    workdir = args.dir or tempfile.mkdtemp(prefix="smartos-walkthrough-")
    hostdir = os.path.join(workdir, "host")
    served = False
    try:
        _step(f"Creating an emulated SmartOS host in {hostdir}")
        sim_host = init_host(hostdir, hostname="walkthrough", cpus=8, memory_mib=16384)
        sim_host.close()

        if transport == "ssh":
            uri, options = _serve_over_ssh(hostdir, workdir)
            served = True
        else:
            uri, options = f"sim://{hostdir}", {}
        _say(f"    host URI: {uri}")
        host = SmartOSHost.connect(uri, **options)

        info = host.sysinfo.get()
        _say(f"    sysinfo: UUID {info['UUID']}, {info['CPU Online Count']} CPUs, "
             f"{info['MiB of Memory']} MiB, pool '{info['Zpool']}' "
             f"{info['Zpool Size in GiB']} GiB, nic tags {sorted(host.sysinfo.nic_tags())}")

        _step("Building two images locally (nothing is downloaded)")
        images_dir = os.path.join(workdir, "images")
        zone_manifest, _, zone_file = imagebuild.build_image(
            images_dir, "zone-dataset", name="base-zone", version="1.0.0",
            files={"etc/motd": b"Welcome to an emulated SmartOS zone\n",
                   "etc/release": b"SmartOS walkthrough image\n"})
        disk = bytes(range(256)) * 4096 * 16          # 16 MiB of non-zero data
        bhyve_manifest, _, bhyve_file = imagebuild.build_image(
            images_dir, "zvol", name="ubuntu-bhyve", version="24.04",
            volume=disk, volume_size=64 << 20, os_name="linux")
        for manifest, path in ((zone_manifest, zone_file), (bhyve_manifest, bhyve_file)):
            _say(f"    {manifest['name']}@{manifest['version']} ({manifest['type']}): "
                 f"{os.path.getsize(path)} bytes, sha1 {manifest['files'][0]['sha1'][:12]}…")

        _step("Installing them with imgadm (data streamed to the host)")
        for manifest, path in ((zone_manifest, zone_file), (bhyve_manifest, bhyve_file)):
            with open(path, "rb") as data:
                host.imgadm.install(manifest, data)
        for image in host.imgadm.list():
            m = image["manifest"]
            _say(f"    installed {m['uuid']}  {m['name']}@{m['version']}  {m['type']}")

        _step("Creating a joyent zone (vmadm create, JSON on stdin)")
        zone_uuid = str(uuidlib.uuid4())
        host.vmadm.create({
            "uuid": zone_uuid, "brand": "joyent", "alias": "web-zone",
            "image_uuid": zone_manifest["uuid"], "max_physical_memory": 512,
            "quota": 5, "cpu_cap": 100, "hostname": "web-zone",
            "nics": [{"nic_tag": "external", "ips": ["10.88.0.10/24"],
                      "gateways": ["10.88.0.1"], "primary": True}],
            "customer_metadata": {"user-script": "#!/bin/sh\necho hello\n"},
        })
        _show_vm(host, zone_uuid)

        _step("Creating a bhyve VM from the zvol image")
        vm_uuid = str(uuidlib.uuid4())
        host.vmadm.create({
            "uuid": vm_uuid, "brand": "bhyve", "alias": "ubuntu-vm", "ram": 1024,
            "vcpus": 2, "flexible_disk_size": 10240, "quota": 10,
            "disks": [{"image_uuid": bhyve_manifest["uuid"], "boot": True,
                       "model": "virtio", "size": 8192}],
            "nics": [{"nic_tag": "external", "ips": ["10.88.0.11/24"],
                      "gateways": ["10.88.0.1"], "model": "virtio", "primary": True}],
        })
        _show_vm(host, vm_uuid)

        _step("vmadm list")
        for vm in host.vmadm.list(fields=("uuid", "brand", "ram", "state", "alias")):
            _say(f"    {vm['uuid']}  {vm['brand']:<8} {vm['ram']:>6} MiB  "
                 f"{vm['state']:<10} {vm['alias']}")

        _step("ZFS: each VM is a clone of its image's @final snapshot")
        for ds in host.zfs.list(recursive=True, names=[host.sysinfo.get()["Zpool"]],
                                types=("filesystem", "volume")):
            if ds["name"].count("/") == 0:
                continue
            _say(f"    {ds['name']:<64} used {ds['used']:>10}  origin {ds.get('origin') or '-'}")

        _step("Lifecycle: stop, start, reboot")
        for uuid in (zone_uuid, vm_uuid):
            host.vmadm.stop(uuid)
            _say(f"    {uuid} after stop:   {host.vmadm.get(uuid)['state']}")
            host.vmadm.start(uuid)
            _say(f"    {uuid} after start:  {host.vmadm.get(uuid)['state']}")
            host.vmadm.reboot(uuid)
            _say(f"    {uuid} after reboot: {host.vmadm.get(uuid)['state']}")

        _step("kstat: per-zone counters of the running VMs")
        stats = host.kstat.read(module="zones")
        for (module, instance, name, statistic), value in sorted(stats.items()):
            if statistic in ("nsec_user", "zonename"):
                _say(f"    {module}:{instance}:{name}:{statistic}\t{value}")

        _step("Deleting both VMs")
        for uuid in (zone_uuid, vm_uuid):
            host.vmadm.delete(uuid)
        left = [vm["uuid"] for vm in host.vmadm.list()]
        datasets = [d["name"] for d in host.zfs.list(names=["zones"], recursive=True)
                    if any(u in d["name"] for u in (zone_uuid, vm_uuid))]
        _say(f"    VMs left: {left or 'none'}; datasets left: {datasets or 'none'}")

        stats = host.stats.snapshot()
        _step(f"Done: {stats['round_trips']} commands, {stats['bytes_out']} bytes sent, "
              f"{stats['bytes_in']} bytes received over {uri.split(':')[0]}://")
        host.close()
        return 0
    finally:
        if served:
            subprocess.run([sys.executable, "-m", "openstack_smartos.sim", "stop", hostdir],
                           check=False, capture_output=True)
        if not args.keep and not args.dir:
            shutil.rmtree(workdir, ignore_errors=True)
        elif args.keep:
            _say(f"\n(kept {workdir})")


def _show_vm(host, uuid):
    vm = host.vmadm.get(uuid)
    nic = (vm.get("nics") or [{}])[0]
    _say(f"    {uuid} brand={vm['brand']} state={vm['state']} "
         f"ram={vm.get('ram', vm.get('max_physical_memory'))} MiB quota={vm.get('quota')} GiB "
         f"nic {nic.get('interface')} {nic.get('mac')} {nic.get('ip')}")
    for disk in vm.get("disks", []):
        _say(f"      disk {disk['path']} {disk['size']} MiB image {disk.get('image_uuid')}")


def _serve_over_ssh(hostdir, workdir):
    key = os.path.join(workdir, "id_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    port = _free_port("127.0.0.2")
    subprocess.run([sys.executable, "-m", "openstack_smartos.sim", "serve", hostdir,
                    "--listen", f"127.0.0.2:{port}", "--authorized-keys", key + ".pub"],
                   check=True, stdout=subprocess.DEVNULL)
    for _ in range(50):
        if os.path.exists(os.path.join(hostdir, "sshd", "known_hosts")):
            break
        time.sleep(0.1)
    user = os.environ.get("USER") or "root"
    uri = f"ssh://{user}@127.0.0.2:{port}"
    return uri, {"key_file": key,
                 "known_hosts": os.path.join(hostdir, "sshd", "known_hosts")}


def _free_port(address):
    import socket
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
