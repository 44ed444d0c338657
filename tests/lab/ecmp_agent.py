"""The ECMP lab's processes: a real server, a client and a hand-driven route announcer.

``real --name rs1 [--port 80]``: serves TCP. A connection whose first bytes are ``GET `` gets
one HTTP answer and is closed: ``/health`` answers ``200 OK`` with the body ``OK`` (what a
health check wants), any other path ``200`` with ``OK rs1``. Any other connection is an echo
by lines: every line comes back as ``rs1 <line>``, so the client learns which real server
holds each flow.

``client --src IP --vip IP --flows N --base-port P --seconds S --out FILE``: N long-lived flows,
flow i bound to ``IP:P+i`` (fixed source ports, so a run is repeatable and the router's hash
spreads them the same way each time). Each flow sends a short line every 0.5 s and waits up
to 8 s for its echo (TCP retransmits across a route change). A flow breaks once, for good:
on a reset or a closed connection, on an echo that does not come within 8 s, or when another
real server answers than the first one. The client stops after S seconds (bounded: at most
300) or on SIGTERM, and writes JSON to FILE: per flow its source port, the real server that
answered first, when it opened, and when and why it broke, all on CLOCK_MONOTONIC (which every
network namespace shares, so the harness can compare with the moments it changed something).

``announcer --state FILE --prefix 198.51.100.1/32``: the helper ExaBGP runs (its process API).
It prints ``announce route PREFIX next-hop self`` while FILE holds ``up`` and ``withdraw route
PREFIX`` when it turns to anything else (read every 100 ms), and exits when ExaBGP closes its
standard input. ExaBGP's acknowledgements (``done``/``error``) are read and copied to
``FILE.acks`` so a test can see that ExaBGP took each line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import select
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

SEND_EVERY = 0.5
ECHO_WAIT = 8.0  # TCP retransmits across a route change: only a flow silent this long is broken
CONNECT_WAIT = 3.0
MAX_SECONDS = 300.0
POLL = 0.1


# -- real server ------------------------------------------------------------------------------

async def real(name: str, port: int) -> None:
    tag = name.encode()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = await reader.readline()
            if first.startswith(b"GET "):
                path = first.split(b" ", 2)[1]
                body = b"OK" if path == b"/health" else b"OK " + tag
                writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
                return
            line = first
            while line:
                writer.write(tag + b" " + line)
                await writer.drain()
                line = await reader.readline()
        except (ConnectionError, OSError, IndexError, ValueError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "0.0.0.0", port, reuse_address=True)
    async with server:
        await server.serve_forever()


# -- client ------------------------------------------------------------------------------------

class Flow:
    def __init__(self, i: int, src: str, port: int) -> None:
        self.i = i
        self.src = src
        self.port = port
        self.server: str | None = None
        self.opened_at: float | None = None
        self.broken_at: float | None = None
        self.reason: str | None = None
        self.echoes = 0
        self.last_echo: float | None = None

    def broke(self, reason: str) -> None:
        if self.broken_at is None:
            self.broken_at = time.monotonic()
            self.reason = reason

    def as_dict(self) -> dict[str, Any]:
        return {"i": self.i, "port": self.port, "server": self.server, "opened_at": self.opened_at,
                "broken_at": self.broken_at, "reason": self.reason, "echoes": self.echoes,
                "last_echo": self.last_echo}


async def run_flow(flow: Flow, vip: str, vport: int, stop: asyncio.Event) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setblocking(False)
    try:
        sock.bind((flow.src, flow.port))
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (vip, vport)), CONNECT_WAIT)
        reader, writer = await asyncio.open_connection(sock=sock)
    except (OSError, TimeoutError) as exc:
        sock.close()
        flow.reason = f"connect: {type(exc).__name__}"
        return
    flow.opened_at = time.monotonic()
    seq = 0
    try:
        while not stop.is_set():
            payload = f"{flow.i} {seq}\n".encode()
            writer.write(payload)
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), ECHO_WAIT)
            if not line:
                flow.broke("closed")
                return
            name, _, rest = line.partition(b" ")
            if rest != payload:
                flow.broke("garbled")
                return
            server = name.decode(errors="replace")
            if flow.server is None:
                flow.server = server
            elif server != flow.server:
                flow.broke(f"moved to {server}")
                return
            flow.echoes += 1
            flow.last_echo = time.monotonic()
            seq += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SEND_EVERY)
    except TimeoutError:
        flow.broke("timeout")
    except ConnectionResetError:
        flow.broke("reset")
    except OSError as exc:
        flow.broke(f"error: {exc.strerror or type(exc).__name__}")
    finally:
        writer.close()


async def client(src: str, vip: str, vport: int, flows: int, base_port: int, seconds: float, out: Path) -> None:
    start = time.monotonic()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.call_later(min(seconds, MAX_SECONDS), stop.set)
    all_flows = [Flow(i, src, base_port + i) for i in range(flows)]
    tasks = []
    for flow in all_flows:  # opened over ~1 s rather than in one burst
        tasks.append(asyncio.create_task(run_flow(flow, vip, vport, stop)))
        await asyncio.sleep(min(0.02, 1.0 / max(flows, 1)))
    await stop.wait()
    await asyncio.wait(tasks, timeout=ECHO_WAIT + 2)
    for task in tasks:
        task.cancel()
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"start": start, "end": time.monotonic(), "flows": [f.as_dict() for f in all_flows]}))
    tmp.replace(out)


# -- ExaBGP helper -----------------------------------------------------------------------------

def announcer(state: Path, prefix: str) -> None:
    acks = state.with_name(state.name + ".acks")
    announced: bool | None = None
    stdin = sys.stdin.fileno()
    while True:
        try:
            want = state.read_text().strip() == "up"
        except OSError:
            want = False
        if want != announced:
            line = f"announce route {prefix} next-hop self" if want else f"withdraw route {prefix}"
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            announced = want
        ready, _, _ = select.select([stdin], [], [], POLL)
        if ready:
            data = os.read(stdin, 4096)
            if not data:  # ExaBGP is gone
                return
            with acks.open("ab") as f:
                f.write(data)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("real")
    r.add_argument("--name", required=True)
    r.add_argument("--port", type=int, default=80)
    c = sub.add_parser("client")
    c.add_argument("--src", required=True)
    c.add_argument("--vip", required=True)
    c.add_argument("--port", type=int, default=80)
    c.add_argument("--flows", type=int, required=True)
    c.add_argument("--base-port", type=int, default=40000)
    c.add_argument("--seconds", type=float, required=True)
    c.add_argument("--out", type=Path, required=True)
    a = sub.add_parser("announcer")
    a.add_argument("--state", type=Path, required=True)
    a.add_argument("--prefix", default="198.51.100.1/32")
    args = parser.parse_args()
    if args.what == "real":
        asyncio.run(real(args.name, args.port))
    elif args.what == "client":
        if not 0 < args.flows <= 1000:
            parser.error("--flows: 1..1000")
        asyncio.run(client(args.src, args.vip, args.port, args.flows, args.base_port, args.seconds, args.out))
    else:
        announcer(args.state, args.prefix)


if __name__ == "__main__":
    main()
