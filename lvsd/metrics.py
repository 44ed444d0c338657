"""Prometheus metrics: check results and latency per real server, transitions,
kernel operations and errors, config reloads (off by default; loopback by default).

A small registry of counters, gauges and histograms rendered in Prometheus's
text format, fed by the owner loop; :class:`MetricsServer` serves it over
aiohttp on ``/metrics``. It only reads what the daemon reports.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from aiohttp import web

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
Labels = tuple[tuple[str, str], ...]


def _labels(labels: Labels, extra: Iterable[tuple[str, str]] = ()) -> str:
    items = [*labels, *extra]
    if not items:
        return ""
    esc = [(k, v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")) for k, v in items]
    return "{" + ",".join(f'{k}="{v}"' for k, v in esc) + "}"


class Histogram:
    __slots__ = ("count", "counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * len(LATENCY_BUCKETS)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(LATENCY_BUCKETS, value)
        if i < len(self.counts):
            self.counts[i] += 1
        self.sum += value
        self.count += 1


class Registry:
    def __init__(self) -> None:
        self.counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self.gauges: dict[str, dict[Labels, float]] = defaultdict(dict)
        self.histograms: dict[str, dict[Labels, Histogram]] = defaultdict(dict)
        self.help: dict[str, str] = {}

    def inc(self, name: str, labels: Labels = (), by: float = 1.0) -> None:
        series = self.counters[name]
        series[labels] = series.get(labels, 0.0) + by

    def gauge(self, name: str, value: float, labels: Labels = ()) -> None:
        self.gauges[name][labels] = value

    def observe(self, name: str, value: float, labels: Labels = ()) -> None:
        series = self.histograms[name]
        h = series.get(labels)
        if h is None:
            h = series[labels] = Histogram()
        h.observe(value)

    def forget(self, gone: set[Labels]) -> None:
        """Drop every series of the (virtual, real) pairs a reload removed (``gone`` holds their two labels)."""
        if not gone:
            return
        families: list[dict[Labels, Any]] = [*self.counters.values(), *self.gauges.values(), *self.histograms.values()]
        for family in families:
            for labels in [lb for lb in family if lb[:2] in gone]:
                del family[labels]

    def render(self) -> str:
        out: list[str] = []
        for kind, families in (("counter", self.counters), ("gauge", self.gauges)):
            for name in sorted(families):
                out.append(f"# HELP {name} {self.help.get(name, name)}")
                out.append(f"# TYPE {name} {kind}")
                for labels, value in sorted(families[name].items()):
                    out.append(f"{name}{_labels(labels)} {value:g}")
        for name in sorted(self.histograms):
            out.append(f"# HELP {name} {self.help.get(name, name)}")
            out.append(f"# TYPE {name} histogram")
            for labels, h in sorted(self.histograms[name].items()):
                running = 0
                for bound, n in zip(LATENCY_BUCKETS, h.counts, strict=True):
                    running += n
                    out.append(f"{name}_bucket{_labels(labels, [('le', f'{bound:g}')])} {running}")
                out.append(f"{name}_bucket{_labels(labels, [('le', '+Inf')])} {h.count}")
                out.append(f"{name}_sum{_labels(labels)} {h.sum:.6f}")
                out.append(f"{name}_count{_labels(labels)} {h.count}")
        return "\n".join(out) + "\n"


REGISTRY_HELP = {
    "lvsd_checks_total": "Health checks run, by virtual, real server and result",
    "lvsd_check_latency_seconds": "Health check duration, by virtual and real server",
    "lvsd_real_up": "1 if the real server is in service (up), else 0",
    "lvsd_real_transitions_total": "Real server state changes, by new state",
    "lvsd_ipvs_operations_total": "Kernel IPVS edits applied, by kind",
    "lvsd_ipvs_errors_total": "Kernel IPVS edits or reads that failed, by kind",
    "lvsd_config_reloads_total": "Config reloads, by result",
    "lvsd_degraded": "1 while kernel operations are failing",
    "lvsd_sync_daemon_running": "1 while the kernel's connection sync daemon of this state runs",
    "lvsd_sync_daemon_syncid": "the sync id of the running sync daemon of this state",
    "lvsd_sync_daemon_changes_total": "sync daemons lvsd started or stopped",
}


def new_registry() -> Registry:
    r = Registry()
    r.help.update(REGISTRY_HELP)
    return r


class MetricsServer:
    """``GET /metrics`` on ``host:port`` (loopback unless told otherwise)."""

    def __init__(self, registry: Registry, host: str, port: int) -> None:
        self.registry = registry
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(text=self.registry.render(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def parse_address(text: str) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[V6]:PORT``; the host defaults to 127.0.0.1."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    value = int(port)
    if not 0 < value < 65536:
        raise ValueError(f"port out of range: {port}")
    return host, value
