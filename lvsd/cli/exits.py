"""The exit codes of every lvsd command, defined once (ldirectord's, with LSB's meaning for ``status``)."""

from __future__ import annotations

from typing import Final

OK: Final = 0  # done; status: running
FAIL: Final = 1  # not done (reload: not running; did not start or stop; kernel unreadable); status: stale PID file
CONFIG: Final = 2  # the config was refused (start, check-config, plan, convert, probe; reload: by the daemon)
STOPPED: Final = 3  # status: not running
USAGE: Final = 255  # the command line itself is wrong
