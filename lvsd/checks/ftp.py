"""The ftp negotiate check (Net::FTP in ldirectord): log in, fetch ``request``, match ``receive``.

Greeting 220; ``USER``/``PASS`` with ``login``/``passwd`` (an explicit
``service=ftp`` gives ldirectord's anonymous defaults); ``CWD /``;
``TYPE I``; passive mode (``PASV``, or ``EPSV`` over IPv6), always to the real
server's own address whatever the reply names; ``RETR request`` (the path
with its leading ``/``, as ldirectord). Up = the transfer completed and the
content matches ``receive``. ldirectord ignores every FTP error and matches
whatever arrived, and an empty ``receive`` there reuses Perl's last pattern;
lvsd needs a completed transfer, and an empty ``receive`` accepts any content.
"""

from __future__ import annotations

import asyncio
import re

from lvsd.checks.base import CheckSpec
from lvsd.checks.patterns import search
from lvsd.checks.replies import numeric_reply
from lvsd.checks.streams import ProtocolError, close, goodbye, open_stream

MAX_FILE = 4 * 1024 * 1024


async def _command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str) -> tuple[int, str]:
    writer.write(line.encode("utf-8", "surrogateescape") + b"\r\n")
    return await numeric_reply(reader, f"FTP {line.split()[0]}")


async def ftp(spec: CheckSpec) -> tuple[bool, str]:
    reader, writer = await open_stream(spec)
    data_writer: asyncio.StreamWriter | None = None
    try:
        code, line = await numeric_reply(reader, "FTP greeting")
        if code != 220:
            return False, f"FTP greeting: {line}"
        code, line = await _command(reader, writer, f"USER {spec.login}")
        if code == 331:
            code, line = await _command(reader, writer, f"PASS {spec.passwd}")
        if code // 100 != 2:
            return False, f"FTP login as {spec.login!r} failed: {line}"
        await _command(reader, writer, "CWD /")
        await _command(reader, writer, "TYPE I")
        v6 = ":" in spec.host
        code, line = await _command(reader, writer, "EPSV" if v6 else "PASV")
        port = _passive_port(code, line, v6)
        data_reader, data_writer = await asyncio.open_connection(spec.host, port)
        path = spec.request
        code, line = await _command(reader, writer, f"RETR {path}")
        if code // 100 != 1:
            return False, f"FTP RETR {path}: {line}"
        content = await data_reader.read(MAX_FILE)
        while len(content) < MAX_FILE and (more := await data_reader.read(MAX_FILE - len(content))):
            content += more
        close(data_writer)
        data_writer = None
        code, line = await numeric_reply(reader, "FTP transfer")
        if code // 100 != 2:
            return False, f"FTP RETR {path}: {line}"
        await goodbye(reader, writer, b"QUIT\r\n")
        if not spec.receive or search(spec.receive, content):
            return True, f"FTP RETR {path}: {len(content)} bytes" + (", receive matched" if spec.receive else "")
        return False, f"FTP RETR {path}: {len(content)} bytes, content does not match receive {spec.receive!r}"
    finally:
        if data_writer is not None:
            close(data_writer)
        close(writer)


def _passive_port(code: int, line: str, v6: bool) -> int:
    if v6:
        m = re.search(r"\(\|\|\|(\d+)\|\)", line)
        if code == 229 and m:
            return int(m.group(1))
        raise ProtocolError(f"FTP EPSV: {line}")
    m = re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", line)
    if code == 227 and m:
        return int(m.group(5)) * 256 + int(m.group(6))
    raise ProtocolError(f"FTP PASV: {line}")
