"""The lab demo: lvsd balancing real client traffic in a real IPVS kernel.

    tests/lab/run -- .venv/bin/python tests/lab/lvsd_demo.py      (scripts/demo does this)

Three web servers (rs1-rs3) and a fallback "sorry" server (rs4) in their own
network namespaces, a client namespace sending HTTP to the VIP all along, and
lvsd run with the sample config etc/lvsd.cf. It takes a backend down and
brings it back, takes all down (fallback) and brings them back, and prints at
each step the IPVS table (ipvsadm -Ln), lvsd's new log lines, and what the
client got.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]
from lab.lab import Lab  # noqa: E402

CONFIG = ROOT / "etc" / "lvsd.cf"
LOGFILE = Path("/var/log/lvsd.log")  # the sample config's logfile


class Traffic(threading.Thread):
    """The client: requests through the VIP, in rounds, tallied per step (bounded by `stop`)."""

    def __init__(self, lab: Lab) -> None:
        super().__init__(daemon=True)
        self.lab = lab
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.done = threading.Event()

    def run(self) -> None:
        for _ in range(2000):  # bounded: at most 2000 rounds of 5 requests
            if self.done.is_set():
                return
            tally = self.lab.client.get_many(5, timeout=1.0)
            with self.lock:
                self.counts.update(tally.backends)
                if tally.failures:
                    self.counts["failed"] += tally.failures
            time.sleep(0.05)

    def take(self) -> Counter[str]:
        with self.lock:
            out, self.counts = self.counts, Counter()
        return out


def main() -> int:
    rundir = tempfile.mkdtemp(prefix="lvsd-demo.")
    env = dict(os.environ, LVSD_RUNDIR=rundir)
    lvsd = [sys.executable, "-m", "lvsd", str(CONFIG)]
    mark = LOGFILE.stat().st_size if LOGFILE.exists() else 0

    def new_log_lines() -> str:
        nonlocal mark
        if not LOGFILE.exists():
            return ""
        with LOGFILE.open() as f:
            f.seek(mark)
            text = f.read()
            mark = f.tell()
        return text

    def wait_table(pred, timeout: float) -> float:  # type: ignore[no-untyped-def]
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if pred(lab.ipvsadm("-Ln")):
                return time.monotonic() - t0
            time.sleep(0.05)
        raise SystemExit(f"demo: the table did not change as expected within {timeout}s")

    def show(title: str, traffic: Traffic, settle: float = 2.0) -> None:
        time.sleep(settle)
        counts = traffic.take()
        print(f"\n=== {title}")
        print(lab.ipvsadm("-Ln").rstrip())
        lines = new_log_lines().rstrip()
        print("--- lvsd log (" + str(LOGFILE) + ")")
        print(lines if lines else "(no new lines)")
        ok = sum(v for k, v in counts.items() if k != "failed")
        per = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "failed")
        print(f"--- client: {ok} answered ({per or 'none'}), {counts.get('failed', 0)} failed")

    print(f"lvsd demo: config {CONFIG}")
    print(CONFIG.read_text())
    with Lab(n_reals=4) as lab:
        lab.backend("rs4").set_mode("up")  # rs4 is the fallback server, not a real server
        traffic = Traffic(lab)
        res = subprocess.run([*lvsd, "start"], env=env, capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            print(res.stderr, new_log_lines())
            return 1
        traffic.start()
        try:
            wait_table(lambda t: t.count("Masq") == 3, 10)
            show("lvsd started: three healthy real servers share the traffic", traffic)

            lab.backend("rs2").set_mode("error500")
            took = wait_table(lambda t: "203.0.113.12" not in t, 10)
            show(f"rs2 answers HTTP 500: out of the pool after {took:.2f}s", traffic)

            lab.backend("rs2").set_mode("up")
            took = wait_table(lambda t: "203.0.113.12" in t, 10)
            show(f"rs2 healthy again: back in the pool after {took:.2f}s", traffic)

            for name, mode in (("rs1", "refuse"), ("rs2", "slow"), ("rs3", "blackhole")):
                lab.backend(name).set_mode(mode)
            took = wait_table(lambda t: "203.0.113.14" in t and "203.0.113.1" + "1" not in t, 15)
            show(f"all down (refused, hung, blackholed): fallback rs4 serves after {took:.2f}s", traffic)

            for name in ("rs1", "rs2", "rs3"):
                lab.backend(name).set_mode("up")
            took = wait_table(lambda t: t.count("Masq") == 3 and "203.0.113.14" not in t, 10)
            show(f"all back: fallback gone after {took:.2f}s", traffic)

            status = subprocess.run([*lvsd, "status"], env=env, capture_output=True, text=True, timeout=30)
            print("\n=== lvsd status\n" + status.stdout.rstrip())
        finally:
            traffic.done.set()
            traffic.join(timeout=10)
            subprocess.run([*lvsd, "stop"], env=env, capture_output=True, text=True, timeout=90)
        print("\n=== lvsd stopped (cleanstop=yes)")
        print(lab.ipvsadm("-Ln").rstrip())
        print("--- lvsd log\n" + new_log_lines().rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
