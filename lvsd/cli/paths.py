"""Which config a command means (ldirectord's lookup), and the PID file and control socket named after it."""

from __future__ import annotations

import os

CONFIG_DIRS = ("/etc/ha.d", "/etc/ha.d/conf")
DEFAULT_CONFIGS = ("/etc/lvsd/lvsd.cf", "/etc/ha.d/ldirectord.cf")


def find_config(name: str | None) -> str:
    """ldirectord's lookup: /etc/ha.d/NAME, /etc/ha.d/conf/NAME, then NAME; made absolute."""
    if name is None:
        for path in DEFAULT_CONFIGS:
            if os.path.exists(path):
                return path
        return DEFAULT_CONFIGS[0]
    if not name.startswith("/"):
        for d in CONFIG_DIRS:
            candidate = os.path.join(d, name)
            if os.path.isfile(candidate):
                return candidate
    return os.path.abspath(name)


class Paths:
    """The files of the daemon for one config, in ``$LVSD_RUNDIR`` (default /run)."""

    def __init__(self, config: str) -> None:
        self.config = config
        self.name = os.path.basename(config)
        rundir = os.environ.get("LVSD_RUNDIR", "/run")
        self.pidfile = os.path.join(rundir, f"lvsd.{self.name}.pid")
        self.socket = os.path.join(rundir, f"lvsd.{self.name}.sock")
