"""ldirectord's exact log texts for table edits and health events (pure).

Operators grep for these lines (``Added real server``, ``Quiescent real
server``, ``Deleted fallback server``...), so the wording, spacing and
parentheses are ldirectord's, byte for byte.
"""

from __future__ import annotations

from lvsd.addr import host_port
from lvsd.config.model import RealServer, VirtualService
from lvsd.ipvs.table import ServiceKey
from lvsd.reconcile import Step


def service_label(key: ServiceKey) -> str:
    return str(key.fwmark) if key.is_fwmark else host_port(key.addr, key.port)


def _mapped(step: Step) -> str:
    """`` mapped from RIP:PORT`` when the kernel port differs from the configured one."""
    r, d = step.real, step.op.dest
    if r is None or d is None or r.port == 0 or r.port == d.port:
        return ""
    return f" mapped from {r}"


def step_text(step: Step, phase: str = "start") -> str:
    """The ldirectord line for an applied edit. ``phase`` is "start" or "stop" for purges.

    lvsd adds a quiesced real at weight 0 in one edit where ldirectord adds it
    at full weight and quiesces it: that edit reads ``Readd Quiescent real
    server``, ldirectord's line for an add at weight 0.
    """
    op = step.op
    x = service_label(op.service.key)
    if op.kind == "add-service":
        return f"Added virtual server: {x}"
    if op.kind == "edit-service":
        return f"Changed virtual server: {x}"
    if op.kind == "del-service":
        return f"Purged virtual server ({phase}): {x}"
    d = op.dest
    assert d is not None
    what = "fallback server" if op.role == "fallback" else "real server"
    if op.role == "drain":  # lvsd's graceful drain (drain=yes): its own lines, "Purged" kept for greps
        if op.kind == "del-dest":
            return f"Purged real server ({step.reason or 'drained'}): {d} ({x})"
        return f"Draining real server: {d} ({x}) (Weight set to 0)"
    if op.kind == "del-dest":
        if op.role == "stale":
            return f"Purged real server ({phase}): {d} ({x})"
        return f"Deleted {what}: {d}{_mapped(step)} ({x})"
    if d.weight == 0 and op.role == "real":
        mapped = _mapped(step)
        verb = "Readd Quiescent" if op.kind == "add-dest" else "Quiescent"
        return f"{verb} real server: {d}{mapped + ' ' if mapped else ' '}({x}) (Weight set to 0)"
    verb = "Added" if op.kind == "add-dest" else "Restored"
    return f"{verb} {what}: {d} ({x}) (Weight set to {d.weight})"


def soft_failure(v: VirtualService, r: RealServer, n: int) -> str:
    return f"Soft failure real server: {r} ({v.ident}) failure {n}/{v.failurecount}"


def reset_failures(v: VirtualService, r: RealServer) -> str:
    return f"Resetting soft failure count: {r} ({v.ident})"
