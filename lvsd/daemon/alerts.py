"""Email alerts and the commands lvsd runs on events (``fallbackcommand``, ``callback``): sent and run on the side.

Both are owned background jobs: bounded in time, their failures logged, never
blocking the owner loop, and awaited (bounded) at shutdown.

* ``fallbackcommand``: ``CMD start|stop VIP:PORT PROTO`` through the shell,
  as ldirectord runs it, once per change of "no real server is up" for a
  virtual. A fwmark service passes ``MARK:0`` (ldirectord passes ``:0``).
* email: ldirectord's subject (the log text, ``[servicename] `` first when
  set) and body; through SMTP on port 25 of ``smtp`` when set, else
  ``sendmail -t``.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import os
import pwd
import smtplib
import socket
from collections.abc import Coroutine
from email.message import EmailMessage
from typing import Any

from lvsd import log

COMMAND_TIMEOUT = 60.0
MAIL_TIMEOUT = 30.0
MAX_PENDING = 256
SENDMAIL = "/usr/sbin/sendmail"
# RFC 5322 allows 998-character lines: ldirectord's subjects are long, and the
# default 78 makes Python fold them before the first word (a leading space).
MAIL_POLICY = email.policy.default.clone(max_line_length=998)


def hostname() -> str:
    return os.environ.get("HOSTNAME") or socket.gethostname()


def default_sender() -> str:
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = "root"
    return f"{user}@{hostname()}"


def fallback_argument(label: str, fwmark: int | None) -> str:
    return f"{fwmark}:0" if fwmark is not None else label


def alert_message(
    *, to: str, sender: str, subject: str, status: str, servicename: str | None = None, comment: str | None = None
) -> EmailMessage:
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["To"] = to
    msg["From"] = sender
    msg["Subject"] = f"[{servicename}] {subject}" if servicename else subject
    body = [f"ldirectord host: {hostname()}", f"Log-Message: {subject}", f"Daemon-Status: {status}"]
    if servicename:
        body.append(f"Service name: {servicename}")
    if comment:
        body.append(f"Comment: {comment}")
    msg.set_content("\n".join(body) + "\n")
    return msg


class AlertJobs:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        if len(self._tasks) >= MAX_PENDING:
            coro.close()
            log.get().error("hook.dropped", what=what, reason=f"{MAX_PENDING} hooks already pending")
            return
        task = asyncio.get_running_loop().create_task(coro, name=what)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def fallback_command(self, cmd: str, action: str, target: str, protocol: str) -> None:
        line = f"{cmd} {action} {target} {protocol}"
        self._spawn(self._run(line), f"fallbackcommand {action} {target}")

    async def _run(self, line: str) -> None:
        logger = log.get()
        proc = await asyncio.create_subprocess_shell(
            line, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                _, err = await proc.communicate()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            logger.error("fallbackcommand.timeout", command=line, timeout=COMMAND_TIMEOUT)
            return
        if proc.returncode != 0:
            logger.error(
                "fallbackcommand.failed", msg=f"system({line}) failed: exit status {proc.returncode}",
                stderr=err.decode(errors="replace").strip()[-500:],
            )
        else:
            logger.info("fallbackcommand.ran", command=line)

    def email(self, msg: EmailMessage, smtp: str | None) -> None:
        self._spawn(self._mail(msg, smtp), f"email {msg['Subject']}")

    async def _mail(self, msg: EmailMessage, smtp: str | None) -> None:
        logger = log.get()
        logger.info("email.send", msg=f"emailalert: {msg['Subject']}", to=msg["To"])
        try:
            if smtp:
                async with asyncio.timeout(MAIL_TIMEOUT):
                    await asyncio.to_thread(_send_smtp, msg, smtp)
            else:
                await _send_sendmail(msg)
        except (OSError, smtplib.SMTPException, TimeoutError) as exc:
            what = "failed to send SMTP email message" if smtp else "failed to send email message"
            logger.error("email.failed", msg=what, error=str(exc) or type(exc).__name__)

    async def close(self, grace: float = 10.0) -> None:
        """Let pending hooks finish (bounded), then cancel the rest."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def _send_smtp(msg: EmailMessage, server: str) -> None:
    host, _, port = server.partition(":")
    with smtplib.SMTP(host, int(port or 25), timeout=MAIL_TIMEOUT) as s:
        s.send_message(msg)


async def _send_sendmail(msg: EmailMessage) -> None:
    proc = await asyncio.create_subprocess_exec(
        SENDMAIL, "-t", "-oi", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(MAIL_TIMEOUT):
            _, err = await proc.communicate(msg.as_bytes())
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise OSError(f"sendmail exit {proc.returncode}: {err.decode(errors='replace').strip()}")
