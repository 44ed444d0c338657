#!/usr/bin/env python3
"""Record real ldirectord's verdict on every conformance case into ldirectord_verdicts.json.

    apt-get install -y ldirectord        # Debian's package; its parser runs without IPVS
    .venv/bin/python tests/conformance/record_ldirectord_verdicts.py

For each ``cases/*.cf`` this runs ``ldirectord -d CASE status`` (verified: exit
3 "stopped" when the config parses, exit 2 on a config error; no daemon is
started and nothing is sent on the network) with the cases directory as the
working directory, and keeps the exit code plus the first ``Error ... at line
N: MESSAGE`` line. test_conformance.py compares lvsd's verdicts with this file
and, when ldirectord is installed, can re-run it live (LVSD_LDIRECTORD_LIVE=1).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
OUT = HERE / "ldirectord_verdicts.json"
TIMEOUT = 60.0
_ERROR = re.compile(r"^Error \[\d+\] reading file .* at line (\d+): (.*)$", re.MULTILINE)


def ldirectord() -> str | None:
    return shutil.which("ldirectord") or (
        "/usr/sbin/ldirectord" if Path("/usr/sbin/ldirectord").exists() else None)


def verdict(binary: str, case: Path) -> dict[str, object]:
    """ldirectord's verdict on one case: valid (exit 3) or invalid (exit 2), with its error."""
    proc = subprocess.run([binary, "-d", str(case), "status"], cwd=CASES, capture_output=True,
                          text=True, errors="replace", timeout=TIMEOUT, check=False)
    found = _ERROR.search(proc.stderr)
    if proc.returncode == 3:
        result = "valid"
    elif proc.returncode == 2:
        result = "invalid"
    else:
        raise RuntimeError(f"{case.name}: unexpected exit {proc.returncode}:\n{proc.stderr[-2000:]}")
    return {"verdict": result, "exit": proc.returncode,
            "line": int(found.group(1)) if found else None,
            "message": found.group(2).strip() if found else None}


def record_all(binary: str) -> dict[str, dict[str, object]]:
    return {case.stem: verdict(binary, case) for case in sorted(CASES.glob("*.cf"))}


def version(binary: str) -> str:
    proc = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    return proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else "unknown"


def main() -> int:
    binary = ldirectord()
    if binary is None:
        print("ldirectord is not installed (apt-get install -y ldirectord)", file=sys.stderr)
        return 1
    data = {"ldirectord": version(binary), "command": "ldirectord -d CASE status",
            "cases": record_all(binary)}
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    counts: dict[str, int] = {}
    for v in data["cases"].values():  # type: ignore[union-attr]
        counts[str(v["verdict"])] = counts.get(str(v["verdict"]), 0) + 1
    print(f"{OUT.name}: {len(data['cases'])} cases {counts}")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
