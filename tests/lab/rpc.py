"""One-JSON-line-each-way calls over a unix socket: how tests drive lab agents.

Agents (the backends and the client agent) run in other network namespaces; a
filesystem unix socket reaches across namespaces, so the director-side tests talk to
them through sockets under a /run directory. Each call opens its own connection, so
calls are thread-safe and may overlap; :func:`acall` is the asyncio flavour.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
MAX_LINE = 1 << 20


class RpcError(RuntimeError):
    """The agent could not be reached or answered with an error."""


def call(sock_path: str, op: str, /, timeout: float = 10.0, **args: Any) -> dict[str, Any]:
    """Send ``{"op": op, **args}`` to the agent at *sock_path*; return its answer."""
    request = json.dumps({"op": op, **args}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(sock_path)
            sock.sendall(request)
            data = b""
            while not data.endswith(b"\n") and len(data) < MAX_LINE:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        raise RpcError(f"{op} via {sock_path}: {exc}") from exc
    return _answer(sock_path, op, data)


async def acall(sock_path: str, op: str, /, timeout: float = 10.0,
                **args: Any) -> dict[str, Any]:
    """:func:`call` for asyncio code (does not block the event loop)."""
    request = json.dumps({"op": op, **args}).encode() + b"\n"
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(sock_path, limit=MAX_LINE)
            try:
                writer.write(request)
                await writer.drain()
                data = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError) as exc:
        raise RpcError(f"{op} via {sock_path}: {exc!r}") from exc
    return _answer(sock_path, op, data)


def _answer(path: str, op: str, data: bytes) -> dict[str, Any]:
    if not data:
        raise RpcError(f"{op} via {path}: no answer")
    answer = json.loads(data)
    if not isinstance(answer, dict):
        raise RpcError(f"{op} via {path}: bad answer {answer!r}")
    if "error" in answer and answer.get("ok") is False and answer.get("rpc_error"):
        raise RpcError(f"{op} via {path}: {answer['error']}")
    return answer


async def serve(path: str, handler: Handler) -> asyncio.Server:
    """Answer calls at *path* with *handler*; unknown ops and exceptions become errors."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            if not line:
                return
            try:
                answer = await handler(json.loads(line))
            except Exception as exc:  # reported to the caller, the agent stays up
                answer = {"ok": False, "rpc_error": True, "error": f"{type(exc).__name__}: {exc}"}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return await asyncio.start_unix_server(on_client, path, limit=MAX_LINE)
