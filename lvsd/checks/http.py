"""The http, https and http_proxy negotiate checks, with ldirectord's (LWP's) success criteria.

The request goes where :mod:`lvsd.checks.httpplan` says (ldirectord's URL,
``Host:``, proxy and TLS rules), worked out once per spec and kept in the
check context. Redirects are followed for GET and HEAD, at most 7 (LWP's
limit), each hop naming its own host. Up = a 2xx status AND the ``receive``
regular expression found in the raw body (an empty ``receive`` matches
anything; HEAD has no body).

Each exchange is a lean HTTP/1.1 request (:mod:`lvsd.checks.httpwire`) on a
bare socket or an asyncio transport (:mod:`lvsd.checks.httpclient`). It
costs a third of aiohttp's client per check, which is what lets one core
check thousands of servers every second. The caller bounds the whole
exchange, redirects included, by one deadline.
"""

from __future__ import annotations

from urllib.parse import urljoin

from lvsd.checks.base import CheckSpec
from lvsd.checks.context import CheckContext
from lvsd.checks.httpclient import fetch
from lvsd.checks.httpplan import plan, target
from lvsd.checks.httpwire import REDIRECTS, HTTPError
from lvsd.checks.patterns import search

MAX_REDIRECTS = 7  # LWP::UserAgent's max_redirect


async def negotiate(spec: CheckSpec, deadline: float | None, ctx: CheckContext) -> tuple[bool, str]:
    """The check; ``deadline`` (loop time) bounds it all, redirects included (TimeoutError)."""
    p = ctx.plans.get(spec)
    if p is None:
        p = ctx.plans[spec] = plan(spec)
    if p.first is None:
        raise HTTPError(p.error)
    want_body = bool(spec.receive) and spec.method != "HEAD"
    resp = await fetch(p.first, ctx, want_body=want_body, deadline=deadline)
    hops, url = 0, p.url
    while resp.status in REDIRECTS and resp.location is not None and hops < MAX_REDIRECTS:
        hops += 1
        url = urljoin(url, resp.location)
        # LWP drops the Host header on a redirect: the new URL names the host
        t = target(url, method=spec.method, host_header=None, proxy=p.proxy, tls=p.tls,
                   server_hostname=spec.tls_servername)
        resp = await fetch(t, ctx, want_body=want_body, deadline=deadline)
    what = p.what
    after = f" after {hops} redirect{'s' if hops != 1 else ''}" if hops else ""
    if not 200 <= resp.status < 300:
        return False, f"{what}: status {resp.status}{after}, expected 2xx"
    if not spec.receive:
        return True, f"{what}: status {resp.status}{after}"
    body = b"" if spec.method == "HEAD" else resp.body
    if search(spec.receive, body):
        return True, f"{what}: status {resp.status}{after}, receive matched"
    return False, f"{what}: status {resp.status}{after}, body does not match receive {spec.receive!r}"
