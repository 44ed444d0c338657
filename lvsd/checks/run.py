"""Run one check under its deadline, turning every outcome into a :class:`CheckResult`.

:func:`validate` is called when a config is loaded: a check lvsd cannot run
(a missing optional driver, a SQL check without login or query, a receive
pattern that does not compile) is a config error there, never a surprise
at run time. :func:`run_check` never raises (except cancellation): refused,
reset, a TLS failure, a malformed answer or a bug in a check module are all
a down result with a reason, and the deadline covers the whole exchange.
The hot checks (plain HTTP, connect) run in a :class:`CheckContext`: the
scheduler's, or for a one-off check one of its own, closed when it ends.
"""

from __future__ import annotations

import asyncio
import errno
import importlib.util
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import cast

from lvsd.checks import external, ftp, http, ldap, mail, nntp, ping, radius, sip, sql, tcp
from lvsd.checks.base import CheckResult, CheckSpec
from lvsd.checks.context import CheckContext
from lvsd.checks.dns import dns_check
from lvsd.checks.httpplan import shown_request
from lvsd.checks.httpwire import HTTPError
from lvsd.checks.patterns import problem
from lvsd.checks.streams import ProtocolError

Check = Callable[[CheckSpec], Awaitable[tuple[bool, str]]]
# The hot checks take their deadline (loop time) and the context whose epoll and timer heap they use.
HotCheck = Callable[[CheckSpec, float, CheckContext], Awaitable[tuple[bool, str]]]

NEGOTIATE: dict[str, Check | HotCheck] = {
    "http": http.negotiate,
    "https": http.negotiate,
    "http_proxy": http.negotiate,
    "smtp": mail.smtp,
    "submission": mail.smtp,
    "pop": lambda s: mail.pop(s, tls=False),
    "pops": lambda s: mail.pop(s, tls=True),
    "imap": lambda s: mail.imap(s, tls=False),
    "imaps": lambda s: mail.imap(s, tls=True),
    "ldap": lambda s: ldap.ldap(s, tls=False),
    "ldaps": lambda s: ldap.ldap(s, tls=True),
    "nntp": nntp.nntp,
    "dns": dns_check,
    "radius": radius.radius,
    "mysql": sql.mysql,
    "pgsql": sql.pgsql,
    "oracle": sql.oracle,
    "ftp": ftp.ftp,
    "sip": sip.sip,
    "simpletcp": tcp.simpletcp,
}
KINDS: dict[str, Check | HotCheck] = {
    "connect": tcp.connect,
    "ping": ping.ping,
    "external": external.external,
    "external-perl": external.external,
}
# Optional drivers: service -> (the modules its check imports, the extra that installs them). Validating a
# spec (at every config load) imports them, so no check's first run stalls the loop on a driver's import
# (oracledb takes 2.2 s to import in the kernel lab's UML).
EXTRAS = {
    "dns": (("dns.asyncquery", "dns.exception", "dns.message", "dns.rcode", "dns.rdatatype", "dns.reversename"),
            "dns"),
    "mysql": (("aiomysql",), "mysql"), "pgsql": (("asyncpg",), "pgsql"), "oracle": (("oracledb",), "oracle"),
}
SQL = frozenset(("mysql", "pgsql", "oracle"))


class UnsupportedCheck(ValueError):
    """The config asks for a check this lvsd cannot run."""


def validate(spec: CheckSpec) -> None:
    """Raise UnsupportedCheck with a message an operator can act on."""
    if spec.kind in ("on", "off"):
        return
    if spec.kind in ("external", "external-perl"):
        if spec.kind == "external-perl" and not os.access(external.PERL, os.X_OK):
            raise UnsupportedCheck(f"checktype=external-perl needs perl ({external.PERL} is missing)")
        if spec.send_program and spec.receive and (why := problem(spec.receive)):
            raise UnsupportedCheck(why)
        return
    if spec.kind in KINDS:
        return
    if spec.kind != "negotiate":
        raise UnsupportedCheck(f"checktype={spec.kind} is not a check lvsd knows")
    if spec.service == "none":
        return
    if spec.service not in NEGOTIATE:
        raise UnsupportedCheck(f"service={spec.service} checks are not implemented in this version of lvsd")
    if spec.service in EXTRAS:
        modules, extra = EXTRAS[spec.service]
        package = modules[0].partition(".")[0]
        if importlib.util.find_spec(package) is None:
            raise UnsupportedCheck(f"service={spec.service} needs the optional driver {package!r}: "
                                   f"pip install 'lvsd[{extra}]'")
        for module in modules:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise UnsupportedCheck(f"service={spec.service}: its driver {package!r} does not load ({exc}); "
                                       f"pip install 'lvsd[{extra}]'") from None
    if spec.service in SQL and (not spec.login or not sql.query_of(spec)):
        raise UnsupportedCheck(f"service={spec.service} needs login= and request= (the SQL query to run); "
                               "ldirectord marks the server down at every check without them")
    if spec.service == "http_proxy" and not spec.request.lstrip("/").startswith("http://"):
        raise UnsupportedCheck("service=http_proxy needs request= to be the absolute URL to fetch through the real "
                               f"server (\"http://www.example.com/\"), not {spec.request!r}")
    if spec.service == "dns" and not spec.receive:
        raise UnsupportedCheck("service=dns needs receive= (what the A or PTR answer must match); "
                               "ldirectord marks the server down at every check without it")
    if spec.receive and (why := problem(spec.receive)):
        raise UnsupportedCheck(why)


def describe_error(exc: BaseException) -> str:
    """An exception as an operator reads it: ``connection refused``, ``TLS error: ...``."""
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, HTTPError | ProtocolError):
        return str(exc)
    if isinstance(exc, asyncio.IncompleteReadError):
        return "server closed the connection in the middle of an answer"
    if isinstance(exc, OSError):
        return f"cannot connect: {exc.strerror}" if exc.strerror else str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def _what(spec: CheckSpec, connect_step: bool) -> str:
    if connect_step or spec.kind == "connect":
        return "connect"
    if spec.kind == "negotiate" and spec.service in ("http", "https", "http_proxy"):
        return f"{spec.method} {shown_request(spec)}"
    if spec.kind == "negotiate":
        return spec.service
    return spec.kind


async def run_check(spec: CheckSpec, *, connect_step: bool = False, context: CheckContext | None = None) -> CheckResult:
    """Run ``spec`` once (its connect step for checktype=N when ``connect_step``). Never raises.

    ``context``: the scheduler's; without one, a hot check runs in a context of its own.
    """
    start = time.monotonic()
    if spec.kind == "on":
        return CheckResult(True, "checktype=on")
    if spec.kind == "off":
        return CheckResult(False, "checktype=off")
    if spec.kind == "negotiate" and spec.service == "none" and not connect_step:
        return CheckResult(True, "service=none: no check")
    check = tcp.connect if connect_step else KINDS.get(spec.kind) or NEGOTIATE.get(spec.service)
    timeout = spec.connect_timeout if connect_step else spec.timeout
    # ping times its own attempts (checkcount of checktimeout each): its verdict, not this one, should be seen
    grace = 0.03 if check is ping.ping else 0.0
    if check is None:
        return CheckResult(False, f"no check for {spec.describe()}")
    try:
        if check is tcp.connect or check is http.negotiate:  # the hot paths take their deadline themselves
            ctx = context or CheckContext(asyncio.get_running_loop())
            try:
                deadline = ctx.loop.time() + timeout
                ok, msg = await (tcp.connect(spec, deadline, ctx) if check is tcp.connect
                                 else http.negotiate(spec, deadline, ctx))
            finally:
                if ctx is not context:
                    ctx.close()
        else:
            async with asyncio.timeout(timeout + grace):
                ok, msg = await cast(Check, check)(spec)
    except TimeoutError:
        return CheckResult(False, f"{_what(spec, connect_step)}: no answer within {timeout:g}s",
                           time.monotonic() - start)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a misbehaving backend (or check) is a result, never a crash
        return CheckResult(False, f"{_what(spec, connect_step)}: {describe_error(exc)}", time.monotonic() - start)
    return CheckResult(ok, msg, time.monotonic() - start)
