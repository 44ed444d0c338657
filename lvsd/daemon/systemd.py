"""systemd's notify protocol: READY, RELOADING, STOPPING, STATUS and the watchdog.

Messages go to ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract
namespace) as one datagram each; without that variable every call is a no-op,
so the daemon behaves the same under systemd, an init script or a terminal.
"""

from __future__ import annotations

import os
import socket
import time


def _address() -> str | None:
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return None
    return "\0" + addr[1:] if addr.startswith("@") else addr


def notify(*lines: str) -> bool:
    """Send ``KEY=VALUE`` lines; True if systemd was told."""
    addr = _address()
    if addr is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            # never block the owner loop: if systemd does not read (its queue holds ten datagrams), drop this one
            s.send("\n".join(lines).encode(), socket.MSG_DONTWAIT)
    except OSError:
        return False
    return True


def ready(status: str) -> bool:
    return notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")


def reloading() -> bool:
    return notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")


def stopping() -> bool:
    return notify("STOPPING=1")


def status(text: str) -> bool:
    return notify(f"STATUS={text}")


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings (half systemd's WatchdogSec), or None if not asked."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(int(usec) / 2e6, 0.05)
    except ValueError:
        return None


def watchdog() -> bool:
    return notify("WATCHDOG=1")
