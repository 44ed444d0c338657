"""Flows broken behind ECMP: three directors, mh against wlc, every kind of change, in one lab run.

    tests/lab/run --timeout 1800 -- .venv/bin/python bench/ecmp_flows.py [--flows 60] [--out FILE] [--manual]

A BIRD router learns 198.51.100.1/32 by BGP from three directors (ed1 and ed2 with ExaBGP running
``lvsd exabgp``, ed3 with BIRD exporting what lvsd puts on ``announce0``) and spreads flows over
them by ECMP; the directors run lvsd in front of DR real servers (tests/lab/ecmp.py). For each
scheduler (``mh`` with ``mh-port``, then ``wlc``), on fresh long-lived flows each time: rs1 fails
and comes back, rs4 is added (config + reload on every director), ed2 (ExaBGP) and ed3 (BIRD)
leave planned (``lvsd leave``, then stop) and come back, ed1 is killed (its link down, kill -9 of
lvsd and its speaker: the router drops it by BGP hold time) and comes back. Each step: how many
established flows broke, how many the router moved to another director and how many of those
broke, whose flows broke, and how long the route took to change.

``--manual``: the engines alone (tables programmed with ipvsadm, announcements by hand), the
baseline that shows what BGP, ECMP and ``mh`` do without lvsd.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.lab.ecmp import EcmpLab, Mode, Scheduler


def line(r: dict[str, Any]) -> str:
    return (f"  {r['label']:<26} broken {r['broken']:>3}/{r['established']:<3} ({r['broken_pct']}%)"
            f"  moved {r['moved']:>3} (broken of them {r['broken_moved']}, of the others {r['broken_unmoved']})"
            f"  route {r.get('route_change_s')} s  via {r['directors_before']}  reasons {r['reasons']}")


def summary(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per scheduler: collateral flows broken by real server changes (not the failed server's own), flows broken
    by planned leaves and joins, by the kill and the return; moved and broken among the moved."""
    out: dict[str, dict[str, Any]] = {}
    for scheduler in ("mh", "wlc"):
        rs = [r for r in results if r["label"].startswith(scheduler + ":")]
        if not rs:
            continue

        def pick(*words: str, among: list[dict[str, Any]] = rs) -> list[dict[str, Any]]:
            return [r for r in among if any(w in r["label"] for w in words)]

        real = pick("rs1 fails", "rs1 back", "rs4 added")
        own = sum(r.get("broken_servers", {}).get("rs1", 0) for r in pick("rs1 fails"))
        planned = pick("leaves", "joins", "withdraws", "announces again")
        unplanned = pick("killed", "back", among=[r for r in rs if "ed1" in r["label"]])
        est = sum(r["established"] for r in real)
        out[scheduler] = {
            "real_change_broken_pct": round(100.0 * (sum(r["broken"] for r in real) - own) / est, 1) if est else None,
            "real_change_own_flows_broken": own,
            "planned_broken_pct": pct(planned), "planned_moved": sum(r["moved"] for r in planned),
            "unplanned_broken_pct": pct(unplanned), "unplanned_moved": sum(r["moved"] for r in unplanned),
            "moved": sum(r["moved"] for r in rs), "moved_broken": sum(r["broken_moved"] for r in rs),
        }
    return out


def pct(rs: list[dict[str, Any]]) -> float | None:
    est = sum(r["established"] for r in rs)
    return round(100.0 * sum(r["broken"] for r in rs) / est, 1) if est else None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flows", type=int, default=60)
    parser.add_argument("--settle", type=float, default=12.0)
    parser.add_argument("--out", type=Path, help="where the JSON goes (default: bench/results/ecmp-flows.json, "
                        "or ecmp-flows-manual.json with --manual)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    parser.add_argument("--manual", action="store_true",
                        help="hand-programmed ipvsadm tables and announcements instead of lvsd")
    args = parser.parse_args()
    mode: Mode = "manual" if args.manual else "lvsd"
    out = args.out or Path(__file__).resolve().parent / "results" / (
        "ecmp-flows-manual.json" if args.manual else "ecmp-flows.json")
    work = Path(tempfile.mkdtemp(prefix="lvsd-ecmp-"))
    lab = EcmpLab(work)
    results: list[dict[str, Any]] = []
    ok = False
    try:
        t = time.monotonic()
        lab.build()
        print(f"ecmp: lab built in {time.monotonic() - t:.1f} s (work {work})", flush=True)
        schedulers: tuple[Scheduler, ...] = ("mh", "wlc")
        for scheduler in schedulers:
            lab.start_directors(mode, scheduler)
            took = lab.wait_ready(timeout=60)
            print(f"ecmp: {scheduler} ({mode}): three directors ready in {took:.1f} s; router: "
                  f"{' | '.join(lab.route_text().split(chr(10)))}", flush=True)
            if mode == "lvsd":
                for d in lab.directors.values():
                    print(f"ecmp: {scheduler}: {d.name} status:\n{d.status().rstrip()}", flush=True)
            for label, action in lab.scenarios(mode):
                r = lab.measure(f"{scheduler}: {label}", action, flows=args.flows, settle=args.settle)
                results.append(r)
                print(line(r), flush=True)
            lab.stop_directors()
            lab.wait_nexthops([], 20)
        ok = True
    except Exception:
        print(lab.diagnostics()[-8000:], file=sys.stderr)
        raise
    finally:
        lab.teardown()
        if ok:
            out.write_text(json.dumps({"machine": {"cpu": platform.processor() or platform.machine(),
                                                   "kernel": "UML 6.1 (tests/lab)"},
                                       "flows_per_step": args.flows, "mode": mode, "results": results,
                                       "summary": summary(results)}, indent=1) + "\n")
        if not args.keep and ok:
            import shutil
            shutil.rmtree(work, ignore_errors=True)
    for scheduler, line_ in summary(results).items():
        print(f"ecmp: {scheduler}: {line_}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
