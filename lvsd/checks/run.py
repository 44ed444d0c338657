"""Run one check under its deadline, turning every outcome into a :class:`CheckResult`."""

from __future__ import annotations

import asyncio
import errno
import ssl
import time

import aiohttp

from lvsd.checks import http, tcp
from lvsd.checks.base import CheckResult, CheckSpec

NEGOTIATE_SERVICES = {"http", "https", "none"}  # services whose negotiate check exists in this version


class UnsupportedCheck(ValueError):
    """The config asks for a check this lvsd cannot run."""


def validate(spec: CheckSpec) -> None:
    if spec.kind in ("connect", "on", "off"):
        return
    if spec.kind == "negotiate" and spec.service in NEGOTIATE_SERVICES:
        return
    what = f"service={spec.service}" if spec.kind == "negotiate" else f"checktype={spec.kind}"
    raise UnsupportedCheck(f"{what} checks are not implemented in this version of lvsd")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return "connection refused"
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_err = exc.os_error
        if isinstance(os_err, ConnectionRefusedError) or getattr(os_err, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        return f"cannot connect: {os_err.strerror or os_err}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server closed the connection without answering"
    if isinstance(exc, aiohttp.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"{type(exc).__name__}: {exc}"


async def run_check(spec: CheckSpec, session: aiohttp.ClientSession | None = None) -> CheckResult:
    """Run ``spec`` once. Never raises (except cancellation); the deadline covers everything."""
    start = time.monotonic()
    if spec.kind == "on":
        return CheckResult(True, "checktype=on")
    if spec.kind == "off":
        return CheckResult(False, "checktype=off")
    if spec.kind == "negotiate" and spec.service == "none":
        return CheckResult(True, "service=none: no check")
    try:
        async with asyncio.timeout(spec.timeout):
            if spec.kind == "connect":
                ok, msg = await tcp.connect(spec)
            elif session is None:
                async with http.new_session() as own:
                    ok, msg = await http.negotiate(spec, own)
            else:
                ok, msg = await http.negotiate(spec, session)
    except TimeoutError:
        what = f"{spec.method} {spec.request}" if spec.kind == "negotiate" else "connect"
        return CheckResult(False, f"{what}: no answer within {spec.timeout:g}s", time.monotonic() - start)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a misbehaving backend is a result, never a crash
        return CheckResult(False, _describe(exc), time.monotonic() - start)
    return CheckResult(ok, msg, time.monotonic() - start)
