"""Write keepalived's track file: the whole new content at once, never a half-written number."""

from __future__ import annotations

import os


def write_track_file(path: str, value: int) -> None:
    """``value`` and a newline into ``path`` by rename, so keepalived's reader sees the old number or the new one."""
    tmp = f"{path}.lvsd-tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{value}\n")
    os.replace(tmp, path)
