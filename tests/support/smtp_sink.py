"""A minimal SMTP server on loopback that keeps what it receives (for alert tests)."""

from __future__ import annotations

import asyncio
import email
import email.policy
from email.message import Message


class SmtpSink:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.received = asyncio.Event()
        self._server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._session, host, port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")

        say("220 sink ESMTP")
        try:
            for _ in range(100):  # bounded dialogue
                line = (await asyncio.wait_for(reader.readline(), 10)).decode().strip()
                verb = line.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    say("250 sink")
                elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                    say("250 ok")
                elif verb == "DATA":
                    say("354 go on")
                    data = await asyncio.wait_for(reader.readuntil(b"\r\n.\r\n"), 10)
                    self.messages.append(email.message_from_bytes(data[:-5], policy=email.policy.default))
                    self.received.set()
                    say("250 queued")
                elif verb == "QUIT":
                    say("221 bye")
                    break
                else:
                    say("502 no")
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
