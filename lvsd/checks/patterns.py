"""``receive`` patterns: ldirectord's Perl regular expressions, matched on raw bytes.

ldirectord matches ``receive`` (unanchored, case-sensitive) against bytes it
has not decoded; lvsd compiles the pattern as a bytes regular expression so
``\\d``, ``\\w`` and ``.`` mean what they mean there (ASCII), and no body is
decoded. Python's syntax differs from Perl's only at the edges (possessive
quantifiers, ``\\z``); a pattern Python cannot compile is refused when the
config is loaded.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=4096)
def compiled(receive: str) -> re.Pattern[bytes]:
    return re.compile(receive.encode("utf-8", "surrogateescape"))


def search(receive: str, data: bytes) -> bool:
    return compiled(receive).search(data) is not None


def problem(receive: str) -> str | None:
    """Why ``receive`` cannot be used as a pattern, or None."""
    try:
        compiled(receive)
    except re.error as exc:
        return f"receive {receive!r} is not a regular expression lvsd can use: {exc}"
    return None
