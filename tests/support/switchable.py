"""A web server on 127.0.0.1 whose behaviour tests switch at run time (up, 500, wrong page, hung, refused)."""

from __future__ import annotations

import asyncio


class Switchable:
    def __init__(self, name: str) -> None:
        self.name = name
        self.mode = "up"
        self.port = 0
        self.served = 0
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port or self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._conns):
            w.close()

    async def set_mode(self, mode: str) -> None:
        if mode == "refuse" and self._server is not None:
            await self.stop()
        elif self.mode == "refuse" and mode != "refuse":
            await self.start(self.port)
        self.mode = mode

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.mode == "slow":
                await asyncio.sleep(3600)
            status, body = {"up": (200, f"{self.name} OK\n"), "wrongpage": (200, "maintenance\n"),
                            "error500": (500, "OK but broken\n")}[self.mode]
            self.served += 1
            writer.write(f"HTTP/1.0 {status} X\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()
