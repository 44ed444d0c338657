#!/usr/bin/env python3
"""Health checks at scale: lvsd against nginx on loopback, with ldirectord side by side.

    .venv/bin/python bench/checks_scale.py --reals 5000 --kind http [--duration 30] [--ldirectord]

Starts nginx (one worker, pinned to --server-cpu) listening on 127.0.0.1 at one
port per real server (``/health`` answers ``OK``); writes one ldirectord.cf
(``checkinterval=1``, 50 reals per virtual, ``service=http`` with
request/receive, or ``checktype=connect``) that both daemons read; runs the
real lvsd daemon (the owner loop, the scheduler, health, monitor-free logging)
on the in-memory IPVS backend, pinned to --lvsd-cpu; and, with --ldirectord,
Debian's ldirectord at the same time on the same servers (its ipvsadm pointed
at /bin/true: an empty table that accepts every edit), pinned to
--ldirectord-cpu. Its start-up (an O(n^2) config parse, then three forks
per real) must fit in --ldirectord-warmup: minutes at 5,000 reals.

After --warmup seconds it measures for --duration seconds: lvsd's CPU seconds
per 1,000 checks, the lateness of each check's start against its slot (p50,
p99, max), peak RSS and open file descriptors; ldirectord's CPU per 1,000
checks (its checks counted in nginx's log, or in its monitorfile for connect)
and its pass time. Prints one JSON object. Every load is bounded: the run
stops itself after warmup + duration, and the child processes are killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASE_PORT = 20000
PER_VIRTUAL = 50
TICKS = os.sysconf("SC_CLK_TCK")


def nginx_conf(d: Path, reals: int) -> Path:
    listens = "\n".join(f"        listen 127.0.0.1:{BASE_PORT + i} backlog=4096;" for i in range(reals))
    conf = d / "nginx.conf"
    conf.write_text(f"""worker_processes 1;
worker_rlimit_nofile 65536;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log;
events {{ worker_connections 16384; }}
http {{
    map $http_user_agent $ldirectord {{ ~libwww-perl 1; default 0; }}
    access_log {d}/ldirectord-requests.log combined if=$ldirectord;
    client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
    server {{
{listens}
        location = /health {{ default_type text/plain; return 200 "OK\\n"; }}
    }}
}}
""")
    return conf


def director_conf(d: Path, reals: int, kind: str, monitor: bool) -> Path:
    lines = ["checkinterval=1", "checktimeout=3", "negotiatetimeout=3", f'logfile="{d}/director.log"',
             "quiescent=no", "supervised=yes", ""]
    for v in range((reals + PER_VIRTUAL - 1) // PER_VIRTUAL):
        lines.append(f"virtual=198.51.100.1:{10000 + v}")
        for i in range(v * PER_VIRTUAL, min(reals, (v + 1) * PER_VIRTUAL)):
            lines.append(f"\treal=127.0.0.1:{BASE_PORT + i} masq")
        if kind == "http":
            lines += ["\tservice=http", '\trequest="/health"', '\treceive="OK"']
        else:
            lines.append("\tchecktype=connect")
        if monitor:
            lines.append(f"\tmonitorfile={d}/monitor.log")
        lines.append("")
    conf = d / "bench.cf"
    conf.write_text("\n".join(lines))
    return conf


def ipvsadm_stub() -> Path:
    """A stand-in ipvsadm: /bin/true, an empty table that accepts every edit (nothing reaches a kernel).

    An empty table keeps ldirectord's start-up linear: it re-reads the whole
    table at every real server's transition, so a table listing 5,000 reals
    would cost it an hour of parsing before the first check; and /bin/true is
    the cheapest program it can fork (three times per real at start-up).
    """
    return Path("/bin/true")


def patched_ldirectord(d: Path, stub: Path) -> Path:
    """Debian's ldirectord with only $IPVSADM and its PID directory changed."""
    text = Path("/usr/sbin/ldirectord").read_text()
    text = text.replace('if ($DEBUG>0 and -f "./ipvsadm") {', f'if (1) {{\n\t$IPVSADM="{stub}";\n}} elsif (0) {{', 1)
    text = text.replace('$RUNPID           = "/var/run/ldirectord";', f'$RUNPID           = "{d}/ldirectord";', 1)
    path = d / "ldirectord"
    path.write_text(text)
    path.chmod(0o755)
    return path


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


# -- the lvsd child: the real daemon on the in-memory kernel table ------------------------------------


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])



async def lvsd_child(config: str, warmup: float, duration: float) -> dict[str, object]:
    from lvsd import log
    from lvsd.daemon import Daemon
    from lvsd.ipvs.memory import MemoryIPVS

    daemon = Daemon(config, MemoryIPVS(), sink_factory=lambda logfile, name: log.Sink(logfile, name))
    stats = daemon.scheduler.stats
    run = asyncio.get_running_loop().create_task(daemon.run())
    try:
        await asyncio.sleep(warmup)
        stats.lateness.clear()  # the scheduler's own (bounded) record: the window's last 100,000 checks
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        checks0, t0 = stats.checks, time.monotonic()
        peak_fds = peak_rss = 0
        while time.monotonic() - t0 < duration:
            await asyncio.sleep(0.5)
            peak_fds = max(peak_fds, len(os.listdir("/proc/self/fd")))
            peak_rss = max(peak_rss, rss_kb())
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        elapsed = time.monotonic() - t0
        checks = stats.checks - checks0
        cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
        late = sorted(stats.lateness)
        up = sum(1 for h in daemon.health.values() if h.up)
    finally:
        daemon.request_stop("TERM", clean=False)
        await asyncio.wait_for(run, 30)

    def pct(p: float) -> float:
        return round(late[min(len(late) - 1, int(len(late) * p))] * 1000, 2) if late else 0.0

    return {
        "checks": checks, "seconds": round(elapsed, 2), "checks_per_second": round(checks / elapsed, 1),
        "cpu_seconds": round(cpu, 3), "cpu_utilisation": round(cpu / elapsed, 3),
        "cpu_ms_per_check": round(cpu / checks * 1000, 4) if checks else None,
        "cpu_s_per_1000_checks": round(cpu / checks * 1000, 4) if checks else None,
        "lateness_ms": {"p50": pct(0.50), "p99": pct(0.99), "max": pct(1.0)},
        "peak_rss_mb": round(peak_rss / 1024, 1), "peak_fds": peak_fds, "reals_up": up,
        "reals": len(daemon.health), "probes": daemon.scheduler.probes,
    }


# -- the driver ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--reals", type=int, default=1000)
    parser.add_argument("--kind", choices=("http", "connect"), default="http")
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--ldirectord", action="store_true", help="run Debian's ldirectord side by side")
    parser.add_argument("--lvsd-cpu", default="0")
    parser.add_argument("--server-cpu", default="1")
    parser.add_argument("--ldirectord-cpu", default="1")
    parser.add_argument("--lvsd-nice", type=int, default=0,
                        help="run lvsd at this nice value (on a machine shared with other work, -15 approximates "
                             "the dedicated core the targets assume; CPU per check does not depend on it)")
    parser.add_argument("--ldirectord-warmup", type=float, default=900.0,
                        help="at most this long for ldirectord's start-up and first pass")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                        help="the event loop lvsd runs on (lvsd itself uses the standard library's)")
    parser.add_argument("--child", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.loop == "uvloop":
            import uvloop  # measured against the standard loop; not one of lvsd's dependencies

            result = uvloop.run(lvsd_child(args.child, args.warmup, args.duration))
        else:
            result = asyncio.run(lvsd_child(args.child, args.warmup, args.duration))
        print(json.dumps(result))
        return 0
    if args.reals > 20000:
        parser.error("at most 20,000 real servers (ports 20000-39999)")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    d = Path(tempfile.mkdtemp(prefix="lvsd-bench-"))
    (d / "tmp").mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    out: dict[str, object] = {"reals": args.reals, "kind": args.kind, "checkinterval": 1, "lvsd_nice": args.lvsd_nice,
                              "loop": args.loop,
                              "load_before": os.getloadavg()}
    try:
        nginx = subprocess.Popen(["taskset", "-c", args.server_cpu, "nginx", "-c", str(nginx_conf(d, args.reals)),
                                  "-p", str(d), "-g", "daemon off;"], stderr=subprocess.DEVNULL)
        procs.append(nginx)
        time.sleep(1.0 + args.reals / 5000)
        config = director_conf(d, args.reals, args.kind, monitor=args.ldirectord and args.kind == "connect")
        ld = None
        if args.ldirectord:
            ldbin = patched_ldirectord(d, ipvsadm_stub())
            ld = subprocess.Popen(["taskset", "-c", args.ldirectord_cpu, "perl", str(ldbin), str(config), "start"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            procs.append(ld)
            # its first pass (start-up transitions, forks) is not its steady state: wait until it is over
            t = time.monotonic()
            while ld_counted(d, args.kind) < args.reals + 1 and time.monotonic() - t < args.ldirectord_warmup:
                time.sleep(1)
            out["ldirectord_startup_seconds"] = round(time.monotonic() - t, 1)
        nice = ["nice", "-n", str(args.lvsd_nice)] if args.lvsd_nice else []
        child = subprocess.Popen([*nice, "taskset", "-c", args.lvsd_cpu, sys.executable, __file__, "--child",
                                  str(config), "--warmup", str(args.warmup), "--duration", str(args.duration),
                                  "--loop", args.loop],
                                 stdout=subprocess.PIPE, start_new_session=True)
        procs.append(child)
        ld_start = None
        if ld is not None:
            time.sleep(args.warmup)
            ld_start = (proc_cpu(ld.pid), ld_counted(d, args.kind), time.monotonic())
        stdout, _ = child.communicate(timeout=args.warmup + args.duration + 120)
        out["lvsd"] = json.loads(stdout)
        if ld is not None and ld_start is not None:
            cpu = proc_cpu(ld.pid) - ld_start[0]
            checks = ld_counted(d, args.kind) - ld_start[1]
            elapsed = time.monotonic() - ld_start[2]
            out["ldirectord"] = {
                "checks": checks, "seconds": round(elapsed, 1), "checks_per_second": round(checks / elapsed, 1),
                "cpu_seconds": round(cpu, 2), "cpu_utilisation": round(cpu / elapsed, 3),
                "cpu_s_per_1000_checks": round(cpu / checks * 1000, 3) if checks else None,
                "one_pass_seconds": round(args.reals / (checks / elapsed), 1) if checks else None,
            }
            lv = out["lvsd"]["cpu_s_per_1000_checks"]  # type: ignore[index]
            if checks and lv:
                out["cpu_ratio_ldirectord_over_lvsd"] = round(cpu / checks * 1000 / lv, 1)
        out["load_after"] = os.getloadavg()
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL) if p is not nginx else p.send_signal(signal.SIGQUIT)
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(d, ignore_errors=True)
    print(json.dumps(out, indent=2))
    return 0


def ld_counted(d: Path, kind: str) -> int:
    return count_lines(d / ("ldirectord-requests.log" if kind == "http" else "monitor.log"))


if __name__ == "__main__":
    sys.exit(main())
