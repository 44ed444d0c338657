"""Director pair failover, lvsd + keepalived's VRRP against keepalived's whole stack, in one lab run.

    tests/lab/run --timeout 3000 -- .venv/bin/python bench/pair_failover.py [--repeat 2] [--out FILE]

Two directors in their own network namespaces, DR real servers, a client with six long-lived
connections echoing every 200 ms and a new connection every 100 ms (tests/lab/pair.py). For
each stack, each way of breaking the active director (its link down; kill -9 of everything it
runs; every real server failing its checks from it only), ``--repeat`` times: how long until a
new connection worked again (``new_connections_back_s``), until the standby held the VIP
(``vip_moved_s``, polled every 50 ms), and how many long-lived connections lived through it.
Then lvsd alone: a planned switchover and the failback after its warm-up, and the link failure
at shorter VRRP advertisement intervals (``advert``), to find the fastest failover that still
keeps every connection without the VIP flapping back (``vip_lost_again``).
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

from tests.lab.pair import PairLab, fresh_failback

FAILURES = ("link", "kill", "checks")
STACKS = ("lvsd", "keepalived")
ADVERTS = (0.5, 0.3, 0.2)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "pair-failover.json")
    parser.add_argument("--quick", action="store_true", help="the link failure once per stack, nothing else")
    parser.add_argument("--forward", choices=("gate", "masq"), default="gate")
    parser.add_argument("--adverts", action="store_true",
                        help="only the lvsd link failure at each sub-second advert, --repeat times, into --out")
    parser.add_argument("--advert-list", default="1,0.5,0.3,0.2", help="the adverts --adverts runs (seconds)")
    parser.add_argument("--fresh", metavar="WARMUPS",
                        help="only: A crashes, comes back empty, takes the VIP back after each warm-up (e.g. 0,15)")
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        lab = PairLab(Path(tmp), args.forward)
        if args.fresh:
            for warmup in (int(w) for w in args.fresh.split(",")):
                got = fresh_failback(lab, warmup=warmup)
                print(json.dumps(got), flush=True)
                runs.append(got)
            args.out.write_text(json.dumps({"host": platform.node(), "runs": runs}, indent=2) + "\n")
            return 0
        if args.adverts:
            for _ in range(args.repeat):
                for advert in (float(a) for a in args.advert_list.split(",")):
                    got = lab.scenario("lvsd", "link", advert=advert)
                    print(json.dumps(got), flush=True)
                    runs.append(got)
            args.out.write_text(json.dumps({"host": platform.node(), "repeat": args.repeat, "runs": runs}, indent=2)
                                + "\n")
            return 0
        failures = ("link",) if args.quick else FAILURES
        for _ in range(1 if args.quick else args.repeat):
            for failure in failures:
                for stack in STACKS:
                    got = lab.scenario(stack, failure)  # type: ignore[arg-type]
                    print(json.dumps(got), flush=True)
                    runs.append(got)
        extra: list[dict[str, Any]] = []
        if not args.quick:
            got = {"scenario": "switchover-and-back", **lab.switchover_and_back(warmup=6)}
            print(json.dumps(got), flush=True)
            extra.append(got)
            for advert in ADVERTS:
                got = lab.scenario("lvsd", "link", advert=advert)
                print(json.dumps(got), flush=True)
                extra.append(got)
    result = {"host": platform.node(), "kernel": platform.release(), "repeat": args.repeat, "forward": args.forward,
              "took_s": round(time.monotonic() - t0, 1), "runs": runs, "lvsd_more": extra}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(runs)
    return 0


def print_table(runs: list[dict[str, Any]]) -> None:
    print(f"{'stack':<11}{'failure':<8}{'VIP moved s':>12}{'answers s':>11}{'kept':>8}")
    for r in runs:
        moved = "never" if r["vip_moved_s"] is None else f"{r['vip_moved_s']:.2f}"
        back = "never" if r["new_connections_back_s"] is None else f"{r['new_connections_back_s']:.2f}"
        print(f"{r['stack']:<11}{r['failure']:<8}{moved:>12}{back:>11}{r['long_lived_kept']:>5}/{r['long_lived']}")


if __name__ == "__main__":
    raise SystemExit(main())
