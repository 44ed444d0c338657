"""What reaches the owner loop: a check result, a reload request, or a stop."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from lvsd.checks.base import CheckResult, CheckSpec


class EventKind(Enum):
    RESULT = "result"  # a check result for one member (key, spec, result)
    RELOAD = "reload"  # SIGHUP, the control socket, autoreload
    STOP = "stop"  # SIGTERM/INT/QUIT (clean), SIGUSR2 (leave the table for the next lvsd)


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    key: Hashable = None  # the member a result is for (a MemberKey)
    spec: CheckSpec | None = None
    result: CheckResult | None = None
    signame: str = ""
    clean: bool = True
    reply: asyncio.Future[dict[str, Any]] | None = None
