"""The daemon running for a config, seen from outside: its PID file and its control socket."""

from __future__ import annotations

import os
import time
from typing import Any

from lvsd.cli.paths import Paths


def read_pid(paths: Paths) -> tuple[int | None, bool]:
    """(pid, running): pid from the PID file; running if that process is an lvsd."""
    try:
        with open(paths.pidfile) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return None, False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return pid, False
    return pid, b"lvsd" in cmdline


def ask(paths: Paths, cmd: str, timeout: float = 10.0, **args: Any) -> dict[str, Any] | None:
    """The running daemon's answer over its control socket, or None if it cannot be reached."""
    from lvsd.control import ask as control_ask

    try:
        return control_ask(paths.socket, cmd, timeout=timeout, **args)
    except (OSError, ValueError):
        return None


def wait_gone(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` ended within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False
