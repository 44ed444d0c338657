"""A real server for the lab: HTTP/1.1 with keep-alive whose failure mode tests switch.

Run inside a real server's namespace (as root, the lab runs everything as root)::

    ip netns exec rs1 .venv/bin/python tests/lab/backend.py --name rs1 \\
        --control /run/lvsd-lab.X/rs1.sock [--port 80 --port 8080] [--mode up]

Every path answers. Modes (``{"op": "mode", "mode": M}`` on the control socket):

* ``up``        200, body ``<name> OK\\n``
* ``refuse``    listening sockets closed (the kernel answers RST), open connections reset
* ``wrongpage`` 200 whose status line, headers and body contain no "OK"
* ``error500``  500 Internal Server Error
* ``slow``      requests are read but never answered; held connections close on leaving slow
* ``blackhole`` the namespace drops everything it would send to other hosts (a routing
  rule of type blackhole), so SYNs get no SYN-ACK, no RST and no ICMP; served as ``up``
  otherwise

Other control ops: ``stats`` (mode, served, per-status and per-peer counts, open
connections), ``reset`` (zero the counters), ``ping``. The control socket exists only
once every port listens, so a successful ``ping`` means the backend is ready.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
from collections import Counter
from typing import Any

if __package__ in (None, ""):  # run as a script: import the lab package, not siblings
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from lab import rpc

MODES = ("up", "refuse", "wrongpage", "error500", "slow", "blackhole")
BLACKHOLE_RULE_PREF = "100"
MAX_HEAD = 64 * 1024
IDLE_TIMEOUT = 300.0


class Backend:
    """The HTTP listeners, their mode and counters."""

    def __init__(self, name: str, ports: list[int], bind: str) -> None:
        self.name = name
        self.ports = ports
        self.bind = bind
        self.mode = "up"
        self.servers: list[asyncio.Server] = []
        self.conns: set[asyncio.Transport] = set()
        self.mode_changed = asyncio.Event()
        self.served = 0
        self.by_status: Counter[int] = Counter()
        self.by_peer: Counter[str] = Counter()
        self.by_port: Counter[int] = Counter()
        self.accepted = 0

    async def listen(self) -> None:
        if self.servers:
            return
        for port in self.ports:
            self.servers.append(await asyncio.start_server(
                self.on_conn, self.bind, port, reuse_address=True, backlog=128,
                limit=MAX_HEAD))

    def unlisten(self) -> None:
        for server in self.servers:
            server.close()
        self.servers = []

    async def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        old, self.mode = self.mode, mode
        if old == "blackhole" and mode != "blackhole":
            blackhole(False)
        if mode == "refuse":
            self.unlisten()
            for transport in list(self.conns):
                reset(transport)
        else:
            await self.listen()
        if mode == "blackhole" and old != "blackhole":
            blackhole(True)
        self.mode_changed.set()
        self.mode_changed = asyncio.Event()

    async def on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        transport = writer.transport
        self.conns.add(transport)  # type: ignore[arg-type]
        self.accepted += 1
        peer = writer.get_extra_info("peername")
        sockname = writer.get_extra_info("sockname")
        peer_ip = peer[0] if peer else "?"
        port = sockname[1] if sockname else 0
        try:
            while await self.one_request(reader, writer, peer_ip, port):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                TimeoutError, ValueError):
            pass
        finally:
            self.conns.discard(transport)
            transport.close()

    async def one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                          peer_ip: str, port: int) -> bool:
        """Serve one request; False when the connection should end."""
        async with asyncio.timeout(IDLE_TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, _, version = [*lines[0].split(" "), "", ""][:3]
        headers = {}
        for line in lines[1:]:
            key, sep, value = line.partition(":")
            if sep:
                headers[key.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        if length:
            await reader.readexactly(length)
        connection = headers.get("connection", "").lower()
        keep = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
        mode = self.mode
        if mode == "slow":
            await self.mode_changed.wait()
            return False
        if mode == "refuse":  # raced with the mode change
            return False
        if mode == "wrongpage":
            status, reason, body = 200, "Done", f"{self.name} maintenance page\n"
        elif mode == "error500":
            status, reason, body = 500, "Internal Server Error", f"{self.name} failure\n"
        else:
            status, reason, body = 200, "OK", f"{self.name} OK\n"
        payload = body.encode()
        head_out = (f"HTTP/1.1 {status} {reason}\r\n"
                    f"Server: lab-backend\r\n"
                    f"X-Backend: {self.name}\r\n"
                    f"Content-Type: text/plain\r\n"
                    f"Content-Length: {len(payload)}\r\n"
                    f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n")
        writer.write(head_out.encode() + (b"" if method == "HEAD" else payload))
        await writer.drain()
        self.served += 1
        self.by_status[status] += 1
        self.by_peer[peer_ip] += 1
        self.by_port[port] += 1
        return keep

    def stats(self) -> dict[str, Any]:
        return {"ok": True, "name": self.name, "mode": self.mode, "served": self.served,
                "by_status": {str(k): v for k, v in self.by_status.items()},
                "by_peer": dict(self.by_peer),
                "by_port": {str(k): v for k, v in self.by_port.items()},
                "accepted": self.accepted, "open": len(self.conns),
                "listening": bool(self.servers)}

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "mode":
            await self.set_mode(str(req.get("mode")))
            return self.stats()
        if op == "stats":
            return self.stats()
        if op == "reset":
            self.served = self.accepted = 0
            self.by_status.clear()
            self.by_peer.clear()
            self.by_port.clear()
            return self.stats()
        if op == "ping":
            return {"ok": True, "name": self.name, "pid": os.getpid()}
        raise ValueError(f"unknown op {op!r}")


def reset(transport: asyncio.Transport) -> None:
    """Abort a connection with an RST (SO_LINGER 0), like a crashed server."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def blackhole(on: bool) -> None:
    """Drop all traffic this namespace sends off-host (replies included), silently.

    A routing rule of type blackhole, after the local table's: incoming packets are still
    delivered, but every reply (SYN-ACK, RST, ICMP) fails its route lookup and is dropped.
    """
    for _ in range(10):  # remove any earlier rule (bounded), so this is idempotent
        proc = subprocess.run(["ip", "rule", "del", "pref", BLACKHOLE_RULE_PREF],
                              capture_output=True, timeout=10, check=False)
        if proc.returncode != 0:
            break
    if on:
        argv = ["ip", "rule", "add", "pref", BLACKHOLE_RULE_PREF, "blackhole"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--control", required=True, help="unix socket path for control")
    parser.add_argument("--port", type=int, action="append", help="TCP port (repeatable; 80)")
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--mode", default="up", choices=MODES)
    args = parser.parse_args(argv)
    backend = Backend(args.name, args.port or [80], args.bind)
    await backend.set_mode(args.mode)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if os.path.exists(args.control):
        os.unlink(args.control)
    control = await rpc.serve(args.control, backend.handle)
    try:
        await stop.wait()
    finally:
        control.close()
        backend.unlisten()
        if backend.mode == "blackhole":
            blackhole(False)
        for transport in list(backend.conns):
            transport.abort()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(args.control)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
