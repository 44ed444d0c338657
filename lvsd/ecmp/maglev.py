"""The same ``mh`` (Maglev) table on every director: the rules lvsd follows, a fingerprint, and drift (pure).

The kernel fills an ``mh`` service's lookup table by walking its real servers in list order
(a real server added goes to the head of the list, ties go to the first) with each one's
*last non-zero* weight (a real server added at weight 0 owns no slots; one quiesced to weight
0 keeps them). So that directors with the same config and the same health hold the same
table whatever happened in between, lvsd (:mod:`lvsd.reconcile`):

* adds an ``mh`` service's real servers in config order, so the kernel's list is the config's
  reversed on every director, and a real server appended to the config lands where a fresh
  director would put it;
* adds a real server at its configured weight and quiesces it right after (same batch) when
  it is not up, never adds it at weight 0;
* never deletes a failed real server (weight 0 instead; with ``quiescent=no`` it also sets
  ``mh-fallback``, so that its flows go to the others instead of being dropped).

:func:`fingerprint` digests what decides where a flow goes (scheduler flags, list order, last
weights, which real servers are available): equal fingerprints, same mapping; operators compare
it across directors. :func:`drift` says why this director's table differs from the one a
fresh director would build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from lvsd.config.model import VirtualService
from lvsd.ipvs.table import F_SCHED1, F_SCHED2, Dest, Service
from lvsd.reconcile import kernel_port

DestKey = tuple[str, int]


def configured_weights(v: VirtualService) -> dict[DestKey, int]:
    """The weight lvsd last gave each configured real server (its configured weight), by kernel key."""
    return {(r.ip, kernel_port(v, r.forward, r.port)): r.weight for r in v.reals}


def expected_order(v: VirtualService, present: Mapping[DestKey, Dest]) -> list[DestKey]:
    """The order a fresh director's kernel lists the configured real servers in ``present``: config order reversed."""
    seen: dict[DestKey, None] = {}
    for r in v.reals:
        key = (r.ip, kernel_port(v, r.forward, r.port))
        if key in present:
            seen[key] = None
    return list(reversed(seen))


def fingerprint(v: VirtualService, service: Service | None, dests: Mapping[DestKey, Dest]) -> str:
    """A short digest of the kernel's ``mh`` lookup: flags, list order, last weights, availability.

    ``dests`` in the kernel's list order (as a dump returns them). The last weight of a real
    server at weight 0 is its configured weight (lvsd never adds at weight 0).
    """
    weights = configured_weights(v)
    flags = (service.flags if service is not None else 0) & (F_SCHED1 | F_SCHED2)
    parts = [f"{service.scheduler if service is not None else '-'}:{flags}"]
    for key, d in dests.items():
        last = d.weight if d.weight > 0 else weights.get(key, 0)
        parts.append(f"{key[0]}|{key[1]}|{last}|{int(d.weight > 0)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def drift(v: VirtualService, dests: Mapping[DestKey, Dest]) -> list[str]:
    """Why this table differs from a fresh director's with the same health (empty: it does not)."""
    weights = configured_weights(v)
    order = [k for k in dests if k in weights]
    want = expected_order(v, dests)
    out = []
    if order != want:
        moved = [f"{a}:{p}" for (a, p), w in zip(order, want, strict=True) if (a, p) != w]
        out.append(f"real servers listed out of config order ({', '.join(moved)}): a real server inserted into "
                   "the config (not appended) or added by hand; this director may send a few flows elsewhere "
                   "than a freshly started one")
    stale = [f"{a}:{p}" for (a, p) in dests if (a, p) not in weights and (a, p) != _fallback_key(v)]
    if stale:
        out.append(f"real servers the config does not name: {', '.join(stale)}")
    return out


def _fallback_key(v: VirtualService) -> DestKey | None:
    fb = v.fallback
    return None if fb is None else (fb.ip, kernel_port(v, fb.forward, fb.port))
