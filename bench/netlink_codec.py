#!/usr/bin/env python3
"""lvsd's own IPVS netlink codec against pyroute2's, and the stdlib event loop against uvloop.

Run inside the kernel lab (real IPVS):

    tests/lab/run --timeout 900 -- .venv/bin/python bench/netlink_codec.py [--reals 1000] [--dumps 30]

One TCP service on 198.51.100.1:80 with --reals masq real servers (203.0.113.0/24 and
onwards in documentation space, port 80 + n so they stay distinct). For each client, in
this one kernel:

- program: add the service and every real from an empty table (lvsd: batched
  ``apply_many``; pyroute2: one ``dest("add")`` per real, its only way), seconds;
- dump: read the whole table back, ``--dumps`` times; median and best milliseconds;
- lvsd's dump again under uvloop (``uvloop.run``) instead of ``asyncio.run``.

Both clients' dumps must list the same reals with the same weights, or the run fails.
Prints one JSON object. Bounded: a fixed number of operations, a deadline on each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lvsd.ipvs.netlink import NetlinkIPVS
from lvsd.ipvs.table import Dest, Op, Service, ServiceKey

VIP = "198.51.100.1"


def real(n: int) -> tuple[str, int]:
    return f"203.0.113.{1 + n % 250}", 80 + n // 250


def clear() -> None:
    subprocess.run(["ipvsadm", "-C"], check=True, timeout=120)


def entries() -> int:
    with open("/proc/net/ip_vs") as f:
        return sum(1 for line in f if line.startswith(("TCP", "  ->")) and "RemoteAddress" not in line)


def timed(runs: int, fn: Callable[[], object]) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(ms), 2), "best_ms": round(min(ms), 2)}


# -- lvsd ----------------------------------------------------------------------------------


KEY = ServiceKey.inet("tcp", VIP, 80)


def lvsd_program(reals: int) -> None:
    async def go() -> None:
        async with NetlinkIPVS(deadline=30) as nl:
            svc = Service(key=KEY, scheduler="wrr")
            ops = [Op(kind="add-service", service=svc)]
            for n in range(reals):
                ip, port = real(n)
                dest = Dest(addr=ip, port=port, forward="masq", weight=1 + n % 5)
                ops.append(Op(kind="add-dest", service=svc, dest=dest))
            errors = [e for e in await nl.apply_many(ops) if e is not None]
            if errors:
                raise SystemExit(f"lvsd: {len(errors)} edits failed, first {errors[0]}")
    asyncio.run(go())


Seen = dict[tuple[str, int], int]  # (real, port) -> weight


def lvsd_dumper(run: Callable[[Coroutine[Any, Any, Any]], Any], dumps: int) -> tuple[list[float], Seen]:
    async def go() -> tuple[list[float], Seen]:
        times: list[float] = []
        seen: Seen = {}
        async with NetlinkIPVS(deadline=30) as nl:
            for _ in range(dumps):
                t0 = time.perf_counter()
                table = await nl.dump()
                times.append((time.perf_counter() - t0) * 1000)
            seen = {k: d.weight for k, d in table.dests_of(KEY).items()}
        return times, seen
    result: tuple[list[float], Seen] = run(go())
    return result


# -- pyroute2 ------------------------------------------------------------------------------


def pyroute2_program(reals: int) -> None:
    from pyroute2 import IPVS, IPVSDest, IPVSService

    with IPVS() as ipvs:
        svc = IPVSService(addr=VIP, port=80, protocol=socket.IPPROTO_TCP, sched_name="wrr")
        ipvs.service("add", service=svc)
        for n in range(reals):
            ip, port = real(n)
            ipvs.dest("add", service=svc, dest=IPVSDest(addr=ip, port=port, fwd_method=0, weight=1 + n % 5))


def pyroute2_dumper(dumps: int) -> tuple[list[float], dict[tuple[str, int], int]]:
    from pyroute2 import IPVS, IPVSService

    times: list[float] = []
    seen: dict[tuple[str, int], int] = {}
    with IPVS() as ipvs:
        for _ in range(dumps):
            t0 = time.perf_counter()
            services = list(ipvs.service("dump"))
            dests = []
            for s in services:
                dests += list(ipvs.dest("dump", service=IPVSService(**_service_fields(s))))
            times.append((time.perf_counter() - t0) * 1000)
        for d in dests:
            attrs = dict(d.get_attr("IPVS_CMD_ATTR_DEST")["attrs"])
            seen[(attrs["IPVS_DEST_ATTR_ADDR"], attrs["IPVS_DEST_ATTR_PORT"])] = attrs.get("IPVS_DEST_ATTR_WEIGHT", -1)
    return times, seen


def _service_fields(msg: Any) -> dict[str, Any]:
    attrs = dict(msg.get_attr("IPVS_CMD_ATTR_SERVICE")["attrs"])
    return {"addr": attrs["IPVS_SVC_ATTR_ADDR"], "port": attrs["IPVS_SVC_ATTR_PORT"],
            "protocol": attrs["IPVS_SVC_ATTR_PROTOCOL"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reals", type=int, default=1000)
    parser.add_argument("--dumps", type=int, default=30)
    args = parser.parse_args()
    if not os.path.exists("/proc/net/ip_vs"):
        sys.exit("run inside the lab: tests/lab/run -- .venv/bin/python bench/netlink_codec.py")
    import uvloop

    out: dict[str, Any] = {"reals": args.reals, "dumps": args.dumps}
    clear()
    t0 = time.perf_counter()
    pyroute2_program(args.reals)
    out["pyroute2_program_s"] = round(time.perf_counter() - t0, 3)
    assert entries() == args.reals + 1, entries()
    clear()
    t0 = time.perf_counter()
    lvsd_program(args.reals)
    out["lvsd_program_s"] = round(time.perf_counter() - t0, 3)
    assert entries() == args.reals + 1, entries()

    lv_times, lv_seen = lvsd_dumper(asyncio.run, args.dumps)
    uv_times, uv_seen = lvsd_dumper(uvloop.run, args.dumps)
    pr_times, pr_seen = pyroute2_dumper(args.dumps)
    if not (lv_seen == uv_seen == pr_seen) or len(lv_seen) != args.reals:
        sys.exit(f"the dumps differ: lvsd {len(lv_seen)}, uvloop {len(uv_seen)}, pyroute2 {len(pr_seen)} reals")
    out["lvsd_dump"] = summary(lv_times)
    out["lvsd_dump_uvloop"] = summary(uv_times)
    out["pyroute2_dump"] = summary(pr_times)
    out["program_ratio_pyroute2_over_lvsd"] = round(out["pyroute2_program_s"] / out["lvsd_program_s"], 1)
    out["dump_ratio_pyroute2_over_lvsd"] = round(out["pyroute2_dump"]["median_ms"] / out["lvsd_dump"]["median_ms"], 1)
    uv, std = out["lvsd_dump_uvloop"]["median_ms"], out["lvsd_dump"]["median_ms"]
    out["dump_ratio_uvloop_over_stdlib"] = round(uv / std, 2)
    clear()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
