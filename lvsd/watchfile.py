"""Notice when the config file's content changes (ldirectord's autoreload poll).

Cheap when nothing changed: the file is re-read and hashed only when its
size, mtime or inode differ from what was last remembered.
"""

from __future__ import annotations

import hashlib
import os

from lvsd.config.loader import read_regular


class FileWatch:
    def __init__(self, path: str) -> None:
        self.path = path
        self._stat: tuple[int, int, int] | None = None
        self._digest: bytes | None = None

    def _read(self) -> tuple[tuple[int, int, int] | None, bytes | None]:
        try:
            st = os.stat(self.path)
            data = read_regular(self.path)  # a FIFO put in the file's place must not block the daemon
            return (st.st_ino, st.st_size, st.st_mtime_ns), hashlib.sha256(data).digest()
        except OSError:
            return None, None

    def remember(self) -> None:
        """Take the file as it is now as the known content."""
        self._stat, self._digest = self._read()

    def changed(self) -> bool:
        """True once when the content differs from the remembered one (a touch is not a change)."""
        try:
            st = os.stat(self.path)
            sig: tuple[int, int, int] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            sig = None
        if sig == self._stat:
            return False
        stat, digest = self._read()
        self._stat = stat
        if digest == self._digest:
            return False
        self._digest = digest
        return True
