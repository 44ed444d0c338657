"""lvsd's exception tree. Library code raises these; only the CLI turns them into exit codes.

LvsdError
├── ConfigError        (lvsd.config.errors) a config file could not be loaded
└── IPVSError          the kernel refused or did not answer an IPVS operation
"""

from __future__ import annotations

import errno as errno_mod


class LvsdError(Exception):
    """Base of every error lvsd raises on purpose."""


class IPVSError(LvsdError):
    """An IPVS operation failed: ``op`` says which, ``errno`` says why."""

    def __init__(self, op: str, errno: int, detail: str = "") -> None:
        self.op = op
        self.errno = errno
        self.detail = detail or errno_mod.errorcode.get(errno, str(errno))
        super().__init__(f"{op}: {self.detail}")

