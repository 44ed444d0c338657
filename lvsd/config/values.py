"""Reading one directive's value: yes/no, numbers, words, quoted and raw strings.

Each reader takes the text after ``=`` and either returns the value or raises
:class:`Problem`. What may follow a value is ldirectord's business, and it
differs by directive, because ldirectord validates some values with an
unanchored regex and compares others with ``eq``:

* *lenient* values (numbers, words, quoted strings) ignore whatever follows,
  so ``checkinterval=5 # seconds`` works at global level, where ``#`` is not a
  comment. lvsd accepts blanks and such a comment, and rejects other junk
  (``checktimeout=1.5`` would silently be 1 in ldirectord);
* ``yes``/``no`` values are compared exactly: ldirectord rejects
  ``quiescent=yes `` (also CR LF line ends). lvsd accepts trailing blanks with
  a warning, since the meaning is obvious, but not a trailing ``# comment``
  at global level, which ldirectord reads as part of the value;
* raw values (``.*``) keep trailing blanks and comments in ldirectord. lvsd
  strips blanks with a warning and rejects a global-level ``# ...``.

Inside a virtual block, ldirectord has already replaced each TAB of the line
with 4 spaces; string values get the same treatment here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lvsd.config.lexer import BLANKS, Statement
from lvsd.config.source import Problem, Source

_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_MAX_DIGITS = 10  # enough for 32-bit values; keeps int() away from huge strings
NO_GLOBAL_COMMENTS = (
    "ldirectord.cf has no end-of-line comments outside virtual blocks: ldirectord "
    "would not read this '#' as a comment, and would reject or misread the value; "
    "put the comment on a line of its own")


def choices(items: Iterable[str]) -> str:
    """``a, b or c``: a list for an error message."""
    items = list(items)
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else "".join(items)


class Field:
    """The value of one statement, with the readers that parse it."""

    def __init__(self, src: Source, stmt: Statement) -> None:
        self.src = src
        self.stmt = stmt
        self.name = stmt.name
        self.text = stmt.value
        self.col = stmt.value_col

    # -- reporting ---------------------------------------------------------------
    def warn(self, message: str, offset: int = 0) -> None:
        self.src.warning(self.stmt.line, self.col + offset, message)

    def warn_name(self, message: str) -> None:
        self.src.warning(self.stmt.line, self.stmt.name_col, message)

    def problem(self, message: str, offset: int = 0) -> Problem:
        return Problem(message, self.col + offset)

    def name_problem(self, message: str) -> Problem:
        """A problem reported at the directive's name rather than its value."""
        return Problem(message, self.stmt.name_col)

    def expand_tabs(self, text: str) -> str:
        """Inside a block ldirectord has turned every TAB of the line into 4 spaces."""
        return text.replace("\t", "    ") if self.stmt.in_block else text

    def tail(self, end: int, *, after: str, blanks: str = "", comment: bool = True) -> None:
        """Check what follows the value, which ends at index ``end``.

        ``blanks`` is the warning for trailing blanks when ldirectord would not
        ignore them; ``comment`` says whether ldirectord ignores a global-level
        ``# ...`` after the value.
        """
        rest = self.text[end:]
        stripped = rest.lstrip(BLANKS)
        offset = end + len(rest) - len(stripped)
        if not stripped:
            if rest and blanks:
                self.warn(blanks, end)
            return
        if stripped.startswith("#") and rest[0] in BLANKS and not self.stmt.in_block:
            if not comment:
                raise self.problem(NO_GLOBAL_COMMENTS, offset)
            return
        raise self.problem(f"unexpected {stripped!r} after {after}", offset)

    # -- readers -----------------------------------------------------------------
    def yes_no(self) -> bool:
        token = self.token()
        if token not in ("yes", "no"):
            case = " (lower case)" if token.lower() in ("yes", "no") else ""
            raise self.problem(f"{self.name} must be 'yes' or 'no'{case}, not {token!r}")
        self.tail(len(token), after=f"'{token}'", comment=False,
                  blanks="trailing blanks after a yes/no value: ldirectord rejects this "
                  "line; lvsd accepts it")
        return token == "yes"

    def integer(self, *, minimum: int, maximum: int, what: str = "") -> int:
        match = _DIGITS.match(self.text)
        what = what or f"{self.name} must be a whole number"
        if not match:
            raise self.problem(f"{what} from {minimum} to {maximum}, not {self.token()!r}")
        digits = match.group()
        frac = re.match(r"\.[0-9]+", self.text[match.end():], re.ASCII)
        if frac:
            raise self.problem(f"{what}; ldirectord would silently read "
                               f"{digits + frac.group()!r} as {digits}")
        if len(digits.lstrip("0")) > _MAX_DIGITS or not minimum <= int(digits) <= maximum:
            raise self.problem(f"{what} from {minimum} to {maximum}, not {digits}")
        self.tail(match.end(), after=digits)
        return int(digits)

    def word(self, allowed: Iterable[str], *, what: str) -> str:
        token = self.token()
        allowed = list(allowed)
        if token not in allowed:
            raise self.problem(f"unknown {what} {token!r} (expected {choices(allowed)})")
        self.tail(len(token), after=f"'{token}'")
        return token

    def quoted(self) -> str:
        """A value ldirectord requires in double quotes (greedy up to the last quote)."""
        if not self.text.startswith('"'):
            example = self.text.strip(BLANKS) or "..."
            raise self.problem(f'{self.name} must be in double quotes: '
                               f'{self.name}="{example}"')
        last = self.text.rfind('"')
        if last == 0:
            raise self.problem("missing closing '\"'", len(self.text))
        self.tail(last + 1, after="the closing quote")
        return self.expand_tabs(self.text[1:last])

    def maybe_quoted(self, *, greedy: bool = True) -> str:
        """A value with optional double quotes; unquoted, it is the rest of the line."""
        if self.text.startswith('"'):
            last = self.text.rfind('"') if greedy else self.text.find('"', 1)
            if last > 0:
                self.tail(last + 1, after="the closing quote")
                return self.expand_tabs(self.text[1:last])
        return self.raw()

    def raw(self, *, quiet: bool = False) -> str:
        """The rest of the line, as ldirectord's ``(.*)`` takes it."""
        text = self.text
        hash_at = next((i for i in range(1, len(text))
                        if text[i] == "#" and text[i - 1] in BLANKS), -1)
        if hash_at > 0 and not self.stmt.in_block:
            raise self.problem(NO_GLOBAL_COMMENTS, hash_at)
        value = text.rstrip(BLANKS)
        if len(value) < len(text) and not quiet:
            self.warn("trailing blanks ignored (ldirectord would keep them as part of "
                      "the value)", len(value))
        return self.expand_tabs(value)

    def nonempty(self, value: str, what: str) -> str:
        if not value:
            raise self.problem(f"{self.name} needs {what}")
        return value

    def token(self) -> str:
        """The value up to the first blank."""
        end = len(self.text)
        for i, ch in enumerate(self.text):
            if ch in BLANKS:
                end = i
                break
        return self.text[:end]
