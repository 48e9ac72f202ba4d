"""Emulated ``kstat`` (reference §8).

    kstat [-p] [-j] [-l] [-q] [-m module] [-i instance] [-n name] [-s statistic]
          [-c class] [module:instance:name:statistic ...] [interval [count]]

Fields of a selector are shell globs or ``/regex/``. ``-p`` prints
``module:instance:name:statistic<TAB>value`` lines, ``-j`` a JSON array of
kstats, the default a human-readable listing. Exit 0 when something matched,
1 when nothing did, 2 on a usage error.

Per-zone kstats exist for every VM that has a zoneid (a running zone); they
are derived deterministically from the time since the VM's boot_timestamp
and a per-boot seed, so counters only grow while the zone runs, and start
again from zero at the next boot (new zoneid, new boot_timestamp). The
counters never exceed what the zone's CPU cap / vcpus allow.
"""

from __future__ import annotations

import datetime
import fnmatch
import hashlib
import json
import re
import time

from openstack_smartos.sim.state import vms as vmstore
from openstack_smartos.sim.commands.sysinfo import CPU_MHZ, CPU_TYPE, topology
from openstack_smartos.sim.tools import ToolFailure

USAGE = ("Usage:\n"
         "kstat [ -Cjlpq ] [ -T d|u ] [ -c class ]\n"
         "      [ -m module ] [ -i instance ] [ -n name ] [ -s statistic ]\n"
         "      [ interval [ count ] ]\n"
         "kstat [ -Cjlpq ] [ -T d|u ] [ -c class ]\n"
         "      [ module:instance:name:statistic ... ]\n"
         "      [ interval [ count ] ]")

MIB = 1 << 20
PAGESIZE = 4096
UNLIMITED = 18446744073709551615
NAME_MAX = 30  # KSTAT_STRLEN - 1


def _now() -> float:
    """The emulator's clock (tests replace it)."""
    return time.time()


class Kstat:
    __slots__ = ("module", "instance", "name", "klass", "crtime", "data")

    def __init__(self, module, instance, name, klass, crtime, data):
        self.module = module
        self.instance = int(instance)
        self.name = name
        self.klass = klass
        self.crtime = int(crtime)   # hrtime (ns since host boot)
        self.data = data


# -- derivation -------------------------------------------------------------

class _Seed:
    """Deterministic per-boot fractions in [0, 1)."""

    def __init__(self, *parts):
        self.digest = hashlib.sha256("\0".join(str(p) for p in parts).encode()).digest()
        self.index = 0

    def frac(self, index):
        offset = (index * 3) % (len(self.digest) - 3)
        value = int.from_bytes(self.digest[offset:offset + 3], "big")
        return value / float(1 << 24)

    def between(self, index, low, high):
        return low + (high - low) * self.frac(index)


def _parse_iso(text):
    if not text:
        return None
    try:
        stamp = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def _running(vm) -> bool:
    zoneid = vm.get("zoneid")
    return (isinstance(zoneid, int) and not isinstance(zoneid, bool)
            and vm.get("state") not in ("stopped", "failed", "configured", "installed",
                                        "destroyed"))


def cpu_limit(vm) -> float:
    """How many CPUs' worth of time the zone may use."""
    limits = []
    if vm.get("vcpus"):
        limits.append(float(vm["vcpus"]))
    if vm.get("cpu_cap"):
        limits.append(float(vm["cpu_cap"]) / 100.0)
    return min(limits) if limits else 1.0


def zone_kstats(vm, host_boot: float, now: float) -> list[Kstat]:
    zid = vm["zoneid"]
    zonename = vm.get("zonename") or vm["uuid"]
    kname = zonename[:NAME_MAX]
    boot = _parse_iso(vm.get("boot_timestamp"))
    if boot is None:
        boot = now
    elapsed = max(0.0, now - boot)
    ens = int(elapsed * 1e9)
    secs = int(elapsed)
    crtime = max(0, int((boot - host_boot) * 1e9))
    seed = _Seed(vm["uuid"], zid, vm.get("boot_timestamp"))
    hvm = vm.get("brand") in ("kvm", "bhyve")

    busy = cpu_limit(vm) * seed.between(0, 0.05, 0.6)   # CPUs' worth in use
    nsec_user = int(ens * busy * 0.75)
    nsec_sys = int(ens * busy * 0.25)
    nsec_waitrq = int(ens * busy * 0.02)
    load = int(busy * 256)
    pid = vm.get("pid") or 1000 + int(seed.frac(1) * 60000)
    nprocs = (3 if hvm else 12) + int(seed.frac(2) * 30)
    lwps = nprocs * (4 + int(seed.frac(3) * 6))

    stats = []
    stats.append(Kstat("zones", zid, kname, "zone_misc", crtime, {
        "nsec_user": nsec_user, "nsec_sys": nsec_sys, "nsec_waitrq": nsec_waitrq,
        "avenrun_1min": load, "avenrun_5min": load, "avenrun_15min": load,
        "forkfail_cap": 0, "forkfail_noproc": 0, "forkfail_nomem": 0,
        "forkfail_misc": 0, "mapfail_seg": 0, "init_pid": pid,
        "boot_time": int(boot), "init_restarts": int(vm.get("init_restarts") or 0),
        "nested_interp": 0, "zonename": zonename}))

    if vm.get("cpu_cap"):
        cap = int(vm["cpu_cap"])
        usage = min(cap, int(busy * 100))
        stats.append(Kstat("caps", zid, f"cpucaps_zone_{zid}", "zone_caps", crtime, {
            "usage": usage, "value": cap, "maxusage": min(cap, int(usage * 1.5) + 1),
            "nwait": 0, "above_sec": 0, "below_sec": secs, "above_base_sec": 0,
            "baseline": 0, "effective": cap, "burst_limit_sec": 0,
            "bursting_sec": 0, "zonename": zonename}))

    ram = int(vm.get("ram") or vm.get("max_physical_memory") or 256)
    physcap = int(vm.get("max_physical_memory") or ram) * MIB
    swapcap = int(vm.get("max_swap") or vm.get("max_physical_memory") or ram) * MIB
    lockcap = int(vm.get("max_locked_memory") or vm.get("max_physical_memory") or ram) * MIB
    ramp = min(1.0, 0.25 + elapsed / 300.0)
    if hvm:
        rss_target = min(physcap, ram * MIB + int(seed.between(4, 32, 128)) * MIB)
    else:
        rss_target = int(physcap * seed.between(4, 0.15, 0.6))
    rss = int(rss_target * ramp) // PAGESIZE * PAGESIZE
    swap = min(swapcap, max(rss, ram * MIB if hvm else 0) + 16 * MIB)
    locked = min(lockcap, ram * MIB if hvm else 0)
    pgpgin = int(secs * seed.between(5, 1, 50))
    for rctl, usage, value in (("lockedmem", locked, lockcap),
                               ("swapresv", swap, swapcap),
                               ("nprocs", nprocs, UNLIMITED),
                               ("lwps", lwps, int(vm.get("max_lwps") or 2000))):
        stats.append(Kstat("caps", zid, f"{rctl}_zone_{zid}", "zone_caps", crtime,
                           {"usage": usage, "value": value, "zonename": zonename}))
    stats.append(Kstat("memory_cap", zid, kname, "zone_memory_cap", crtime, {
        "rss": rss, "physcap": physcap, "swap": swap, "swapcap": swapcap,
        "nover": 0, "pagedout": 0, "pgpgin": pgpgin, "anonpgin": 0,
        "execpgin": pgpgin // 4, "fspgin": pgpgin - pgpgin // 4,
        "anon_alloc_fail": 0, "n_pf_throttle": 0, "n_pf_throttle_usec": 0,
        "zonename": zonename}))

    reads = int(secs * seed.between(6, 5, 400))
    writes = int(secs * seed.between(7, 2, 200))
    nread = reads * int(seed.between(8, 512, 65536))
    nwritten = writes * int(seed.between(9, 512, 65536))
    rtime = reads * 20000
    wtime = writes * 40000
    stats.append(Kstat("zone_vfs", zid, kname, "zone_vfs", crtime, {
        "reads": reads, "writes": writes, "nread": nread, "nwritten": nwritten,
        "rtime": rtime, "wtime": wtime, "rlentime": rtime, "wlentime": wtime,
        "rcnt": 0, "wcnt": 0, "10ms_ops": (reads + writes) // 100,
        "100ms_ops": (reads + writes) // 2000, "1s_ops": 0, "10s_ops": 0,
        "delay_cnt": 0, "delay_time": 0, "zonename": zonename}))
    zreads = reads // 4 + (int(secs * 30) if hvm else 0)
    zwrites = writes // 2 + (int(secs * 20) if hvm else 0)
    stats.append(Kstat("zone_zfs", zid, kname, "zone_zfs", crtime, {
        "reads": zreads, "nread": zreads * 8192, "writes": zwrites,
        "nwritten": zwrites * 8192, "rtime": zreads * 100000,
        "rlentime": zreads * 120000, "waittime": zreads * 10000,
        "zonename": zonename}))

    for index, nic in enumerate(vm.get("nics") or []):
        ifname = nic.get("interface") or (f"eth{index}" if vm.get("brand") == "lx"
                                          else f"net{index}")
        rate_in = seed.between(10 + index, 100, 200000)
        rate_out = seed.between(20 + index, 100, 200000)
        rbytes = int(elapsed * rate_in)
        obytes = int(elapsed * rate_out)
        ipackets = rbytes // 600
        opackets = obytes // 600
        stats.append(Kstat("link", 0, f"z{zid}_{ifname}", "net", crtime, {
            "rbytes64": rbytes, "obytes64": obytes, "ipackets64": ipackets,
            "opackets64": opackets, "rbytes": rbytes % (1 << 32),
            "obytes": obytes % (1 << 32), "ipackets": ipackets % (1 << 32),
            "opackets": opackets % (1 << 32), "ierrors": 0, "oerrors": 0,
            "norcvbuf": 0, "noxmtbuf": 0, "multircv": ipackets // 100,
            "multixmt": opackets // 200, "brdcstrcv": ipackets // 50,
            "brdcstxmt": opackets // 400, "collisions": 0, "unknowns": 0,
            "ifspeed": 10 ** 10, "link_state": 1, "link_up": 1, "link_duplex": 2,
            "zonename": zonename}))

    opens = int(secs * seed.between(30, 0.01, 5))
    segs_in = int(secs * seed.between(31, 1, 300))
    segs_out = int(secs * seed.between(32, 1, 300))
    stats.append(Kstat("tcp", zid, "tcp", "mib2", crtime, {
        "rtoAlgorithm": 4, "rtoMin": 400, "rtoMax": 60000, "maxConn": -1,
        "activeOpens": opens, "passiveOpens": opens // 2 + secs // 60,
        "attemptFails": opens // 100, "estabResets": opens // 200,
        "currEstab": 1 + int(seed.frac(33) * 20), "inSegs": segs_in,
        "outSegs": segs_out, "retransSegs": segs_out // 500,
        "listenDrop": 0, "listenDropQ0": 0, "halfOpenDrop": 0,
        "outRsts": opens // 50, "inErrs": 0}))
    return stats


def global_kstats(host, vms, now: float) -> list[Kstat]:
    cfg = host.config
    host_boot = float(cfg.get("boot_time", now))
    uptime = max(0.0, now - host_boot)
    cpus = int(cfg.get("cpus", 1))
    topo = topology(cpus)
    running = [vm for vm in vms if _running(vm)]
    stats = []

    pagestotal = int(cfg.get("memory_mib", 0)) * MIB // PAGESIZE
    kernel = pagestotal // 20
    used = 0
    busy = 0.0
    nproc = 60
    for vm in running:
        for ks in zone_kstats(vm, host_boot, now):
            if ks.module == "memory_cap":
                used += ks.data["rss"] // PAGESIZE
            elif ks.module == "zones":
                busy += ks.data["avenrun_1min"] / 256.0
            elif ks.name.startswith("nprocs_zone_"):
                nproc += ks.data["usage"]
    freemem = max(0, pagestotal - kernel - used)
    lotsfree = max(1, pagestotal // 64)
    stats.append(Kstat("unix", 0, "system_pages", "pages", 0, {
        "pagestotal": pagestotal, "physmem": pagestotal, "freemem": freemem,
        "availrmem": freemem, "lotsfree": lotsfree, "desfree": lotsfree // 2,
        "minfree": lotsfree // 4, "pp_kernel": kernel, "pagesfree": freemem,
        "pageslocked": kernel, "nalloc": 0, "nfree": 0}))
    ticks = int(uptime * 100)
    avenrun = int((busy + 0.02 * cpus) * 256)
    stats.append(Kstat("unix", 0, "system_misc", "misc", 0, {
        "boot_time": int(host_boot), "ncpus": cpus, "nproc": nproc,
        "clk_intr": ticks, "lbolt": ticks, "avenrun_1min": avenrun,
        "avenrun_5min": avenrun, "avenrun_15min": avenrun, "deficit": 0,
        "vac": 0, "nsec_per_tick": 10000000}))
    stats.append(Kstat("zones", 0, "global", "zone_misc", 0, {
        "nsec_user": int(uptime * 1e9 * 0.01 * cpus), "nsec_sys": int(uptime * 1e9 * 0.02 * cpus),
        "nsec_waitrq": 0, "avenrun_1min": int(0.02 * cpus * 256),
        "avenrun_5min": int(0.02 * cpus * 256), "avenrun_15min": int(0.02 * cpus * 256),
        "forkfail_cap": 0, "forkfail_noproc": 0, "forkfail_nomem": 0,
        "forkfail_misc": 0, "mapfail_seg": 0, "init_pid": 1,
        "boot_time": int(host_boot), "init_restarts": 0, "nested_interp": 0,
        "zonename": "global"}))
    uptime_ns = int(uptime * 1e9)
    for cpu in range(cpus):
        socket = cpu // topo["cpus_per_socket"]
        core = cpu // topo["threads_per_core"]
        stats.append(Kstat("cpu_info", cpu, f"cpu_info{cpu}", "misc", 0, {
            "brand": CPU_TYPE, "chip_id": socket, "core_id": core,
            "clock_MHz": CPU_MHZ, "current_clock_Hz": CPU_MHZ * 10 ** 6,
            "supported_frequencies_Hz": str(CPU_MHZ * 10 ** 6),
            "cpu_type": "i386", "family": 6, "model": 45, "stepping": 7,
            "vendor_id": "GenuineIntel", "state": "on-line",
            "state_begin": int(host_boot), "ncore_per_chip": topo["cores_per_socket"],
            "ncpu_per_chip": topo["cpus_per_socket"], "pg_id": core,
            "fpu_type": "i387 compatible",
            "implementation": (f"x86 (chipid 0x{socket:x} GenuineIntel 206D7 family 6 "
                               f"model 45 step 7 clock {CPU_MHZ} MHz)")}))
        user = int(uptime_ns * 0.05)
        kern = int(uptime_ns * 0.03)
        stats.append(Kstat("cpu", cpu, "sys", "misc", 0, {
            "cpu_nsec_user": user, "cpu_nsec_kernel": kern,
            "cpu_nsec_idle": uptime_ns - user - kern, "cpu_nsec_dtrace": 0,
            "cpu_ticks_user": user // 10000000, "cpu_ticks_kernel": kern // 10000000,
            "cpu_ticks_idle": (uptime_ns - user - kern) // 10000000,
            "cpu_ticks_wait": 0}))
    return stats


def collect(host, now: float | None = None) -> list[Kstat]:
    """Every kstat of the host at ``now``."""
    now = _now() if now is None else now
    try:
        vms = vmstore.all_vms(host)
    except NotImplementedError:  # no VM store yet: the global kstats only
        vms = []
    host_boot = float(host.config.get("boot_time", now))
    stats = global_kstats(host, vms, now)
    for vm in vms:
        if _running(vm):
            stats.extend(zone_kstats(vm, host_boot, now))
    stats.sort(key=lambda ks: (ks.module, ks.instance, ks.name))
    return stats


# -- selection ----------------------------------------------------------------

class _Pattern:
    def __init__(self, text):
        self.text = text or "*"
        if len(self.text) >= 2 and self.text.startswith("/") and self.text.endswith("/"):
            try:
                self.regex = re.compile(self.text[1:-1])
            except re.error as exc:
                raise ToolFailure(f"kstat: invalid regular expression {self.text!r}: {exc}",
                                  2) from None
        else:
            self.regex = None

    def match(self, value) -> bool:
        value = str(value)
        if self.regex is not None:
            return self.regex.search(value) is not None
        return fnmatch.fnmatchcase(value, self.text)


def _split_selector(text):
    """module:instance:name:statistic, where /regex/ fields may hold colons."""
    fields, current, i = [], "", 0
    while i < len(text):
        char = text[i]
        if char == "/" and current == "":
            end = i + 1
            while end < len(text) and text[end] != "/":
                end += 2 if text[end] == "\\" else 1
            current = text[i:end + 1]
            i = end + 1
            continue
        if char == ":":
            fields.append(current)
            current = ""
        else:
            current += char
        i += 1
    fields.append(current)
    if len(fields) > 4:
        raise ToolFailure(f"kstat: invalid selector {text!r}\n{USAGE}", 2)
    return fields + [""] * (4 - len(fields))


class Selector:
    def __init__(self, module="", instance="", name="", statistic=""):
        self.module = _Pattern(module)
        self.instance = _Pattern(instance)
        self.name = _Pattern(name)
        self.statistic = _Pattern(statistic)

    def matches_kstat(self, ks):
        return (self.module.match(ks.module) and self.instance.match(ks.instance)
                and self.name.match(ks.name))


def _pseudo(ks, now_ns):
    return {"class": ks.klass, "crtime": _hrtime(ks.crtime),
            "snaptime": _hrtime(now_ns)}


def _hrtime(ns):
    return f"{ns // 10 ** 9}.{ns % 10 ** 9:09d}"


def _format(value):
    return str(value)



def main(ctx) -> int:
    args = list(ctx.args)
    opts = {"p": False, "j": False, "l": False, "q": False, "C": False}
    valued = {}
    operands = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            operands.extend(args[i + 1:])
            break
        if arg.startswith("-") and len(arg) > 1 and not arg[1:].isdigit():
            j = 1
            while j < len(arg):
                letter = arg[j]
                if letter in "mincsT":
                    value = arg[j + 1:]
                    if not value:
                        i += 1
                        if i >= len(args):
                            raise ToolFailure(f"kstat: option requires an argument -- "
                                              f"{letter}\n{USAGE}", 2)
                        value = args[i]
                    valued[letter] = value
                    break
                if letter not in opts:
                    raise ToolFailure(f"kstat: illegal option -- {letter}\n{USAGE}", 2)
                opts[letter] = True
                j += 1
        else:
            operands.append(arg)
        i += 1
    if opts["j"] and (opts["p"] or opts["l"]):
        raise ToolFailure(f"kstat: -j cannot be combined with -p or -l\n{USAGE}", 2)
    if "T" in valued and valued["T"] not in ("d", "u"):
        raise ToolFailure(f"kstat: -T needs d or u\n{USAGE}", 2)

    numbers = []
    while operands and re.fullmatch(r"\d+", operands[-1]) and len(numbers) < 2:
        numbers.insert(0, int(operands.pop()))
    interval = numbers[0] if numbers else 0
    count = numbers[1] if len(numbers) > 1 else (None if numbers else 1)
    if numbers and interval <= 0:
        raise ToolFailure(f"kstat: interval must be greater than zero\n{USAGE}", 2)

    base = Selector(valued.get("m", ""), valued.get("i", ""), valued.get("n", ""),
                    valued.get("s", ""))
    selectors = [Selector(*_split_selector(text)) for text in operands] or [base]
    klass = _Pattern(valued.get("c", ""))

    matched_any = False
    done = 0
    while True:
        matched_any |= _report(ctx, selectors, base, klass, opts, valued)
        done += 1
        if count is not None and done >= count:
            break
        if ctx.sleep(interval):
            break
    return 0 if matched_any else 1


def _report(ctx, selectors, base, klass, opts, valued) -> bool:
    now = _now()
    host_boot = float(ctx.host.config.get("boot_time", now))
    now_ns = max(0, int((now - host_boot) * 1e9))
    results = []
    for ks in collect(ctx.host, now):
        if not klass.match(ks.klass) or not base.matches_kstat(ks):
            continue
        chosen = [sel for sel in selectors if sel.matches_kstat(ks)]
        if not chosen:
            continue
        everything = {**ks.data, **_pseudo(ks, now_ns)}
        picked = {key: value for key, value in everything.items()
                  if any(sel.statistic.match(key) for sel in chosen)
                  and base.statistic.match(key)}
        if picked:
            results.append((ks, picked))
    if opts["q"]:
        return bool(results)
    if "T" in valued:
        ctx.out(str(int(now)) if valued["T"] == "u" else time.ctime(now))
    if opts["j"]:
        doc = []
        for ks, picked in results:
            data = {key: picked[key] for key in sorted(picked)
                    if key not in ("class", "snaptime")}
            if "crtime" in data:
                data["crtime"] = ks.crtime
            doc.append({"module": ks.module, "instance": ks.instance, "name": ks.name,
                        "class": ks.klass, "type": 1, "snaptime": now_ns, "data": data})
        ctx.out(json.dumps(doc, indent=2))
    elif opts["p"] or opts["l"]:
        for ks, picked in results:
            prefix = f"{ks.module}:{ks.instance}:{ks.name}:"
            for key in sorted(picked):
                if opts["l"]:
                    ctx.out(prefix + key)
                else:
                    ctx.out(f"{prefix}{key}\t{_format(picked[key])}")
    else:
        for ks, picked in results:
            ctx.out(f"module: {ks.module:<31} instance: {ks.instance}")
            ctx.out(f"name:   {ks.name:<31} class:    {ks.klass}")
            for key in sorted(picked):
                if key == "class":
                    continue
                ctx.out(f"\t{key:<31} {_format(picked[key])}")
            ctx.out()
    return bool(results)


__all__ = ["Kstat", "collect", "cpu_limit", "main", "zone_kstats"]
