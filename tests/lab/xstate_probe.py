"""Ask the host kernel how it treats a short XSAVE write, as User-Mode Linux makes one.

UML restores its processes' FPU state with ``ptrace(PTRACE_SETREGSET, pid,
NT_X86_XSTATE, iov)`` and a buffer of its own fixed size. The host takes such a write
only when the buffer is exactly the host's XSAVE size; on CPUs with a larger XSAVE area
than UML's buffer (AMX) every write fails with EFAULT and UML panics at boot. The lab's
shim (``xstate_shim.c``, preloaded into ``linux.uml``) turns the short write into a whole
one. This probe makes the same short write on a stopped child of its own, on any host:

    python3 tests/lab/xstate_probe.py                      # the host alone: refused (EFAULT)
    LD_PRELOAD=tests/lab/.build/xstate_shim.so python3 tests/lab/xstate_probe.py   # taken

and prints one JSON object: the host's XSAVE size, the size written, whether the write
was taken (and errno if not), and whether the child's state afterwards holds the written
part (an XMM register set to a marker) and, beyond it, the state it had before.
Standard library only: it runs on the host before any virtualenv exists.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

PTRACE_TRACEME = 0
PTRACE_KILL = 8
PTRACE_GETREGSET = 0x4204
PTRACE_SETREGSET = 0x4205
NT_X86_XSTATE = 0x202
LEGACY = 512  # the FXSAVE area
HEADER = 64  # the XSAVE header: xstate_bv at its start
XMM7 = 160 + 7 * 16  # offset of XMM7 in the FXSAVE area
MARKER = bytes(range(0xA0, 0xB0))
PROBE_SIZE = 64 * 1024  # larger than any XSAVE area: the kernel shortens a read to its size


class IOVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


def _ptrace() -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    # CDLL(None) resolves through the process's global scope, so a preloaded shim wins.
    fn = ctypes.CDLL(None, use_errno=True).ptrace
    fn.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p)
    fn.restype = ctypes.c_long
    return fn


def _read(ptrace: ctypes._CFuncPtr, pid: int) -> bytes:  # type: ignore[name-defined]
    buf = ctypes.create_string_buffer(PROBE_SIZE)
    iov = IOVec(ctypes.cast(buf, ctypes.c_void_p), PROBE_SIZE)
    if ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, ctypes.byref(iov)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"PTRACE_GETREGSET: {os.strerror(err)}")
    return buf.raw[: iov.iov_len]


def probe() -> dict[str, object]:
    ptrace = _ptrace()
    pid = os.fork()
    if pid == 0:  # the tracee: stop and wait to be killed
        try:
            ptrace(PTRACE_TRACEME, 0, None, None)
            os.kill(os.getpid(), signal.SIGSTOP)
        finally:
            os._exit(0)
    try:
        _, status = os.waitpid(pid, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            return {"error": f"child did not stop (status {status})"}
        before = _read(ptrace, pid)
        host = len(before)
        size = min(LEGACY + HEADER, host - HEADER)
        short = bytearray(before[:size])
        short[XMM7:XMM7 + 16] = MARKER
        short[LEGACY] |= 0x2  # xstate_bv: the SSE state is in this buffer
        buf = ctypes.create_string_buffer(bytes(short), size)
        iov = IOVec(ctypes.cast(buf, ctypes.c_void_p), size)
        rc = ptrace(PTRACE_SETREGSET, pid, NT_X86_XSTATE, ctypes.byref(iov))
        err = ctypes.get_errno() if rc != 0 else 0
        after = _read(ptrace, pid)
        return {
            "host_size": host,
            "written": size,
            "taken": rc == 0,
            "errno": err,
            "error": os.strerror(err) if err else "",
            "marker_kept": after[XMM7:XMM7 + 16] == MARKER,
            "rest_kept": after[size:] == before[size:],
            "preload": os.environ.get("LD_PRELOAD", ""),
        }
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


if __name__ == "__main__":
    json.dump(probe(), sys.stdout)
    sys.stdout.write("\n")
