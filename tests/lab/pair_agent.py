"""The pair lab's traffic: a real server and a client, each run in its own network namespace.

``real --name rs1 --fail-file PATH``: TCP port 80. A connection whose first bytes are ``GET``
gets one HTTP answer and is closed: ``/health`` answers ``200 OK`` unless the caller's address
is listed in the fail file (re-read at every request: a real server failing its checks from
one director only), any other path ``200`` with the server's name. Any other connection is an
echo: every chunk comes back (the long-lived connections).

``client --vip IP --seconds S --long N --out FILE``: for S seconds (bounded), N long-lived
connections each send a line every 200 ms and wait up to 10 s for its echo (TCP retransmits
across a failover; a connection that fails once is lost: it is not reopened); meanwhile a new
connection is tried every 100 ms (``GET /``, 1 s timeout). FILE gets JSON: per long-lived
connection whether it lived to the end, and every new-connection attempt as (start, ok) on
CLOCK_MONOTONIC, which every namespace shares, so the harness can measure from the moment it
broke the active director.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

ECHO_EVERY = 0.2
PROBE_EVERY = 0.1
TIMEOUT = 1.0
ECHO_WAIT = 10.0  # a connection is lost only if its echo never comes: TCP retransmits across a failover


async def real(name: str, fail_file: Path, port: int) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")[0]
        try:
            first = await reader.read(4096)
            if first.startswith(b"GET "):
                path = first.split(b" ", 2)[1]
                failing = fail_file.exists() and peer in fail_file.read_text().split()
                if path == b"/health":
                    status, body = ("503 Failing", b"FAIL") if failing else ("200 OK", b"OK")
                else:
                    status, body = "200 OK", f"OK {name}".encode()
                writer.write(f"HTTP/1.0 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
                await writer.drain()
                return
            data = first
            while data:
                writer.write(data)
                await writer.drain()
                data = await reader.read(4096)
        except (ConnectionError, asyncio.IncompleteReadError, IndexError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "0.0.0.0", port, reuse_address=True)
    async with server:
        await server.serve_forever()


async def long_lived(vip: str, port: int, until: float, i: int) -> dict[str, object]:
    sent = 0
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(vip, port), TIMEOUT)
    except (OSError, TimeoutError):
        return {"id": i, "opened": False, "alive": False, "echoes": 0, "lost_at": None}
    try:
        while time.monotonic() < until:
            line = f"ping {i} {sent}\n".encode()
            writer.write(line)
            await writer.drain()
            got = await asyncio.wait_for(reader.readexactly(len(line)), ECHO_WAIT)
            if got != line:
                raise ConnectionError("wrong echo")
            sent += 1
            await asyncio.sleep(ECHO_EVERY)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        return {"id": i, "opened": True, "alive": False, "echoes": sent, "lost_at": time.monotonic()}
    finally:
        writer.close()
    return {"id": i, "opened": True, "alive": True, "echoes": sent, "lost_at": None}


async def probe(vip: str, port: int) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(vip, port), TIMEOUT)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(4096), TIMEOUT)
        return b" 200 " in answer and b"OK " in answer
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


async def client(vip: str, port: int, seconds: float, n_long: int, out: Path) -> None:
    start = time.monotonic()
    until = start + min(seconds, 120.0)  # bounded whatever is asked
    longs = [asyncio.create_task(long_lived(vip, port, until, i)) for i in range(n_long)]
    attempts: list[tuple[float, bool]] = []

    async def one() -> None:
        t = time.monotonic()
        attempts.append((t, await probe(vip, port)))

    probes: list[asyncio.Task[None]] = []
    while time.monotonic() < until:
        probes.append(asyncio.create_task(one()))
        await asyncio.sleep(PROBE_EVERY)
    await asyncio.gather(*probes)
    results = await asyncio.gather(*longs)
    out.write_text(json.dumps({"start": start, "long": results, "attempts": sorted(attempts)}))


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("real")
    r.add_argument("--name", required=True)
    r.add_argument("--fail-file", type=Path, required=True)
    r.add_argument("--port", type=int, default=80)
    c = sub.add_parser("client")
    c.add_argument("--vip", required=True)
    c.add_argument("--port", type=int, default=80)
    c.add_argument("--seconds", type=float, required=True)
    c.add_argument("--long", type=int, default=6)
    c.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.what == "real":
        asyncio.run(real(args.name, args.fail_file, args.port))
    else:
        asyncio.run(client(args.vip, args.port, args.seconds, args.long, args.out))


if __name__ == "__main__":
    main()
