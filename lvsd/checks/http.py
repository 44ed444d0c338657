"""The HTTP/HTTPS negotiate check, with ldirectord's success criteria.

GET (or HEAD) ``scheme://RIP:PORT/request`` (an absolute ``http://`` or
``https://`` request is used as the whole URL), ``Host:`` set to
``virtualhost`` or the real's address, redirects followed (at most 7, as LWP).
Up = a 2xx status AND the ``receive`` regular expression found in the body
(an empty ``receive`` matches anything). TLS is not verified, as in
ldirectord. The caller bounds the whole exchange with the timeout.
"""

from __future__ import annotations

import re
from functools import lru_cache

import aiohttp

from lvsd.checks.base import CheckSpec

MAX_BODY = 4 * 1024 * 1024  # enough for any health page; a larger body is read no further


def url_for(spec: CheckSpec) -> str:
    if "http://" in spec.request or "https://" in spec.request:
        return spec.request.lstrip("/")  # the config layer adds ldirectord's leading '/'; an absolute URL drops it
    scheme = "https" if spec.service == "https" else "http"
    host = f"[{spec.host}]" if ":" in spec.host else spec.host
    return f"{scheme}://{host}:{spec.port}/{spec.request.lstrip('/')}"


@lru_cache(maxsize=4096)
def _pattern(receive: str) -> re.Pattern[str]:
    return re.compile(receive)


async def negotiate(spec: CheckSpec, session: aiohttp.ClientSession) -> tuple[bool, str]:
    url = url_for(spec)
    what = f"{spec.method} {spec.request}"
    host = spec.virtualhost or (f"[{spec.host}]" if ":" in spec.host else spec.host)
    async with session.request(
        spec.method, url, headers={"Host": host}, allow_redirects=True, max_redirects=7, ssl=False
    ) as resp:
        if not 200 <= resp.status < 300:
            return False, f"{what}: status {resp.status}, expected 2xx"
        if not spec.receive:
            return True, f"{what}: status {resp.status}"
        body = bytearray()
        async for chunk in resp.content.iter_chunked(65536):
            body += chunk
            if len(body) >= MAX_BODY:
                break
        text = body.decode(resp.get_encoding() if resp.charset else "latin-1", "replace")
        if _pattern(spec.receive).search(text):
            return True, f"{what}: status {resp.status}, receive matched"
        return False, f"{what}: status {resp.status}, body does not match receive {spec.receive!r}"


def new_session() -> aiohttp.ClientSession:
    """One session for every HTTP check: no pooling (each check opens its own connection)."""
    connector = aiohttp.TCPConnector(force_close=True, limit=0, ssl=False, use_dns_cache=False)
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": "lvsd health check"},
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=True,
    )
