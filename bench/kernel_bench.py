"""Benchmark the kernel table: program a 10,000-real IPVS table, then apply a one-weight reload.

lvsd, ldirectord and keepalived each drive the same table in the same UML lab run
(real IPVS; nothing else should run in the lab meanwhile). The table is
``--services`` virtual services (198.51.100.1:10000...) with ``--reals`` masq
reals each (203.0.113.1...:80), weight 1, no health checks (ldirectord and
lvsd ``checktype=on``, keepalived real servers without a checker). Run::

    tests/lab/run --timeout 3600 --mem 1536M -- .venv/bin/python bench/kernel_bench.py \\
        --out bench/results/kernel.json

What is measured, per program (times are wall clock inside UML):

* **program**: from starting the program on an empty table until the kernel holds
  the whole table (lvsd: ``lvsd CONFIG start`` returns once its first pass has
  applied; the others: polling ``/proc/net/ip_vs``), and the edits it sent;
* **reload**: one real's weight changed in the config, then the reload (lvsd:
  ``lvsd CONFIG reload``, which returns when the daemon has applied it; the others:
  SIGHUP, polling the real's weight over netlink every 10 ms) and the edits sent.

Edits are counted from each program's own account: lvsd's edit log lines,
ldirectord's ``Running system(ipvsadm ...)`` debug lines (``-d``), and for
keepalived the netlink requests its checker process sends (a second, untimed
run under ``strace``). ldirectord forks ipvsadm several times per real server
and needs hours for 10,000 from empty; that run stops at ``--ldirectord-cap``
seconds and reports how far it got (a lower bound on its time). Its reload is
measured on the full table (lvsd programmed it; ldirectord adopts it at start).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lvsd import loaded  # noqa: E402
from lvsd.health import Health, State  # noqa: E402
from lvsd.ipvs.netlink import NetlinkIPVS  # noqa: E402
from lvsd.ipvs.table import ServiceKey, Table  # noqa: E402
from lvsd.reconcile import plan  # noqa: E402

VIP = "198.51.100.1"
BASE = 10000
PROCESS_WAIT = 60.0


@dataclass(frozen=True)
class Spec:
    services: int
    reals: int

    @property
    def entries(self) -> int:
        return self.services * (self.reals + 1)

    @property
    def changed(self) -> tuple[int, str]:
        """The (virtual port, real address) whose weight a reload changes."""
        return BASE + self.services // 2, f"203.0.113.{self.reals // 2 + 1}"

    def weight(self, port: int, rip: str, changed: bool) -> int:
        return 2 if changed and (port, rip) == self.changed else 1

    def members(self) -> list[tuple[int, list[str]]]:
        return [(BASE + s, [f"203.0.113.{r + 1}" for r in range(self.reals)]) for s in range(self.services)]


def lvsd_config(spec: Spec, log: Path, changed: bool) -> str:
    out = [f'logfile="{log}"', "checkinterval=3600", "resyncinterval=3600", "cleanstop=no", "quiescent=no", ""]
    for port, rips in spec.members():
        out.append(f"virtual={VIP}:{port}")
        out += [f"\treal={rip}:80 masq {spec.weight(port, rip, changed)}" for rip in rips]
        out += ["\tchecktype=on", "\tscheduler=wrr", ""]
    return "\n".join(out) + "\n"


def ldirectord_config(spec: Spec, log: Path, changed: bool) -> str:
    out = [f'logfile="{log}"', "checkinterval=3600", "checktimeout=3", "cleanstop=no", "quiescent=no", ""]
    for port, rips in spec.members():
        out.append(f"virtual={VIP}:{port}")
        out += [f"\treal={rip}:80 masq {spec.weight(port, rip, changed)}" for rip in rips]
        out += ["\tchecktype=on", "\tscheduler=wrr", "\tprotocol=tcp", ""]
    return "\n".join(out) + "\n"


def keepalived_config(spec: Spec, changed: bool) -> str:
    out = ["global_defs {", "  router_id lvsd-bench", "}"]
    for port, rips in spec.members():
        out += [f"virtual_server {VIP} {port} {{", "  lb_algo wrr", "  lb_kind NAT", "  protocol TCP"]
        for rip in rips:
            out += [f"  real_server {rip} 80 {{", f"    weight {spec.weight(port, rip, changed)}", "  }"]
        out.append("}")
    return "\n".join(out) + "\n"


# -- reading the kernel ------------------------------------------------------------


def proc_entries() -> int:
    """Services plus dests in /proc/net/ip_vs (cheap: no fork, no netlink)."""
    with open("/proc/net/ip_vs") as f:
        return sum(1 for line in f if line.startswith(("TCP", "UDP", "  ->")))


def clear() -> None:
    subprocess.run(["ipvsadm", "-C"], check=True, timeout=300)


async def _dump() -> Table:
    async with NetlinkIPVS(deadline=10) as nl:
        return await nl.dump()


def check_table(spec: Spec, changed: bool) -> str:
    """'' if the kernel holds exactly the benchmark table, else what differs."""
    table = asyncio.run(_dump())
    if table.size() != spec.entries:
        return f"{table.size()} entries, expected {spec.entries}"
    for port, rips in spec.members():
        dests = table.dests_of(ServiceKey.inet("tcp", VIP, port))
        got = {rip: d.weight for (rip, _), d in dests.items()}
        want = {rip: spec.weight(port, rip, changed) for rip in rips}
        if got != want:
            return f"service {port}: {got} != {want}"
    return ""


def wait_weight(spec: Spec, weight: int, timeout: float, t0: float) -> float | None:
    """Poll the changed real's weight over netlink every 10 ms; seconds from ``t0`` until it is ``weight``."""
    port, rip = spec.changed
    key = ServiceKey.inet("tcp", VIP, port)

    async def poll() -> float | None:
        async with NetlinkIPVS() as nl:
            while time.perf_counter() - t0 < timeout:
                d = (await nl.dests(key)).get((rip, 80))
                if d is not None and d.weight == weight:
                    return time.perf_counter() - t0
                await asyncio.sleep(0.01)
        return None

    return asyncio.run(poll())


def wait_entries(target: int, timeout: float, poll: float = 0.05, t0: float | None = None
                 ) -> tuple[float | None, list[tuple[float, int]]]:
    """Poll /proc/net/ip_vs until it holds ``target`` entries; seconds since ``t0`` and progress samples."""
    t0 = time.perf_counter() if t0 is None else t0
    samples: list[tuple[float, int]] = []
    last = -1.0
    while True:
        now = time.perf_counter() - t0
        n = proc_entries()
        if now - last >= 5:
            samples.append((round(now, 1), n))
            last = now
        if n >= target:
            samples.append((round(now, 2), n))
            return now, samples
        if now > timeout:
            samples.append((round(now, 1), n))
            return None, samples
        time.sleep(poll)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=PROCESS_WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=PROCESS_WAIT)


# -- lvsd --------------------------------------------------------------------------

EDIT = re.compile(r"\] (Added|Changed|Restored|Deleted|Purged|Quiescent|Readd|Draining) ")


def bench_lvsd(spec: Spec, work: Path) -> dict[str, Any]:
    clear()
    cfg, log = work / "lvsd.cf", work / f"lvsd-{spec.services}x{spec.reals}.log"
    cfg.write_text(lvsd_config(spec, log, changed=False))
    env = dict(os.environ, LVSD_RUNDIR=str(work))
    lvsd = [sys.executable, "-m", "lvsd", str(cfg)]
    t0 = time.perf_counter()
    res = subprocess.run([*lvsd, "start"], env=env, capture_output=True, text=True, timeout=600)
    started = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr
    program, _ = wait_entries(spec.entries, 1800, t0=t0)
    time.sleep(1)
    assert not check_table(spec, changed=False), check_table(spec, changed=False)
    text = log.read_text()
    program_ops = len(EDIT.findall(text))
    first_pass = [dict(kv.split("=", 1) for kv in m.split()) for m in re.findall(r"ipvs\.pass (.*)", text)][:1]
    mark = len(text)
    cfg.write_text(lvsd_config(spec, log, changed=True))
    t0 = time.perf_counter()
    res = subprocess.run([*lvsd, "reload"], env=env, capture_output=True, text=True, timeout=600)
    reload = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr
    assert not check_table(spec, changed=True), check_table(spec, changed=True)
    after = log.read_text()[mark:]
    passes = [dict(kv.split("=", 1) for kv in m.split()) for m in re.findall(r"ipvs\.pass (.*)", after)]
    # the daemon's own account of the reload: config read, table read, plan, edits (ms)
    reloaded = re.findall(r"config\.reloaded (.*)", after)
    took = {k: float(v) for k, v in re.findall(r"(\w+_ms)=([\d.]+)", reloaded[-1])} if reloaded else {}
    pid = int((work / f"lvsd.{cfg.name}.pid").read_text())
    t0 = time.perf_counter()
    subprocess.run([*lvsd, "stop"], env=env, capture_output=True, timeout=120)  # cleanstop=no: the table stays
    stopped = _gone(pid, 120)
    stop_s = time.perf_counter() - t0
    return {
        "start_returned_s": round(started, 3), "first_pass": first_pass,
        "program_s": None if program is None else round(program, 3), "program_ops": program_ops,
        "reload_s": round(reload, 3), "reload_ops": len(EDIT.findall(after)),
        "reload_edits": EDIT.findall(after) and [line for line in after.splitlines() if EDIT.search(line)],
        "reload_pass": passes, "reload_daemon_ms": took, "stop_s": round(stop_s, 2), "stopped": stopped,
    }


def _gone(pid: int, timeout: float) -> bool:
    """Wait for the daemon this benchmark started to exit; kill it if it does not (then report False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return False


def bench_lvsd_inprocess(spec: Spec, work: Path) -> dict[str, Any]:
    """The kernel work alone, in one process: plan, then apply in batches of 1 and of 256."""
    log = work / "inproc.log"
    cfg = work / "inproc.cf"
    cfg.write_text(lvsd_config(spec, log, changed=False))
    t0 = time.perf_counter()
    config = loaded.load(str(cfg)).config
    load = time.perf_counter() - t0
    health = {v.member(r): Health(State.UP) for v in config.virtuals for r in v.reals}
    out: dict[str, Any] = {"config_load_s": round(load, 3)}

    async def run() -> None:
        for batch in (1, 256):
            clear()
            t0 = time.perf_counter()
            steps = plan(config, health, Table())
            planned = time.perf_counter() - t0
            async with NetlinkIPVS(batch=batch, deadline=10) as nl:
                t0 = time.perf_counter()
                results = await nl.apply_many([s.op for s in steps])
                applied = time.perf_counter() - t0
                assert not any(results)
                out[f"batch{batch}"] = {"ops": nl.ops_sent, "writes": nl.writes, "plan_s": round(planned, 3),
                                        "apply_s": round(applied, 3)}
        async with NetlinkIPVS(deadline=10) as nl:
            t0 = time.perf_counter()
            live = await nl.dump()
            out["dump_s"] = round(time.perf_counter() - t0, 3)
            cfg.write_text(lvsd_config(spec, log, changed=True))
            changed = loaded.load(str(cfg)).config
            t0 = time.perf_counter()
            steps = plan(changed, health, live, readd=True)
            planned = time.perf_counter() - t0
            t0 = time.perf_counter()
            results = await nl.apply_many([s.op for s in steps])
            applied = time.perf_counter() - t0
            assert not any(results)
            out["reload"] = {"ops": [s.op.ipvsadm() for s in steps], "plan_s": round(planned, 4),
                             "apply_s": round(applied, 4), "writes": nl.writes}

    asyncio.run(run())
    assert not check_table(spec, changed=True)
    return out


# -- ldirectord ----------------------------------------------------------------------


def _ld(work: Path, cfg: Path) -> subprocess.Popen[bytes]:
    out = open(work / "ldirectord.out", "ab")  # handed to the child, closed here
    with out:
        return subprocess.Popen(["ldirectord", "-d", str(cfg), "start"], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=work)


def _ld_text(work: Path) -> str:
    return (work / "ldirectord.out").read_text(errors="replace")


def _ld_ops(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.startswith("Running system("))


def _ld_checked(text: str) -> int:
    return text.count("DEBUG2: Checking on:")


def _wait_checked(work: Path, mark: int, count: int, timeout: float) -> float | None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if _ld_checked(_ld_text(work)[mark:]) >= count:
            return time.perf_counter() - t0
        time.sleep(0.1)
    return None


def bench_ldirectord_on_full_table(spec: Spec, work: Path) -> dict[str, Any]:
    """ldirectord adopting the full table (left by lvsd, with the changed weight), then a one-weight reload."""
    cfg, log = work / "ld.cf", work / "ld.log"
    cfg.write_text(ldirectord_config(spec, log, changed=True))
    reals = spec.reals  # one check per distinct real per pass: ldirectord shares it between virtuals
    proc = _ld(work, cfg)
    try:
        adopt = _wait_checked(work, 0, reals, 1800)
        text = _ld_text(work)
        adopt_ops = _ld_ops(text)
        mark = len(text)
        cfg.write_text(ldirectord_config(spec, log, changed=False))
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGHUP)
        visible = wait_weight(spec, 1, 1800, t0)
        done = _wait_checked(work, mark, reals, 1800)
        total = time.perf_counter() - t0
        after = _ld_text(work)[mark:]
    finally:
        stop(proc)
    return {
        "adopt_s": None if adopt is None else round(adopt, 2), "adopt_ops": adopt_ops,
        "reload_visible_s": None if visible is None else round(visible, 3),
        "reload_done_s": None if done is None else round(total, 2), "reload_ops": _ld_ops(after),
        "reload_edits": [line for line in after.splitlines() if line.startswith("Running system(")][:5],
    }


def bench_ldirectord_from_empty(spec: Spec, work: Path, cap: float) -> dict[str, Any]:
    clear()
    cfg, log = work / "ld-empty.cf", work / "ld.log"
    cfg.write_text(ldirectord_config(spec, log, changed=False))
    (work / "ldirectord.out").write_text("")
    t0 = time.perf_counter()
    proc = _ld(work, cfg)
    try:
        took, samples = wait_entries(spec.entries, cap, poll=0.5, t0=t0)
        text = _ld_text(work)
    finally:
        stop(proc)
    done = samples[-1][1]
    return {"program_s": None if took is None else round(took, 2), "capped_at_s": None if took else cap,
            "entries_done": done, "entries": spec.entries, "ops_so_far": _ld_ops(text), "progress": samples}


# -- keepalived ------------------------------------------------------------------------


def _ka(work: Path, conf: Path, strace: Path | None = None) -> subprocess.Popen[bytes]:
    for pidfile in ("ka.pid", "kac.pid"):  # a stale one makes keepalived refuse to start
        (work / pidfile).unlink(missing_ok=True)
    argv = ["keepalived", "-n", "-l", "-C", "-f", str(conf), "-p", str(work / "ka.pid"), "-c", str(work / "kac.pid")]
    if strace is not None:
        argv = ["strace", "-f", "-qq", "-e", "trace=sendmsg,sendto", "-o", str(strace), *argv]
    out = open(work / "keepalived.out", "ab")  # handed to the child, closed here
    with out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=work)


def _netlink_sends(trace: Path) -> int:
    return sum(1 for line in trace.read_text(errors="replace").splitlines() if "AF_NETLINK" in line
               and ("sendmsg(" in line or "sendto(" in line))


def bench_keepalived(spec: Spec, work: Path) -> dict[str, Any]:
    clear()
    conf = work / "keepalived.conf"
    conf.write_text(keepalived_config(spec, changed=False))
    t0 = time.perf_counter()
    proc = _ka(work, conf)
    try:
        took, _ = wait_entries(spec.entries, 1800, t0=t0)
        assert took is not None and not check_table(spec, changed=False), check_table(spec, changed=False)
        time.sleep(1)
        conf.write_text(keepalived_config(spec, changed=True))
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGHUP)
        visible = wait_weight(spec, 2, 600, t0)
        time.sleep(2)
        settled = check_table(spec, changed=True)
    finally:
        stop(proc)
    return {"program_s": round(took, 3), "reload_visible_s": None if visible is None else round(visible, 3),
            "reload_table_ok": not settled, "reload_problem": settled}


def count_keepalived(spec: Spec, work: Path) -> dict[str, Any]:
    """Untimed: keepalived under strace, to count the netlink requests it sends for each phase."""
    clear()
    conf = work / "keepalived.conf"
    conf.write_text(keepalived_config(spec, changed=False))
    trace = work / "keepalived.strace"
    proc = _ka(work, conf, trace)
    try:
        wait_entries(spec.entries, 3600)
        time.sleep(2)
        program = _netlink_sends(trace)
        conf.write_text(keepalived_config(spec, changed=True))
        pid = int((work / "ka.pid").read_text())
        os.kill(pid, signal.SIGHUP)
        wait_weight(spec, 2, 600, time.perf_counter())
        time.sleep(3)
        reload = _netlink_sends(trace) - program
    finally:
        try:  # stop keepalived itself (strace would only detach), then strace
            os.kill(int((work / "ka.pid").read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        stop(proc)
    return {"program_netlink_sends": program, "reload_netlink_sends": reload,
            "note": "every sendmsg/sendto on a netlink socket, by all keepalived processes (strace -f)"}


# -- main ----------------------------------------------------------------------------------


def parse_scale(text: str) -> Spec:
    services, _, reals = text.partition("x")
    return Spec(int(services), int(reals))


def run_scale(spec: Spec, work: Path, only: set[str], ldirectord_cap: float, ldirectord_adopt_max: int,
              out: dict[str, Any], save: Any) -> None:
    out.update(services=spec.services, reals_per_service=spec.reals, entries=spec.entries)
    steps = [
        ("lvsd", "lvsd", lambda: bench_lvsd(spec, work)),
        ("ldirectord_adopt_and_reload", "ldirectord", lambda: bench_ldirectord_on_full_table(spec, work)),
        ("lvsd_inprocess", "inprocess", lambda: bench_lvsd_inprocess(spec, work)),
        ("keepalived", "keepalived", lambda: bench_keepalived(spec, work)),
        ("keepalived_counts", "count", lambda: count_keepalived(spec, work)),
        ("ldirectord_from_empty", "ldirectord", lambda: bench_ldirectord_from_empty(spec, work, ldirectord_cap)),
    ]
    for name, group, step in steps:
        if group not in only:
            continue
        if name == "ldirectord_adopt_and_reload" and spec.entries > ldirectord_adopt_max:
            out[name] = {"skipped": f"more than {ldirectord_adopt_max} entries: ldirectord re-reads the whole "
                                    "table twice per real server, hours at this size"}
            continue
        if name == "keepalived_counts" and spec.entries > ldirectord_adopt_max:
            out[name] = {"skipped": f"more than {ldirectord_adopt_max} entries: strace inside UML is too slow"}
            continue
        t0 = time.perf_counter()
        print(f"== {spec.services}x{spec.reals} {name} ...", flush=True)
        out[name] = step()
        print(json.dumps(out[name])[:1500], f"({time.perf_counter() - t0:.0f}s)", flush=True)
        save()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="10x20,100x100",
                        help="SERVICESxREALS, comma separated (reals per service at most 254)")
    parser.add_argument("--only", default="lvsd,inprocess,ldirectord,keepalived,count")
    parser.add_argument("--ldirectord-cap", type=float, default=600.0, help="seconds for a from-empty run")
    parser.add_argument("--ldirectord-adopt-max", type=int, default=500,
                        help="largest table (entries) for ldirectord's adopt-and-reload and keepalived's strace runs")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--merge", action="store_true", help="update --out instead of replacing it")
    args = parser.parse_args()
    if not os.path.exists("/proc/net/ip_vs") or os.geteuid() != 0:
        sys.exit("run inside the lab: tests/lab/run -- .venv/bin/python bench/kernel_bench.py")
    only = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="kernel-bench."))
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"), "kernel": os.uname().release,
                               "argv": sys.argv[1:], "scales": {}}
    if args.merge and args.out and args.out.exists():
        previous = json.loads(args.out.read_text())
        previous.setdefault("runs", []).append({"date": results["date"], "argv": results["argv"]})
        results = previous

    def save() -> None:
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2) + "\n")

    try:
        for text in args.scales.split(","):
            spec = parse_scale(text)
            results["scales"].setdefault(text, {})
            run_scale(spec, work, only, args.ldirectord_cap, args.ldirectord_adopt_max, results["scales"][text], save)
            save()
    finally:
        clear()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
