"""The active-active demo (``scripts/demo ecmp``): three directors behind a BGP/ECMP router, lvsd on each.

A BIRD router learns the VIP from three directors (two speak BGP with ExaBGP, fed by ``lvsd
exabgp``; one with BIRD, exporting what lvsd puts on ``announce0``) and spreads a client's
long-lived flows over them; every director runs lvsd with the ``mh`` scheduler in front of DR
real servers. On fresh flows each time: a real server fails, a real server is added, a director
leaves planned (``lvsd leave``: withdraw, wait, then stop), a director is killed. The last line
says, over the real server changes, the share of flows broken other than the failed server's
own (those end with it), and the share broken by the planned leave.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.lab.ecmp import EcmpLab

FLOWS = 60


def show(r: dict[str, Any]) -> None:
    print(f"ecmp: {r['label']:<22} {r['broken']:>2}/{r['established']} flows broken "
          f"(by server: {r['broken_servers'] or 'none'}), {r['moved']} moved by the router", flush=True)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        lab = EcmpLab(Path(tmp))
        try:
            print("ecmp: building a router, 3 directors, 4 real servers and a client (UML network namespaces)",
                  flush=True)
            lab.build()
            lab.start_directors("lvsd", "mh")
            took = lab.wait_ready(timeout=90)
            route = " ".join(lab.route_text().replace(" weight 1", "").split())
            print(f"ecmp: 3 directors announce the VIP; router: {route} (ready in {took:.0f} s)", flush=True)
            failed = lab.measure("rs1 fails", lambda: lab.fail_real("rs1"), flows=FLOWS)
            show(failed)
            lab.restore_real("rs1")
            added = lab.measure("rs4 added (reload)", lambda: lab.add_real("rs4"), flows=FLOWS)
            show(added)
            left = lab.measure("ed2 leaves (planned)", lambda: lab.leave("ed2"), flows=FLOWS)
            show(left)
            killed = lab.measure("ed1 killed", lambda: lab.crash("ed1"), flows=FLOWS)
            show(killed)
        except Exception:
            print(lab.diagnostics()[-6000:], file=sys.stderr)
            raise
        finally:
            lab.teardown()
    own = failed["broken_servers"].get("rs1", 0)
    collateral = failed["broken"] - own + added["broken"]
    real_pct = 100.0 * collateral / (failed["established"] + added["established"])
    leave_pct = 100.0 * left["broken"] / left["established"]
    print(f"ecmp: the unplanned leave broke {killed['broken']} of {killed['established']} flows "
          f"({killed['moved']} moved); rs1's own {own} flows ended with it")
    print(f"ecmp: directors 3, flows broken on real change {real_pct:.0f}%, on planned leave {leave_pct:.0f}%")
    return 0 if collateral == 0 and left["broken"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
