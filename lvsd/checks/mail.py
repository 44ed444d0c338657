"""Mail checks with ldirectord's success criteria: smtp/submission, pop/pops, imap/imaps.

* smtp, submission (Net::SMTP): the greeting must be 2xx, then
  ``EHLO localhost.localdomain`` must be accepted (``HELO`` is tried only when
  EHLO gets a 5xx, as Net::SMTP does), then ``QUIT``.
* pop, pops (Mail::POP3Client): the greeting must be ``+OK``; with a
  ``login``, ``USER``/``PASS`` must both be ``+OK``. ldirectord ignores the
  greeting when no login is set (a dead POP server is up); lvsd does not.
* imap, imaps (Net::IMAP::Simple): the greeting must be ``* OK`` (or
  ``* PREAUTH``); with a ``login``, ``LOGIN`` must answer ``OK``; then ``LOGOUT``.

pops and imaps speak TLS from the first byte, unverified unless tlsverify=yes.
"""

from __future__ import annotations

from lvsd.checks.base import CheckSpec
from lvsd.checks.replies import numeric_reply
from lvsd.checks.streams import close, goodbye, open_stream, read_line, text

EHLO_NAME = "localhost.localdomain"  # Net::SMTP's default


async def smtp(spec: CheckSpec) -> tuple[bool, str]:
    reader, writer = await open_stream(spec)
    try:
        code, line = await numeric_reply(reader, "SMTP greeting")
        if code // 100 != 2:
            return False, f"SMTP greeting: {line}"
        writer.write(f"EHLO {EHLO_NAME}\r\n".encode())
        code, line = await numeric_reply(reader, "SMTP EHLO")
        if code // 100 == 5:
            writer.write(f"HELO {EHLO_NAME}\r\n".encode())
            code, line = await numeric_reply(reader, "SMTP HELO")
        if code // 100 != 2:
            return False, f"SMTP EHLO/HELO refused: {line}"
        await goodbye(reader, writer, b"QUIT\r\n")
        return True, f"SMTP: greeting and EHLO accepted ({line})"
    finally:
        close(writer)


async def pop(spec: CheckSpec, tls: bool) -> tuple[bool, str]:
    reader, writer = await open_stream(spec, tls=tls)
    try:
        line = await read_line(reader, "POP3 greeting")
        if not line.startswith(b"+OK"):
            return False, f"POP3 greeting: {text(line)}"
        if spec.login:
            for command, arg in (("USER", spec.login), ("PASS", spec.passwd)):
                writer.write(f"{command} {arg}\r\n".encode("utf-8", "surrogateescape"))
                answer = await read_line(reader, f"POP3 {command}")
                if not answer.startswith(b"+OK"):
                    return False, f"POP3 login as {spec.login!r} failed: {text(answer)}"
        await goodbye(reader, writer, b"QUIT\r\n")  # the mailbox lock is released before the answer
        return True, "POP3: logged in" if spec.login else f"POP3 greeting: {text(line)}"
    finally:
        close(writer)


def _quoted(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def imap(spec: CheckSpec, tls: bool) -> tuple[bool, str]:
    reader, writer = await open_stream(spec, tls=tls)
    try:
        line = await read_line(reader, "IMAP greeting")
        if not (line.startswith(b"* OK") or line.startswith(b"* PREAUTH")):
            return False, f"IMAP greeting: {text(line)}"
        if spec.login:
            writer.write(f"l1 LOGIN {_quoted(spec.login)} {_quoted(spec.passwd)}\r\n".encode())
            while True:
                answer = await read_line(reader, "IMAP LOGIN")
                if answer.startswith(b"l1 "):
                    break
            if not answer.startswith(b"l1 OK"):
                return False, f"IMAP login as {spec.login!r} failed: {text(answer)}"
        await goodbye(reader, writer, b"l2 LOGOUT\r\n", last=b"l2 ")
        return True, "IMAP: logged in" if spec.login else f"IMAP greeting: {text(line)}"
    finally:
        close(writer)
