"""A config file's text as numbered lines, and the diagnostics found in it.

Readers report problems here with a 1-based line and column; a diagnostic
carries the physical source line so it can be shown with a caret. Columns count
characters of the physical line (a TAB is one column), as editors do.
"""

from __future__ import annotations

from lvsd.config.errors import ConfigError, Diagnostic


class Problem(Exception):
    """A value is wrong; raised inside a reader, reported by its caller.

    ``col`` is the 1-based column in the physical line, or 0 to mean "the
    column of the value being parsed" (the caller fills it in).
    """

    def __init__(self, message: str, col: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.col = col


class Source:
    """The lines of one file plus every diagnostic reported against them."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        raw = text.split("\n")
        if raw and raw[-1] == "":
            raw.pop()  # the newline that ends the last line does not open another
        self.crlf_line = 0  # first line that ended in CR LF, 0 if none
        self.lines: list[str] = []
        for number, line in enumerate(raw, 1):
            if line.endswith("\r"):
                line = line[:-1]
                self.crlf_line = self.crlf_line or number
            self.lines.append(line)
        self.diagnostics: list[Diagnostic] = []
        self._seen: set[tuple[int, int, str]] = set()

    def line(self, number: int) -> str:
        if 1 <= number <= len(self.lines):
            return self.lines[number - 1]
        return ""

    def error(self, line: int, col: int, message: str) -> None:
        self._add(line, col, message, "error")

    def warning(self, line: int, col: int, message: str) -> None:
        self._add(line, col, message, "warning")

    def _add(self, line: int, col: int, message: str, severity: str) -> None:
        key = (line, col, message)
        if key in self._seen:
            return  # e.g. a global fallback that fails for every virtual using it
        self._seen.add(key)
        self.diagnostics.append(
            Diagnostic(
                file=self.path,
                line=line,
                col=max(col, 1),
                message=message,
                source=self.line(line),
                severity="error" if severity == "error" else "warning",
            )
        )

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.diagnostics, key=lambda d: (d.line, d.col))

    def raise_if_errors(self) -> None:
        if self.has_errors:
            raise ConfigError(self.sorted())

    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.sorted() if d.severity == "warning")
