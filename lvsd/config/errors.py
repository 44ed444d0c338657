"""Config diagnostics that read like a compiler's, and the error that carries them.

A diagnostic names ``FILE:LINE:COL``, says what was expected, and shows the
source line with a caret under the column. A loader collects every diagnostic
in a file before raising, so the operator sees all problems at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lvsd.errors import LvsdError

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnostic:
    file: str
    line: int  # 1-based
    col: int  # 1-based
    message: str
    source: str = ""  # the offending physical line, without its line end
    severity: Severity = "error"

    def format(self) -> str:
        if self.line <= 0:  # about the whole file (missing, unreadable)
            return f"{self.file}: {self.severity}: {self.message}"
        head = f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}"
        if not self.source:
            return head
        shown = self.source.replace("\t", " ")
        caret = " " * (max(self.col, 1) - 1) + "^"
        return f"{head}\n    {shown}\n    {caret}"

    def __str__(self) -> str:
        return self.format()


class ConfigError(LvsdError):
    """The file could not be loaded; ``diagnostics`` holds every error found."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = [d for d in diagnostics if d.severity == "error"]
        self.warnings = [d for d in diagnostics if d.severity == "warning"]
        super().__init__(self.format())

    def format(self) -> str:
        return "\n".join(d.format() for d in self.diagnostics)
