"""The two-director demo (``scripts/demo pair``): lvsd on keepalived's VRRP, the active director's link cut.

Two directors in the lab, each with the real lvsd and keepalived (VRRP only, configured by
``lvsd keepalived``), DR real servers and a client with six long-lived connections echoing
every 200 ms. The active director's link goes down; the last line says how long new
connections failed and how many long-lived ones lived through it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.lab.pair import PairLab


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        print("pair: two directors (lvsd + keepalived VRRP), DR real servers, 6 long-lived connections;"
              " cutting the active director's link", flush=True)
        got = PairLab(Path(tmp)).scenario("lvsd", "link")
    back = got["new_connections_back_s"]
    if back is None:
        print(f"pair: failover FAILED (no new connection worked again), long-lived connections kept "
              f"{got['long_lived_kept']}/{got['long_lived']}")
        return 1
    print(f"pair: failover {back:.2f} s, long-lived connections kept {got['long_lived_kept']}/{got['long_lived']}")
    return 0 if got["long_lived_kept"] == got["long_lived"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
