"""smartos-sim: an emulator of a SmartOS host, for development and tests on Linux.

A host is a directory. The tools (vmadm, imgadm, zfs, zpool, sysinfo, kstat,
fwadm, nictagadm) run against it with SmartOS's stdin, stdout, stderr and
exit codes; see ``tools.run_tool``. Guests are not executed: the emulator
keeps state, it does not run workloads.

The emulated tools are in ``commands`` (one module or package each), the
host's state they share (ZFS pool, VMs, images, firewall rules, console
logs) in ``state``.
"""
