"""What a check is asked (:class:`CheckSpec`) and what it answers (:class:`CheckResult`).

A failing backend is a value, not an exception: every check returns a result
whose message an operator can act on (``GET /: status 500, expected 2xx``).
The spec is derived from the config; two real servers checked the same way
have equal specs, and a reload that leaves a spec unchanged keeps its state.
"""

from __future__ import annotations

from dataclasses import dataclass

from lvsd.config.model import RealServer, VirtualService

# The port a negotiate check uses when neither checkport nor the real's port gives one.
SERVICE_PORTS = {
    "ftp": 21, "smtp": 25, "dns": 53, "http": 80, "pop": 110, "nntp": 119, "imap": 143,
    "ldap": 389, "https": 443, "submission": 587, "ldaps": 636, "imaps": 993, "pops": 995,
    "oracle": 1521, "radius": 1812, "http_proxy": 3128, "mysql": 3306, "sip": 5060, "pgsql": 5432,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckSpec:
    kind: str  # "connect" | "negotiate" | "on" | "off"
    service: str  # negotiate protocol (http, https, none, ...)
    host: str  # the real server's address
    port: int
    timeout: float  # deadline for the whole check, seconds
    request: str = "/"
    receive: str = ""
    virtualhost: str | None = None
    method: str = "GET"

    def describe(self) -> str:
        h = f"[{self.host}]" if ":" in self.host else self.host
        if self.kind == "negotiate":
            return f"{self.service} {h}:{self.port}{self.request if self.service.startswith('http') else ''}"
        return f"{self.kind} {h}:{self.port}"


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    message: str
    latency: float = 0.0  # seconds the check took


def check_port(v: VirtualService, r: RealServer) -> int:
    """ldirectord's rule: checkport, else the real's port, else the service's port, else the virtual's."""
    if v.checkport:
        return v.checkport
    if r.port:
        return r.port
    return SERVICE_PORTS.get(v.service, v.port)


def spec_for(v: VirtualService, r: RealServer) -> CheckSpec:
    kind = v.checktype
    timeout = v.negotiatetimeout if kind == "negotiate" else v.checktimeout
    return CheckSpec(
        kind=kind,
        service=v.service,
        host=r.ip,
        port=check_port(v, r),
        timeout=timeout,
        request=r.request if r.request is not None else v.request,
        receive=r.receive if r.receive is not None else v.receive,
        virtualhost=v.virtualhost,
        method=v.httpmethod,
    )
