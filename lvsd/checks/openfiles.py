"""How many checks may be in flight at once: the process's open-files limit, raised once at start-up.

Every check in flight holds a socket or two (ftp's data connection, a
script's pipe), so the bound on checks in flight follows RLIMIT_NOFILE,
less what the daemon itself keeps open. The limit is process-wide: raising
it is an explicit start-up step (:func:`raise_open_files_limit`) of whoever
runs checks for the life of the process (the daemon's start, ``lvsd probe``),
never a side effect of building something. :func:`checks_in_flight` only
reads the limit.
"""

from __future__ import annotations

import resource

MAX_CONCURRENT = 4096  # checks in flight at once
FDS_PER_CHECK = 2  # ftp's data connection, a script's pipe
RESERVED_FDS = 256  # the netlink socket, logs, the control socket, ...
WANTED_NOFILE = 65536


def raise_open_files_limit(wanted: int = WANTED_NOFILE) -> None:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (at most the hard limit); process-wide, never fails."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


def checks_in_flight(wanted: int = MAX_CONCURRENT) -> int:
    """The bound on checks in flight that the open-files limit allows now (at least 16, at most ``wanted``)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(16, min(wanted, (soft - RESERVED_FDS) // FDS_PER_CHECK))


def concurrency_limit(wanted: int = MAX_CONCURRENT) -> int:
    """Start-up in one call: raise the open-files limit, then size the bound on checks in flight to it."""
    raise_open_files_limit()
    return checks_in_flight(wanted)
