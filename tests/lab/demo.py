"""A standalone tour of the lab, and a stopwatch for it.

    tests/lab/run -- .venv/bin/python tests/lab/demo.py

Builds the lab, makes a masq round-robin service by hand, sends client traffic, fails a
backend each way in turn and prints what the client and the backends saw.
"""

from __future__ import annotations

import os
import sys
import time

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from lab.lab import Lab  # noqa: E402

SERVICE = f"{Lab.VIP}:80"


def main() -> int:
    t0 = time.monotonic()
    with Lab(n_reals=3) as lab:
        print(f"lab up in {time.monotonic() - t0:.2f}s "
              f"(topology {lab.timings['topology']:.2f}s)")
        lab.ipvsadm(f"-A -t {SERVICE} -s rr")
        try:
            for ip in lab.real_ips:
                lab.ipvsadm(f"-a -t {SERVICE} -r {ip}:80 -m")
            print(lab.ipvsadm("-Ln"), end="")
            t1 = time.monotonic()
            tally = lab.client.get_many(30)
            print(f"30 GETs in {time.monotonic() - t1:.2f}s: {tally}")
            conn = lab.client.open_persistent()
            print("persistent connection answered by", conn.request().backend)
            for mode in ("refuse", "wrongpage", "error500", "slow", "blackhole"):
                lab.backend("rs1").set_mode(mode)
                print(f"rs1 {mode:9}: {lab.client.get_many(3, timeout=1.0)}")
            lab.backend("rs1").set_mode("up")
            print("persistent connection still answered by", conn.request().backend)
            print("served:", {b.name: b.served() for b in lab.backends})
        finally:
            lab.ipvsadm(f"-D -t {SERVICE}")
    print(f"total {time.monotonic() - t0:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
