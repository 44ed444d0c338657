"""TLS for the checks: one client context per verification setting, and the name sent as SNI.

ldirectord's checks (LWP, IO::Socket::SSL) verify nothing: a context here
verifies the server's certificate only for ``tlsverify=yes`` (against
``tlscafile`` or the system's CAs), and SNI is sent only for
``tlsservername``, or the real's address when verifying. Building a context
costs milliseconds, so each setting's is made once; the settings a config
can name are few, and at most ``MAX_CONTEXTS`` are kept.
"""

from __future__ import annotations

import ssl
from functools import lru_cache

from lvsd.checks.base import CheckSpec

MAX_CONTEXTS = 16


@lru_cache(maxsize=MAX_CONTEXTS)
def tls_context(verify: bool, cafile: str | None) -> ssl.SSLContext:
    """One context per setting; unverified = ldirectord's LWP."""
    if verify:
        return ssl.create_default_context(cafile=cafile)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tls_for(spec: CheckSpec) -> tuple[ssl.SSLContext, str]:
    """The TLS context and server_hostname ('' = no SNI) of a TLS service (pops, imaps, ldaps)."""
    ctx = tls_context(spec.tls_verify, spec.tls_cafile)
    name = spec.tls_servername or (spec.host if spec.tls_verify else "")
    return ctx, name
