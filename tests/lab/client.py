"""Client agent: makes HTTP traffic from the client namespace on the tests' behalf.

Python 3.11 has no os.setns, so this runs as its own process under
``ip netns exec client`` and is driven over a unix socket (see :mod:`lab.rpc`)::

    ip netns exec client .venv/bin/python tests/lab/client.py --control /run/.../client.sock

Ops:

* ``get_many`` {host, port, path, count, req_timeout}: ``count`` GETs, each on a new
  connection (so IPVS schedules each one), one after another; answers
  ``{"backends": {name: n}, "failures": n, "errors": {reason: n}}``. A request counts
  for a backend when it gets a 200 whose body contains "OK"; the name is the body's
  first word.
* ``get`` {host, port, path, req_timeout}: one GET on a new connection.
* ``open`` {host, port, req_timeout}: a long-lived keep-alive connection; answers ``{"id"}``.
* ``request`` {id, path, req_timeout}: one GET on that connection; answers ``{"ok",
  "backend", "status", "error"}``. After an error the connection is closed.
* ``close`` {id}; ``ping``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import sys
import time
from collections import Counter
from typing import Any

if __package__ in (None, ""):  # run as a script: import the lab package, not siblings
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from lab import rpc
from lab.probe import Reply, classify

MAX_BODY = 1 << 20
MAX_COUNT = 100_000


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
                   path: str, keep_alive: bool) -> Reply:
    """Send one GET and read the whole response (Content-Length framed)."""
    conn = "keep-alive" if keep_alive else "close"
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: lab-client\r\n"
                 f"Connection: {conn}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError(f"bad status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length > MAX_BODY:
        raise ValueError("body too large")
    body = await reader.readexactly(length) if length else b""
    return Reply(status=int(parts[1]), body=body.decode("utf-8", "replace"),
                 keep_alive=headers.get("connection", "").lower() != "close")


async def get_once(host: str, port: int, path: str, timeout: float) -> Reply:
    writer: asyncio.StreamWriter | None = None
    start = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            reply = await exchange(reader, writer, host, path, keep_alive=False)
    except Exception as exc:
        reply = Reply(error=classify(exc))
    finally:
        if writer is not None:
            writer.transport.abort()
    reply.seconds = time.monotonic() - start
    return reply


class Agent:
    """Holds the persistent connections and answers control calls."""

    def __init__(self) -> None:
        self.conns: dict[int, tuple[str, asyncio.StreamReader, asyncio.StreamWriter]] = {}
        self.ids = itertools.count(1)

    async def get_many(self, host: str, port: int, path: str, count: int,
                       timeout: float) -> dict[str, Any]:
        backends: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        for _ in range(min(count, MAX_COUNT)):
            reply = await get_once(host, port, path, timeout)
            if reply.ok and reply.backend:
                backends[reply.backend] += 1
            else:
                errors[reply.reason] += 1
        return {"ok": True, "backends": dict(backends), "failures": sum(errors.values()),
                "errors": dict(errors)}

    async def open(self, host: str, port: int, timeout: float) -> dict[str, Any]:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port)
        except Exception as exc:
            return {"ok": False, "error": classify(exc)}
        conn_id = next(self.ids)
        self.conns[conn_id] = (host, reader, writer)
        sockname = writer.get_extra_info("sockname")
        return {"ok": True, "id": conn_id, "local_port": sockname[1] if sockname else None}

    async def request(self, conn_id: int, path: str, timeout: float) -> dict[str, Any]:
        if conn_id not in self.conns:
            return Reply(error="closed").as_dict()
        host, reader, writer = self.conns[conn_id]
        start = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                reply = await exchange(reader, writer, host, path, keep_alive=True)
        except Exception as exc:
            reply = Reply(error=classify(exc))
        reply.seconds = time.monotonic() - start
        if reply.error is not None or not reply.keep_alive:
            self.close(conn_id)
        return reply.as_dict()

    def close(self, conn_id: int) -> None:
        entry = self.conns.pop(conn_id, None)
        if entry is not None:
            entry[2].transport.abort()

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        host = str(req.get("host", ""))
        port = int(req.get("port", 80))
        timeout = float(req.get("req_timeout", 2.0))
        if op == "get_many":
            return await self.get_many(host, port, str(req.get("path", "/")),
                                       int(req.get("count", 1)), timeout)
        if op == "get":
            return (await get_once(host, port, str(req.get("path", "/")), timeout)).as_dict()
        if op == "open":
            return await self.open(host, port, timeout)
        if op == "request":
            return await self.request(int(req["id"]), str(req.get("path", "/")), timeout)
        if op == "close":
            self.close(int(req["id"]))
            return {"ok": True}
        if op == "ping":
            return {"ok": True, "pid": os.getpid(), "open": len(self.conns)}
        raise ValueError(f"unknown op {op!r}")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--control", required=True, help="unix socket path for control")
    args = parser.parse_args(argv)
    agent = Agent()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if os.path.exists(args.control):
        os.unlink(args.control)
    control = await rpc.serve(args.control, agent.handle)
    try:
        await stop.wait()
    finally:
        control.close()
        for conn_id in list(agent.conns):
            agent.close(conn_id)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(args.control)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
