"""ldirectord.cf lexical rules: which physical lines are globals, virtual headers or members.

The rules are ldirectord's (read_config), reported like a compiler instead of
as ``Unknown command``:

* globals and ``virtual=`` / ``virtual6=`` start in column 0, ``key = value``
  with optional blanks around ``=``; keywords are case-sensitive;
* a block's members are indented by at least 4 spaces or a TAB (each TAB
  counts as 4 spaces); a line indented by 1 to 3 spaces is an error;
* a blank (or whitespace-only) line ends a block; an indented line after it
  is an error naming the block, since ldirectord rejects it too;
* ``#`` after optional blanks makes a full-line comment at both levels, also
  in column 0 inside a block (the block goes on);
* inside a block everything from the first ``#`` is a comment, quotes or not.
  ldirectord thereby cuts a quoted value short (``passwd="pa#ss"``); lvsd
  rejects a ``#`` inside quotes with an error rather than mean something else;
* at global level a ``#`` after a value is *not* a comment; values.py decides,
  directive by directive, whether ldirectord ignores it or keeps it;
* characters pasted from the web that look like ASCII (no-break spaces,
  typographic quotes and dashes, zero-width spaces, a byte order mark) are
  errors naming the character; they are read as their ASCII twin so that the
  rest of the line is still checked.

All regular expressions are ASCII-only, as Perl's are on bytes: ``\\s`` does
not match U+00A0 and ``\\d`` does not match other scripts' digits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from lvsd.config.source import Source

BLANKS = " \t\r\f\v"

# Characters that look like ASCII in a browser, and the ASCII they stand for.
LOOKALIKES: dict[str, str] = {
    "\u00a0": " ", "\u2000": " ", "\u2001": " ", "\u2002": " ", "\u2003": " ",
    "\u2004": " ", "\u2005": " ", "\u2006": " ", "\u2007": " ", "\u2008": " ",
    "\u2009": " ", "\u200a": " ", "\u202f": " ", "\u205f": " ", "\u3000": " ",
    "\u200b": "", "\u2060": "", "\ufeff": "",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
    "\u2015": "-", "\u2212": "-",
}

_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)[ \t]*(=?)[ \t]*", re.ASCII)
_VIRTUAL = re.compile(r"virtual6?[ \t]*=", re.ASCII)

Kind = Literal["global", "virtual", "member"]


@dataclass(frozen=True, slots=True)
class Statement:
    """One directive: ``name = value`` with the columns of both parts."""

    kind: Kind
    line: int
    name: str
    name_col: int
    value: str  # after "=" and its blanks; members: the comment already removed
    value_col: int
    has_equals: bool
    block: int = 0  # line of the virtual header a member belongs to

    @property
    def in_block(self) -> bool:
        return self.kind == "member"


def char_name(ch: str) -> str:
    """``U+00A0 NO-BREAK SPACE``: how a diagnostic names a character."""
    name = unicodedata.name(ch, "") or "unnamed character"
    text = f"U+{ord(ch):04X} {name}"
    if ch == "\ufeff":
        text += " (byte order mark)"
    return text


def _code_end(text: str) -> int:
    """Index where the comment part of a line starts: the first ``#`` outside quotes."""
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            return i
    return len(text)


def _lookalikes(src: Source, number: int, text: str) -> str:
    """Report web-pasted lookalike characters; return the line with ASCII in their place."""
    if text.isascii() or text.lstrip(BLANKS).startswith("#"):
        return text  # every lookalike is non-ASCII: the common case costs one scan in C
    out: list[str] = []
    seen: set[str] = set()
    quoted = False
    end = _code_end(text)
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        if i < end and not quoted and ch in LOOKALIKES:
            if ch not in seen:
                seen.add(ch)
                ascii_ = LOOKALIKES[ch]
                hint = f"use a plain {ascii_!r}" if ascii_ else "delete it"
                src.error(number, i + 1, f"{char_name(ch)} is not allowed here ({hint}; "
                          "it often comes from copying text out of a web page)")
            out.append(LOOKALIKES[ch])
        else:
            out.append(ch)
    return "".join(out)


def _indent(text: str) -> tuple[int, int]:
    """(index of the first non-blank, ldirectord's width: TAB = 4 spaces)."""
    width = 0
    for i, ch in enumerate(text):
        if ch == " ":
            width += 1
        elif ch == "\t":
            width += 4
        else:
            return i, width
    return len(text), width


def _statement(src: Source, kind: Kind, number: int, text: str, start: int,
               block: int = 0) -> Statement | None:
    match = _NAME.match(text, start)
    if not match:
        src.error(number, start + 1, "expected a directive (name=value)")
        return None
    value = text[match.end():]
    return Statement(kind=kind, line=number, name=match.group(1), name_col=start + 1,
                     value=value, value_col=match.end() + 1,
                     has_equals=bool(match.group(2)), block=block)


def _member_text(src: Source, number: int, text: str) -> str | None:
    """Apply ldirectord's in-block comment rule (strip from the first ``#``)."""
    hash_at = text.find("#")
    if hash_at < 0:
        return text
    if _code_end(text) != hash_at:
        src.error(number, hash_at + 1,
                  "'#' inside a quoted value: in a virtual block ldirectord.cf treats "
                  "everything from '#' as a comment, so ldirectord would cut this value "
                  "short; such a value cannot be written in ldirectord.cf")
        return None
    if hash_at > 0 and text[hash_at - 1] not in BLANKS:
        src.warning(number, hash_at + 1,
                    "'#' starts a comment inside a virtual block, so the value ends just "
                    "before it (as in ldirectord); put a blank before '#' to make that clear")
    return text[:hash_at]


def scan(src: Source) -> Iterator[Statement]:
    """Classify every line of ``src``, reporting layout errors; yield the statements."""
    block = 0  # line of the current virtual header, 0 outside a block
    ended = (0, 0)  # (virtual line, blank line) of the block a blank line just ended
    for number, raw in enumerate(src.lines, 1):
        text = _lookalikes(src, number, raw)
        first, width = _indent(text)
        if width and not block and not ended[0] and _indent(raw)[1] == 0:
            text, first, width = text[first:], 0, 0  # pasted blanks before a global
        rest = text[first:].strip(BLANKS)
        if rest.startswith("#"):
            continue  # full-line comment, at any indentation and at both levels
        if not rest:
            if block:
                ended, block = (block, number), 0
            continue
        if block and width == 0:
            block = 0  # a column-0 line ends the block and is read as a global
        if block or (width and ended[0]):
            owner = block or ended[0]
            if not block:
                src.error(number, first + 1,
                          f"indented line after the blank line {ended[1]} that ended the "
                          f"virtual block of line {ended[0]} (a blank line ends a block in "
                          "ldirectord.cf; remove it or comment it out with '#')")
                block = owner  # read the rest of the run as that block's, without more noise
            elif width < 4:
                src.error(number, 1, "virtual block members must be indented by at least "
                          f"4 spaces or a TAB (this line has {width})")
            member = _member_text(src, number, text)
            if member is not None and member.strip(BLANKS):
                stmt = _statement(src, "member", number, member, first, owner)
                if stmt:
                    yield stmt
            continue
        if width:
            src.error(number, 1, "indented line outside a virtual block (global directives "
                      "start in column 0; block members follow a virtual= line)")
            continue
        ended = (0, 0)
        kind: Kind = "virtual" if _VIRTUAL.match(text) else "global"
        stmt = _statement(src, kind, number, text, 0)
        if stmt:
            block = number if kind == "virtual" else 0
            yield stmt
