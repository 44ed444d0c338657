"""The external and external-perl checks, and piranha's send_program.

``external``: ``checkcommand`` is run without a shell as
``CMD VIP VPORT RIP RPORT`` (IPv6 addresses in brackets; a fwmark service
passes ``MARK 0``); exit 0 = up. ``external-perl``: the script is run by the
system's perl with the same arguments and contract (ldirectord evaluates it
inside its own process; an ``exit`` is the verdict, a ``die`` is down, no
exit at all is up, which ``perl SCRIPT`` reproduces). ``send_program``
(piranha's nanny): ``%h`` and ``%p`` in the command are replaced by the
real's address and port, the command is run by ``/bin/sh``, and its output
must match ``receive`` (with no ``receive``, exit 0 = up).

Each command runs in its own process group; at the deadline the whole
group is killed (TERM, then KILL 50 ms later), so a hung script never
outlives its check nor blocks another one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess

from lvsd.addr import bracketed
from lvsd.checks.base import CheckSpec
from lvsd.checks.patterns import search
from lvsd.checks.streams import text

PERL = "/usr/bin/perl"
MAX_OUTPUT = 64 * 1024
GRACE = 0.05


def argv(spec: CheckSpec) -> list[str]:
    if spec.send_program:
        command = spec.command.replace("%h", bracketed(spec.host)).replace("%p", str(spec.port))
        return ["/bin/sh", "-c", command]
    if spec.kind == "external-perl":
        return [PERL, spec.command, *spec.args]
    return [spec.command, *spec.args]


def _kill(proc: asyncio.subprocess.Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


async def _exited(proc: asyncio.subprocess.Process) -> bool:
    try:
        async with asyncio.timeout(GRACE):
            await proc.wait()
    except TimeoutError:
        return False
    return True


async def external(spec: CheckSpec) -> tuple[bool, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv(spec), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True, close_fds=True,
    )
    try:
        assert proc.stdout is not None
        kept = bytearray()
        while data := await proc.stdout.read(65536):  # read to the end, keep the start
            kept += data[: max(0, MAX_OUTPUT - len(kept))]
        output = bytes(kept)
        code = await proc.wait()
    finally:
        if proc.returncode is None:  # the deadline passed (or lvsd is stopping): end the whole group
            _kill(proc, signal.SIGTERM)
            if not await _exited(proc):
                _kill(proc, signal.SIGKILL)
                await _exited(proc)  # reaped, its pipe closed (unless stuck in the kernel: then given up)
        else:
            _kill(proc, signal.SIGKILL)  # children it left behind
    last = text(output.strip().splitlines()[-1]) if output.strip() else ""
    said = f": {last}" if last else ""
    if spec.send_program and spec.receive:
        if search(spec.receive, output):
            return True, f"output matches receive{said}"
        return False, f"exit {code}, output does not match receive {spec.receive!r}{said}"
    if code == 0:
        return True, f"exit 0{said}"
    if code < 0:
        return False, f"killed by signal {-code}{said}"
    return False, f"exit {code}{said}"
