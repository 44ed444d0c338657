"""Real servers on 127.0.0.1 for the check tests: simple protocols spoken by Python.

Each server is a real listening socket that speaks its protocol; a test
switches its behaviour (``mode``) and reads what it was sent. Every dialogue
is bounded (line counts, reads with timeouts), and ``close()`` ends it all.
HTTP uses aiohttp's server; TLS uses certificates made by ``make_certs``
(openssl): a CA and a server certificate for www.example.com and 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

HUNG_FOR = 30.0  # how long a "hung" server holds a connection (longer than any test deadline)


@dataclass
class Certs:
    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


def make_certs(directory: Path) -> Certs:
    """A CA and a server certificate (www.example.com, 127.0.0.1) signed by it."""
    d = directory
    run = lambda *args: subprocess.run(args, check=True, capture_output=True, timeout=60)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=lvsd test CA",
        "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"))
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=www.example.com",
        "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))
    (d / "ext.cnf").write_text("subjectAltName=DNS:www.example.com,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.pem"), "-CAkey",
        str(d / "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", str(d / "ext.cnf"),
        "-out", str(d / "server.pem"))
    for name in ("server.key", "server.pem", "ca.pem"):
        os.chmod(d / name, 0o644)  # daemons that drop privileges read them too
    return Certs(d / "ca.pem", d / "server.pem", d / "server.key")


@dataclass
class LineServer:
    """A TCP server whose dialogue is a coroutine ``talk(server, reader, writer)``; ``mode`` steers it."""

    talk: object
    mode: str = "up"
    tls: ssl.SSLContext | None = None
    seen: list[bytes] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _conns: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> LineServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            if self.mode == "hung":
                await asyncio.sleep(HUNG_FOR)
            else:
                await self.talk(self, reader, writer)  # type: ignore[operator]
                await writer.drain()
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()

    async def close(self) -> None:
        for w in list(self._conns):
            w.transport.abort()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)


async def readline(server: LineServer, reader: asyncio.StreamReader) -> bytes:
    line = await asyncio.wait_for(reader.readline(), 5)
    server.seen.append(line)
    return line


async def smtp_talk(server: LineServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    if server.mode == "busy":
        writer.write(b"554 5.3.2 too busy, go away\r\n")
        return
    writer.write(b"220-mail.example.com ESMTP\r\n220 ready\r\n")
    for _ in range(10):
        line = await readline(server, reader)
        verb = line[:4].upper()
        if verb == b"EHLO":
            writer.write(b"502 5.5.2 EHLO? never heard of it\r\n" if server.mode == "helo-only"
                         else b"250-mail.example.com\r\n250 PIPELINING\r\n")
        elif verb == b"HELO":
            writer.write(b"250 mail.example.com\r\n")
        elif verb == b"QUIT" or not line:
            writer.write(b"221 bye\r\n")
            return
        else:
            writer.write(b"500 what\r\n")


async def nntp_talk(server: LineServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"200 news.example.com ready\r\n" if server.mode == "up" else b"400 service discontinued\r\n")
    await readline(server, reader)


async def simpletcp_talk(server: LineServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request = await asyncio.wait_for(reader.read(4096), 5)  # up to the client's half-close
    server.seen.append(request)
    if server.mode == "up":
        writer.write(b"hello\nSTATUS: OK\n")
    elif server.mode == "silent":
        return
    else:
        writer.write(b"hello\nSTATUS: FAIL\n")


async def sip_tcp_talk(server: LineServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    server.seen.append(data)
    writer.write(sip_answer(server.mode))


def sip_answer(mode: str) -> bytes:
    status = b"SIP/2.0 200 OK" if mode == "up" else b"SIP/2.0 503 Service Unavailable"
    return status + b"\r\nVia: SIP/2.0/UDP 127.0.0.1\r\nCSeq: 63104 OPTIONS\r\nContent-Length: 0\r\n\r\n"


class UDPServer(asyncio.DatagramProtocol):
    """A UDP server: ``answer(mode, data) -> bytes | None`` (None = stay silent)."""

    def __init__(self, answer: object, mode: str = "up") -> None:
        self.answer = answer
        self.mode = mode
        self.seen: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    async def start(self) -> UDPServer:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.seen.append(data)
        if self.mode == "hung":
            return
        reply = self.answer(self.mode, data)  # type: ignore[operator]
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
