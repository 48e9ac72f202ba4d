"""The ``smartos-sim`` command."""

from __future__ import annotations

import argparse
import sys

from openstack_smartos.sim import faults
from openstack_smartos.sim.host import SimHost, init_host


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="smartos-sim", description="Emulate SmartOS hosts on Linux.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="create an emulated host in DIR")
    p.add_argument("dir")
    p.add_argument("--hostname")
    p.add_argument("--cpus", type=int, default=8)
    p.add_argument("--memory-mib", type=int, default=16384)
    p.add_argument("--zpool-gib", type=int, default=256)
    p.add_argument("--nic-tag", action="append", dest="nic_tags",
                   help="a nic tag (repeat); default: admin and external")
    p.add_argument("--uuid", help="host UUID (default: a stable random one)")
    p.add_argument("--admin-ip", default="127.0.0.1")
    p.add_argument("--rack", help="plug the host into this rack (smartos-sim rack create); "
                                  "then each --nic-tag is TAG=NETWORK")

    p = sub.add_parser("rack", help="an emulated physical network for several hosts")
    rsub = p.add_subparsers(dest="rack_command", required=True)
    r = rsub.add_parser("create", help="make a rack in RACKDIR (needs root)")
    r.add_argument("dir")
    r.add_argument("--network", action="append", dest="networks",
                   help="a physical network NAME or NAME=CIDR (repeat); "
                        "default: admin and external")
    r = rsub.add_parser("destroy", help="remove a rack and every namespace of its hosts")
    r.add_argument("dir")

    p = sub.add_parser("exec", help="run a SmartOS tool against DIR")
    p.add_argument("dir")
    p.add_argument("tool_argv", nargs=argparse.REMAINDER,
                   help="-- TOOL ARGS... (vmadm, imgadm, zfs, zpool, sysinfo, "
                        "kstat, fwadm, nictagadm)")

    p = sub.add_parser("serve", help="serve DIR over a real OpenSSH sshd")
    p.add_argument("dir")
    p.add_argument("--listen", required=True, help="127.0.0.N:PORT")
    p.add_argument("--authorized-keys", required=True)

    p = sub.add_parser("stop", help="stop the sshd serving DIR")
    p.add_argument("dir")

    p = sub.add_parser("shims", help="write DIR/bin/<tool> stand-ins for the local:// "
                                      "transport (put DIR/bin first on PATH)")
    p.add_argument("dir")

    p = sub.add_parser("fault", help="inject faults and latency into DIR")
    p.add_argument("dir")
    fsub = p.add_subparsers(dest="fault_command", required=True)
    f = fsub.add_parser("add")
    f.add_argument("--match", required=True, help='e.g. "vmadm create"')
    f.add_argument("--action", required=True, choices=faults.ACTIONS)
    f.add_argument("--exit-code", type=int, default=1)
    f.add_argument("--stderr")
    f.add_argument("--times", type=int)
    f.add_argument("--seconds", type=float)
    f = fsub.add_parser("latency")
    f.add_argument("milliseconds", type=float)
    fsub.add_parser("clear")

    p = sub.add_parser("timings", help="set how long transitions stay visible")
    p.add_argument("dir")
    p.add_argument("settings", nargs="+", help="e.g. provision_seconds=0.5")

    args = parser.parse_args(argv)
    if args.command == "init":
        return _init(parser, args)
    if args.command == "rack":
        return _rack(args)
    if args.command == "exec":
        tool_argv = args.tool_argv
        if tool_argv and tool_argv[0] == "--":
            tool_argv = tool_argv[1:]
        if not tool_argv:
            parser.error("exec needs -- TOOL ARGS...")
        from openstack_smartos.sim import tools
        return tools.exec_main(args.dir, tool_argv)
    if args.command == "serve":
        from openstack_smartos.sim import sshd
        return sshd.serve(args.dir, args.listen, args.authorized_keys)
    if args.command == "stop":
        from openstack_smartos.sim import sshd
        from openstack_smartos.sim.state.network import dataplane
        code = sshd.stop(args.dir)
        dataplane.teardown_host(SimHost(args.dir))
        return code
    if args.command == "shims":
        from openstack_smartos.sim import shims
        SimHost(args.dir)  # refuses a directory that is not a host
        print(shims.write_shims(args.dir))
        return 0
    if args.command == "fault":
        host = SimHost(args.dir)
        if args.fault_command == "add":
            faults.add_rule(host, args.match, args.action, exit_code=args.exit_code,
                            stderr=args.stderr, times=args.times, seconds=args.seconds)
        elif args.fault_command == "latency":
            faults.set_latency(host, args.milliseconds)
        else:
            faults.clear(host)
        return 0
    if args.command == "timings":
        host = SimHost(args.dir)
        timings = host.config.setdefault("timings", {})
        for setting in args.settings:
            key, _, value = setting.partition("=")
            timings[key] = float(value)
        host.save_config()
        return 0
    return 2


def _init(parser, args):
    from openstack_smartos.sim.state.network import linux, rack
    default_tags = ("admin=admin", "external=external") if args.rack else ("admin", "external")
    try:
        host = init_host(args.dir, hostname=args.hostname, cpus=args.cpus,
                         memory_mib=args.memory_mib, zpool_gib=args.zpool_gib,
                         nic_tags=tuple(args.nic_tags or default_tags),
                         host_uuid=args.uuid, admin_ip=args.admin_ip, rack_dir=args.rack)
    except (ValueError, rack.RackError, linux.DataPlaneError) as exc:
        parser.exit(1, f"smartos-sim init: {exc}\n")
    print(f"Created emulated SmartOS host {host.config['hostname']} "
          f"({host.config['uuid']}) in {args.dir}")
    reason = "no --rack" if not args.rack else linux.unavailable_reason()
    if reason:
        print(f"smartos-sim: no network data plane ({reason}): nics are kept as state only",
              file=sys.stderr)
    return 0


def _rack(args):
    from openstack_smartos.sim.state.network import linux, rack
    try:
        if args.rack_command == "create":
            made = rack.create(args.dir, args.networks)
            print(f"Created rack {made['id']} in {args.dir}: networks "
                  + ", ".join(f"{name} {net['cidr']}" for name, net in made["networks"].items()))
        else:
            rack.destroy(args.dir)
    except (rack.RackError, linux.DataPlaneError) as exc:
        print(f"smartos-sim rack {args.rack_command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
