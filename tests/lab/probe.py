"""Blocking HTTP and TCP probes from the director's namespace, and the reply type.

:class:`Reply` is also what the client agent reports, so results from the director
and from the client namespace read the same way.
"""

from __future__ import annotations

import errno
import http.client
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    """What one HTTP request came to."""

    status: int | None = None
    body: str = ""
    # None, or: timeout, refused, reset, unreachable, closed, bad-response, oserror-<errno>
    error: str | None = None
    keep_alive: bool = False
    seconds: float = 0.0

    @property
    def backend(self) -> str | None:
        """The answering backend's name: the body's first word."""
        words = self.body.split()
        return words[0] if words else None

    @property
    def ok(self) -> bool:
        """A 200 whose body contains "OK" (what lvsd checks with receive="OK")."""
        return self.error is None and self.status == 200 and "OK" in self.body

    @property
    def reason(self) -> str:
        """'ok', the error, 'status-<code>' or 'no-OK': a short word for counting."""
        if self.ok:
            return "ok"
        if self.error is not None:
            return self.error
        return f"status-{self.status}" if self.status != 200 else "no-OK"

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "status": self.status, "backend": self.backend,
                "body": self.body, "error": self.error, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reply:
        return cls(status=d.get("status"), body=d.get("body") or "", error=d.get("error"),
                   seconds=float(d.get("seconds") or 0.0))


def classify(exc: BaseException) -> str:
    """A short word for why a request failed."""
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"  # an ICMP error came back
    if isinstance(exc, (EOFError, BrokenPipeError, http.client.RemoteDisconnected,
                        http.client.IncompleteRead)):
        return "closed"
    if type(exc).__name__ == "IncompleteReadError":  # asyncio's
        return "closed"
    if isinstance(exc, (ValueError, http.client.HTTPException)):
        return "bad-response"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"oserror-{exc.errno}"
    return type(exc).__name__


def get(host: str, port: int = 80, path: str = "/", timeout: float = 2.0) -> Reply:
    """One GET on a new connection, with *timeout* for connect and for each read."""
    start = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close", "User-Agent": "lab-probe"})
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", "replace")
        return Reply(status=resp.status, body=body, seconds=time.monotonic() - start)
    except Exception as exc:
        return Reply(error=classify(exc), seconds=time.monotonic() - start)
    finally:
        conn.close()


def connect(host: str, port: int = 80, timeout: float = 2.0) -> str:
    """Try a TCP handshake: 'connected', 'refused', 'timeout' or another error word."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return "connected"
    except Exception as exc:
        return classify(exc)
