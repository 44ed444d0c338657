"""HTTP/1.1 on the wire for the http checks: the request's bytes, and the response parsed as it arrives.

One request with ``Connection: close``; the response is read as it comes
(Content-Length, chunked, or up to the close), and nothing is read past the
headers when the answer is already known (HEAD, 204, 304, a redirect, or a
check with no ``receive``). Only the headers that frame the answer are
looked at. :class:`Exchange` is an asyncio protocol; the bare-socket driver
of :mod:`lvsd.checks.httpclient` feeds it the same way. An answer that is
not HTTP we can read is an :class:`HTTPError` whose message says how.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from lvsd import __version__

MAX_HEAD = 64 * 1024  # a status line and headers longer than this are not an HTTP health answer
MAX_BODY = 4 * 1024 * 1024  # enough for any health page; the receive pattern sees the first 4 MiB
REDIRECTS = frozenset((301, 302, 303, 307, 308))
USER_AGENT = f"lvsd/{__version__} health check"
STATUS_LINE = re.compile(rb"HTTP/\d(?:\.\d)?[ \t]+(\d{3})(?:[ \t]([^\r\n]*))?")
HEADERS = re.compile(rb"\n(content-length|transfer-encoding|location)[ \t]*:([^\r\n]*)", re.IGNORECASE)


class HTTPError(Exception):
    """The server answered, but not with HTTP we can read (the message says how)."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: str
    location: str | None
    body: bytes


def request(method: str, target: str, host: str) -> bytes:
    """The request's bytes: ``target`` is the path (or the whole URL, to a proxy), ``host`` the Host header."""
    return (f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
            "Connection: close\r\n\r\n").encode("latin-1")


class Exchange(asyncio.Protocol):
    """Send one request, parse one response, resolve ``done``; the transport is closed by the caller."""

    def __init__(self, request: bytes, done: asyncio.Future[Response], *, head: bool, want_body: bool) -> None:
        self.request = request
        self.done = done
        self.head = head
        self.want_body = want_body
        self.buf = bytearray()
        self.status = 0
        self.reason = ""
        self.location: str | None = None
        self.length: int | None = None  # Content-Length, or None
        self.chunked = False
        self.in_body = False
        self.chunk_left = -1  # chunked: bytes left in the current chunk; -1 = expecting a size line
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        self.buf += data
        try:
            if not self.in_body:
                self._head()
            if self.in_body:
                self._body(eof=False)
        except HTTPError as exc:
            self.done.set_exception(exc)

    def eof_received(self) -> bool:
        if not self.done.done():
            try:
                if self.in_body:
                    self._body(eof=True)
                elif self.buf:
                    raise HTTPError("server closed the connection in the middle of the response headers")
            except HTTPError as exc:
                self.done.set_exception(exc)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is not None:
                self.done.set_exception(exc)
            elif self.in_body:
                self._finish()
            else:
                self.done.set_exception(HTTPError("server closed the connection without answering"))

    def _head(self) -> None:
        while not self.in_body:
            end = self.buf.find(b"\r\n\r\n")
            skip = 4
            if end < 0:
                end, skip = self.buf.find(b"\n\n"), 2
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    raise HTTPError(f"response headers longer than {MAX_HEAD} bytes")
                return
            head = bytes(self.buf[:end])
            del self.buf[: end + skip]
            m = STATUS_LINE.match(head)
            if m is None:
                first = head.split(b"\n", 1)[0].decode("latin-1").strip()
                raise HTTPError(f"not an HTTP response: {first[:80]!r}" if first else "empty response")
            status = int(m.group(1))
            if 100 <= status < 200:
                continue  # 100 Continue and friends: the real answer follows
            self.status, self.reason = status, (m.group(2) or b"").decode("latin-1").strip()
            for name, value in HEADERS.findall(head):  # only the headers that frame the answer, in one C pass
                name = name.lower()
                if name == b"content-length":
                    try:
                        self.length = int(value.strip())
                    except ValueError:
                        raise HTTPError(f"bad Content-Length {value.strip().decode('latin-1')!r}") from None
                elif name == b"transfer-encoding":
                    self.chunked = b"chunked" in value.lower()
                else:
                    self.location = value.strip().decode("latin-1")
            self.in_body = True
            redirect = self.status in REDIRECTS and self.location is not None
            if self.head or self.status in (204, 304) or not self.want_body or redirect:
                self._finish()

    def _body(self, *, eof: bool) -> None:
        if self.done.done():
            return
        if self.chunked:
            self._chunks(eof)
            return
        self.body += self.buf
        self.buf.clear()
        if self.length is not None and len(self.body) >= self.length:
            del self.body[self.length:]
            self._finish()
        elif len(self.body) >= MAX_BODY:
            self._finish()
        elif eof:
            if self.length is not None:
                raise HTTPError(f"server closed the connection after {len(self.body)} of {self.length} body bytes")
            self._finish()

    def _chunks(self, eof: bool) -> None:
        buf = self.buf
        while True:
            if self.chunk_left < 0:
                nl = buf.find(b"\n")
                if nl < 0:
                    break
                size = bytes(buf[:nl]).split(b";", 1)[0].strip()
                del buf[: nl + 1]
                try:
                    self.chunk_left = int(size, 16)
                except ValueError:
                    raise HTTPError(f"bad chunk size {size[:20]!r}") from None
                if self.chunk_left == 0:
                    self._finish()  # trailers, if any, are not needed
                    return
            take = min(self.chunk_left, len(buf))
            self.body += buf[:take]
            del buf[:take]
            self.chunk_left -= take
            if len(self.body) >= MAX_BODY:
                self._finish()
                return
            if self.chunk_left:
                break
            if len(buf) < 2 and b"\n" not in buf:
                self.chunk_left = -2  # the CRLF after the chunk has not arrived yet
                break
            nl = buf.find(b"\n")
            del buf[: nl + 1]
            self.chunk_left = -1
        if self.chunk_left == -2:
            nl = buf.find(b"\n")
            if nl >= 0:
                del buf[: nl + 1]
                self.chunk_left = -1
                self._chunks(eof)
                return
        if eof:
            raise HTTPError("server closed the connection in the middle of a chunked body")

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(Response(self.status, self.reason, self.location, bytes(self.body)))
