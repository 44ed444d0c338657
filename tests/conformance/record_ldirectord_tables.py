#!/usr/bin/env python3
"""Record the IPVS table real ldirectord programs for some conformance cases (UML lab only).

    tests/lab/run --timeout 900 -- .venv/bin/python tests/conformance/record_ldirectord_tables.py [CASE...]

Needs ``apt-get install -y ldirectord``. Inside the lab's kernel (real IPVS),
for each case of :data:`TABLES` it flushes the table, runs ``ldirectord -d
CASE start`` in the foreground, waits until ``ipvsadm-save -n`` has not
changed for a few seconds (ldirectord adds, checks, then settles), saves that
output to ``ldirectord_tables/CASE.txt`` and stops ldirectord. The state says
what every real server's checks do in the lab, where the documentation
addresses of the reals are unreachable: ``up`` for checktype=on (or a service
whose negotiate check is ``none``), ``down`` when the checks fail or
checktype=off. test_tables.py asserts that ``lvsd plan --assume-up`` (or
``--assume-down``) prints the same table.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
OUT = HERE / "ldirectord_tables"
SETTLE = 4.0  # seconds without a change
DEADLINE = 60.0  # per case
POLL = 0.5

TABLES: dict[str, str] = {
    "lab-on-masq-weights": "up",
    "lab-on-gate-port-mapping": "up",
    "lab-on-fwmark": "up",
    "lab-on-persistence": "up",
    "lab-on-udp": "up",
    "lab-on-ipv6": "up",
    "lab-on-range": "up",
    "lab-on-schedflags": "up",
    "lab-on-with-fallback": "up",
    "lab-off-fallback": "down",
    "lab-off-quiescent": "down",
    "lab-connect-down": "down",
    "virt-fwmark": "up",  # a fwmark virtual's negotiate service is none: always up
    "virt-udp-ops": "up",  # port 5000: service none
    "virt-quiescent-cleanstop": "down",  # http check of an unreachable real
    "virt-fallback": "down",
    "glob-fallback": "down",
    "real-forward-methods": "down",
}


def save() -> str:
    return subprocess.run(["ipvsadm-save", "-n"], capture_output=True, text=True, check=True, timeout=30).stdout


def settle(proc: subprocess.Popen[bytes], log: Path, virtuals: int) -> str:
    """The table once ldirectord has added every virtual and nothing changed for SETTLE seconds."""
    start = time.monotonic()
    last, since = None, start
    while time.monotonic() - start < DEADLINE:
        if proc.poll() is not None:
            raise RuntimeError(f"ldirectord exited with {proc.returncode}")
        now, table = time.monotonic(), save()
        if log.read_text(errors="replace").count("Added virtual server: ") < virtuals:
            since = now  # still starting (Perl is slow to start in UML)
        elif table != last:
            last, since = table, now
        elif now - since >= SETTLE:
            return table
        time.sleep(POLL)
    raise RuntimeError(f"the table did not settle within {DEADLINE:g}s")


def record(binary: str, name: str, state: str) -> None:
    subprocess.run(["ipvsadm", "-C"], check=True, timeout=30)
    case = CASES / f"{name}.cf"
    virtuals = sum(line.startswith("virtual") for line in case.read_text().splitlines())
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "log", "wb") as log:
        proc = subprocess.Popen([binary, "-d", str(case), "start"], cwd=CASES, stdout=log, stderr=log)
        try:
            table = settle(proc, Path(tmp) / "log", virtuals)
        except RuntimeError as exc:
            raise RuntimeError(f"{name}: {exc}\n{(Path(tmp) / 'log').read_text(errors='replace')[-3000:]}") from None
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    subprocess.run(["ipvsadm", "-C"], check=True, timeout=30)
    (OUT / f"{name}.txt").write_text(f"# assume: {state}\n# ldirectord -d {name}.cf start; then ipvsadm-save -n\n"
                                     + table)
    print(f"{name}: {state}, {len(table.splitlines())} lines", flush=True)


def main(argv: list[str]) -> int:
    if os.environ.get("LVSD_LAB") != "1":
        print("run me inside the kernel lab: tests/lab/run -- .venv/bin/python " + __file__, file=sys.stderr)
        return 2
    binary = shutil.which("ldirectord") or "/usr/sbin/ldirectord"
    if not Path(binary).exists():
        print("ldirectord is not installed (apt-get install -y ldirectord)", file=sys.stderr)
        return 1
    OUT.mkdir(exist_ok=True)
    for name in argv or list(TABLES):
        record(binary, name, TABLES[name])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
