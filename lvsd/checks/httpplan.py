"""What an http check sends where, worked out from its spec once: ldirectord's URL, Host, proxy, TLS and SNI.

The URL is ldirectord's: ``scheme://RIP:PORT/request``, or the request itself
when it is an absolute URL of the service's scheme (the config layer keeps a
leading ``/`` on every request; it is dropped here). ``Host:`` is
``virtualhost``, else the real's address; for ``http_proxy`` the request goes
to the real as a proxy, with the URL in the request line. A redirect's
:func:`target` names its own host. TLS verifies nothing unless
``tlsverify=yes`` (ldirectord's behaviour); SNI is sent only for
``tlsservername`` (or a redirect to a host name).
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from lvsd.addr import bracketed
from lvsd.checks import httpwire
from lvsd.checks.base import CheckSpec
from lvsd.checks.httpwire import HTTPError
from lvsd.checks.sockets import Address, address
from lvsd.checks.tls import tls_context


@dataclass(frozen=True, slots=True)
class Target:
    """One request ready to go: where to connect, the bytes to send, and TLS (None = plain)."""

    host: str
    port: int
    request: bytes
    head: bool
    tls: ssl.SSLContext | None = None
    sni: str | None = None
    bare: bool = False  # plain TCP to an address literal: the callback path, no transport

    @property
    def address(self) -> Address:
        return address(self.host, self.port)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def scheme_of(spec: CheckSpec) -> str:
    return "https" if spec.service == "https" else "http"


def is_absolute(spec: CheckSpec) -> bool:
    return f"{scheme_of(spec)}://" in spec.request


def url_for(spec: CheckSpec) -> str:
    """ldirectord's URL: the request as a whole URL if it is one (or for http_proxy), else RIP:PORT/request."""
    path = spec.request.lstrip("/")  # the config layer adds ldirectord's leading '/'
    if is_absolute(spec) or spec.service == "http_proxy":
        return path
    return f"{scheme_of(spec)}://{bracketed(spec.host)}:{spec.port}/{path}"


def shown_request(spec: CheckSpec) -> str:
    return spec.request.lstrip("/") if is_absolute(spec) or spec.service == "http_proxy" else spec.request


def target(
    url: str, *, method: str, host_header: str | None, proxy: tuple[str, int] | None,
    tls: ssl.SSLContext | None, server_hostname: str | None,
) -> Target:
    """The request for ``url`` (raises HTTPError for a URL that is not http:// or https://)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HTTPError(f"cannot fetch {url!r}: not an http:// or https:// URL")
    https = parts.scheme == "https"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    via_proxy = proxy is not None and not https
    host = host_header if host_header is not None else parts.netloc
    request = httpwire.request(method, url if via_proxy else path, host)
    where = proxy if via_proxy and proxy is not None else (parts.hostname, parts.port or (443 if https else 80))
    if not https:
        return Target(where[0], where[1], request, method == "HEAD", bare=is_ip(where[0]))
    ctx = tls or tls_context(False, None)
    if server_hostname is not None:
        sni = server_hostname
    elif not is_ip(parts.hostname):
        sni = parts.hostname  # a redirect to a name: as a browser (or LWP) would
    else:
        sni = parts.hostname if ctx.check_hostname else ""
    return Target(where[0], where[1], request, method == "HEAD", ctx, sni)


@dataclass(frozen=True, slots=True)
class Plan:
    """What a spec asks, worked out once: the first request and how to follow redirects."""

    what: str  # "GET /health", as messages show it
    url: str
    proxy: tuple[str, int] | None
    tls: ssl.SSLContext | None
    first: Target | None  # None: the URL is not fetchable (said at run time, as LWP would)
    error: str = ""


def plan(spec: CheckSpec) -> Plan:
    url = url_for(spec)
    proxy = (spec.host, spec.port) if spec.service == "http_proxy" else None
    host_header = None if proxy is not None else spec.virtualhost or bracketed(spec.host)
    tls = tls_context(spec.tls_verify, spec.tls_cafile) if spec.service == "https" or "https://" in url else None
    name = spec.tls_servername or (spec.virtualhost if spec.tls_verify else None)
    if name is None and spec.tls_verify:
        name = spec.host
    what = f"{spec.method} {shown_request(spec)}"
    try:
        first = target(url, method=spec.method, host_header=host_header, proxy=proxy, tls=tls, server_hostname=name)
    except HTTPError as exc:
        return Plan(what, url, proxy, tls, None, str(exc))
    return Plan(what, url, proxy, tls, first)
