"""The daemon's ``status`` answer as the text ``lvsd status`` prints: one virtual service per block."""

from __future__ import annotations

from lvsd.daemon.status import Snapshot


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else (f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s")


def print_status(state: Snapshot) -> None:
    """The daemon's view, one virtual service per block, one real server per line."""
    if state.degraded:
        print("  DEGRADED: kernel operations are failing; lvsd retries them (see the log)")
    sync = state.sync
    if sync is not None:
        vrrp = f", VRRP {sync.vrrp}" if sync.vrrp else (", no VRRP state yet" if sync.role == "vrrp" else "")
        print(f"  sync: role {sync.role}{vrrp}" + ("  DEGRADED" if sync.degraded else ""))
        for daemon in sync.daemons or ("(no sync daemon runs)",):
            print(f"    {daemon}")
    ann = state.announce
    if ann is not None:
        held = f", held withdrawn ({ann['held']})" if ann.get("held") else ""
        where = f" on {ann['interface']}" if ann.get("interface") else ""
        print(f"  announce: {ann.get('mode')}{where}{held}" + ("  DEGRADED" if ann.get("degraded") else ""))
        for r in ann.get("routes", ()):
            pending = f", {'withdraw' if r['announced'] else 'announce'} pending {r['pending']}s" \
                if r.get("pending") is not None else ""
            print(f"    {r['prefix']:<22} {'ANNOUNCED' if r['announced'] else 'withdrawn':<10} "
                  f"since {_ago(r.get('since')):>6}{pending}  {r.get('reason', '')}")
        for w in ann.get("warnings", ()):
            print(f"    WARNING: {w}")
    if state.last_reload and not state.last_reload.get("ok"):
        print("  last reload REFUSED; the configuration in force is the previous one")
    for v in state.virtuals:
        print(f"  {v.service}" + ("" if v.in_kernel else "  (not in the kernel table)"))
        for r in v.reals:
            last = r.last_check
            weight = "-" if r.kernel_weight is None else r.kernel_weight
            latency = f"{last.latency_ms:.1f}ms" if last else "-"
            reason = last.reason if last else "not checked yet"
            print(f"    -> {r.real:<22} {r.state.value:<7} weight {weight!s:<3} {latency:>8}  "
                  f"since {_ago(r.since_change):>6}  {reason}")
        if v.mh is not None:
            print(f"    mh table {v.mh.fingerprint}" + ("" if not v.mh.drift else "  DRIFT: " + "; ".join(v.mh.drift)))
        fb = v.fallback
        if fb:
            print(f"    fallback {fb.server}: {'ACTIVE' if fb.active else 'standby'}")
