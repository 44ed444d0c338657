"""The conformance cases: ldirectord.cf files with their expected outcome in a header.

Each ``cases/NAME.cf`` starts with::

    # expect: valid
    # expect: invalid LINE:COL MESSAGE-SUBSTRING     (lvsd's first error)
    # concern: what the case is about (one concern per case)

The header lines are ordinary full-line comments to both ldirectord and lvsd.
:data:`DIVERGENCES` lists, with the reason, every case where lvsd's verdict
differs from ldirectord's on purpose; every other case must get ldirectord's
verdict (recorded in ldirectord_verdicts.json by record_ldirectord_verdicts.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE / "cases"
VERDICTS = HERE / "ldirectord_verdicts.json"

_HEADER = re.compile(r"# expect: (valid|invalid) ?(?:(\d+):(\d+) (.*))?$")

Kind = Literal["lenient", "stricter"]

# lenient: lvsd accepts (with a warning) what ldirectord rejects, because the meaning is plain.
# stricter: ldirectord accepts the file but silently misreads it, or ipvsadm fails on it later;
#           lvsd refuses it at load time with FILE:LINE:COL (reference §1.5, §5.2).
DIVERGENCES: dict[str, tuple[Kind, str]] = {
    "lex-crlf-line-ends": ("lenient", "ldirectord rejects yes/no values on CR LF lines; lvsd ignores the CR"),
    "lex-trailing-blank-yesno": ("lenient", "ldirectord compares yes/no with eq, so a trailing blank fails; "
                                 "lvsd warns"),
    "lex-whitespace-only-line-in-block": ("lenient", "ldirectord reads 5+ blanks as an empty directive "
                                          "('Unknown command'); lvsd treats the line as blank, ending the block"),
    "glob-checktimeout-fraction": ("stricter", "ldirectord's unanchored \\d+ reads 1.5 as 1"),
    "lex-nbsp": ("stricter", "a no-break space pasted from the web; ldirectord's unanchored regex skips it"),
    "real-duplicate": ("stricter", "ldirectord runs two checks against one kernel entry"),
    "real-junk-before-threshold": ("stricter", "ldirectord silently ignores 'foo' before l:"),
    "real-quoted-thresholds": ("stricter", "ldirectord reads \"l:10\" \"u:100\" as request /l:10 and "
                               "receive u:100, not thresholds"),
    "real-weight-too-big": ("stricter", "ldirectord accepts it, then ipvsadm refuses weight 70000 at run time"),
    "virt-bad-address": ("stricter", "ldirectord's greedy regex takes '198.51.100.1:80' as the host "
                         "and 90 as the port"),
    "virt-checktype-digit-suffix": ("stricter", "any digit in checktype turns ldirectord's combined "
                                    "mode on: negotiate2 means 'checktype=2'"),
    "virt-fwmark-zero": ("stricter", "ldirectord accepts mark 0, then ipvsadm refuses a zero fwmark"),
    "virt-scheduler-mixed-case": ("stricter", "ldirectord takes the first [a-z]+ run: Wrr becomes rr"),
}


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    valid: bool
    line: int = 0
    col: int = 0
    message: str = ""

    def __str__(self) -> str:
        return self.name


def read_case(path: Path) -> Case:
    first = path.read_text(encoding="utf-8").split("\n", 1)[0].rstrip("\r")
    m = _HEADER.fullmatch(first)
    if not m:
        raise ValueError(f"{path}: first line must be '# expect: valid' or '# expect: invalid L:C MESSAGE'")
    if m.group(1) == "valid":
        return Case(path.stem, path, True)
    if m.group(2) is None:
        raise ValueError(f"{path}: an invalid case needs LINE:COL and a message substring")
    return Case(path.stem, path, False, int(m.group(2)), int(m.group(3)), m.group(4))


def all_cases() -> list[Case]:
    return [read_case(p) for p in sorted(CASES_DIR.glob("*.cf"))]


def ldirectord_verdicts() -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = json.loads(VERDICTS.read_text())["cases"]
    return data
