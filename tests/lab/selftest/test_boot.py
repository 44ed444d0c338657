"""The lab boots on every host, and a crash says why.

These tests boot UML themselves, so they run on the host (``scripts/test`` runs them
before the lab run; inside the lab they are deselected). On CPUs whose XSAVE area is
larger than UML's FPU buffer (AMX), Debian 12's UML panics at boot unless the lab's
ptrace shim (tests/lab/xstate_shim.c) makes its FPU writes whole. The path that only
matters there is exercised on every host: the host kernel refuses *any* short write, so
a short write made on purpose shows both the refusal and the shim's fix.

    .venv/bin/python -m pytest -q -m boot tests/lab/selftest
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from lab.diagnose import Crash, causes, report

from tests.support.skipping import missing

pytestmark = pytest.mark.boot

LAB = Path(__file__).resolve().parents[1]
RUN = LAB / "run"


@dataclass(frozen=True)
class Booted:
    rc: int
    out: str
    err: str
    xstate_log: str

    def sizes(self) -> tuple[int, int]:
        m = re.search(r"host=(\d+) uml=(\d+)", self.xstate_log)
        assert m, f"the shim noted no sizes: {self.xstate_log!r}\n{self.err}"
        return int(m.group(1)), int(m.group(2))


def _need_uml() -> None:
    if not os.access("/usr/bin/linux.uml", os.X_OK) and not os.environ.get("LVSD_LAB_KERNEL"):
        missing("no UML kernel (/usr/bin/linux.uml)")
    if shutil.which(os.environ.get("CC", "cc")) is None:
        missing("no C compiler to build the lab's ptrace shim")


def boot(tmp_path: Path, *cmd: str, xstate: str | None = None, kernel_args: tuple[str, ...] = (),
         timeout: int = 180) -> Booted:
    _need_uml()
    log = tmp_path / f"xstate-{xstate or 'auto'}.log"
    env = {k: v for k, v in os.environ.items() if k not in ("LVSD_LAB_XSTATE", "LD_PRELOAD")}
    env["LVSD_LAB_XSTATE_LOG"] = str(log)
    if xstate is not None:
        env["LVSD_LAB_XSTATE"] = xstate
    args = [str(RUN), "--timeout", str(timeout - 30)]
    for arg in kernel_args:
        args += ["--kernel-arg", arg]
    proc = subprocess.run([*args, "--", *(cmd or ("true",))], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    return Booted(proc.returncode, proc.stdout, proc.stderr, log.read_text() if log.exists() else "")


def shim() -> str:
    _need_uml()
    return subprocess.run([str(LAB / "build-shim")], capture_output=True, text=True, check=True).stdout.strip()


def probe(preload: str | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    if preload:
        env["LD_PRELOAD"] = preload
    out = subprocess.run([sys.executable, str(LAB / "xstate_probe.py")], env=env, capture_output=True,
                         text=True, check=True, timeout=30).stdout
    result: dict[str, object] = json.loads(out)
    return result


def test_the_host_refuses_a_short_fpu_write_and_the_shim_makes_it_whole() -> None:
    bare = probe(None)
    assert bare["taken"] is False and bare["errno"] == 14, bare  # EFAULT: what UML meets on AMX hosts
    assert bare["rest_kept"] is True, bare
    fixed = probe(shim())
    assert fixed["taken"] is True, fixed
    assert fixed["marker_kept"] is True, fixed  # the part written arrived
    assert fixed["rest_kept"] is True, fixed  # and the state beyond it is what it was


def test_the_lab_boots_with_every_fpu_write_rewritten(tmp_path: Path) -> None:
    # Floating point and vector code in UML's processes, with each FPU restore going
    # through the shim's read-overlay-write path (the path an AMX host takes for all):
    # the results must be the host's own, bit for bit.
    code = ("import math, hashlib; print(repr(sum(math.sqrt(i) * 1.000001 for i in range(300000))), "
            "hashlib.sha256(bytes(range(256)) * 8192).hexdigest())")
    expected = subprocess.run(["python3", "-c", code], capture_output=True, text=True, check=True).stdout
    booted = boot(tmp_path, "bash", "-c", f"python3 -c '{code}' && head -n 1 /proc/net/ip_vs", xstate="force")
    assert booted.rc == 0, booted.err
    assert booted.out.startswith(expected), (booted.out, expected)
    assert "IP Virtual Server" in booted.out
    assert "mode=force" in booted.xstate_log and "rewrite=yes" in booted.xstate_log, booted.xstate_log


def test_the_shim_is_used_as_needed_and_off_boots_only_where_not_needed(tmp_path: Path) -> None:
    auto = boot(tmp_path, "true")
    assert auto.rc == 0, auto.err
    host, uml = auto.sizes()
    needed = uml < host
    assert ("rewrite=yes" in auto.xstate_log) == needed, auto.xstate_log
    off = boot(tmp_path, "true", xstate="off")
    if needed:  # an AMX-like host: without the shim UML dies, and the lab says why
        assert off.rc == 125, off.err
        assert "cause: the host kernel refused UML's write" in off.err, off.err
        assert "LVSD_LAB_XSTATE=off" in off.err
    else:
        assert off.rc == 0, off.err
        assert off.xstate_log == ""  # no shim was loaded


def test_an_amx_hosts_boot_crash_is_reproduced_and_named(tmp_path: Path) -> None:
    booted = boot(tmp_path, "true", xstate="short", timeout=120)
    assert booted.rc == 125, (booted.rc, booted.err)
    assert "killed by SIGABRT" in booted.err and "before the lab's init script ran" in booted.err, booted.err
    assert "ptrace set fp regs failed, errno = 14" in booted.err, booted.err
    assert "cause: the host kernel refused UML's write of a process's FPU state" in booted.err
    assert "AMX" in booted.err and "XSAVE area is" in booted.err
    assert "last lines of the kernel console ----\nlab:" not in booted.err  # never an empty console


def test_a_failing_init_is_named(tmp_path: Path) -> None:
    booted = boot(tmp_path, "true", kernel_args=("init=/bin/false",), timeout=120)
    assert booted.rc == 125, (booted.rc, booted.err)
    assert "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100" in booted.err, booted.err
    assert "cause: the init process exited with status 1" in booted.err, booted.err


def test_a_timeout_is_reported_as_one(tmp_path: Path) -> None:
    booted = boot(tmp_path, "sleep", "60", timeout=45)  # the lab's own limit: 15 s
    assert booted.rc == 124, (booted.rc, booted.err)
    assert "timed out after 15s" in booted.err, booted.err


# -- the diagnosis itself, without booting -------------------------------------------


def _crash(**kw: object) -> Crash:
    base: dict[str, object] = dict(exit_code=134, console="", stderr="", kernel_up=False, ready=False,
                                   xstate_mode="auto", xstate_log="", cpu_amx=())
    base.update(kw)
    return Crash(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode, advice", [("off", "LVSD_LAB_XSTATE=off"), ("auto", "was loaded and the write still"),
                                          ("short", "on purpose")])
def test_the_xstate_cause_names_the_shim_state(mode: str, advice: str) -> None:
    console = "userspace - ptrace set fp regs failed, errno = 14\nKernel panic - not syncing: Attempted to kill init!"
    found = causes(_crash(console=console, xstate_mode=mode, cpu_amx=("amx_bf16", "amx_tile"),
                          xstate_log="xstate mode=auto host=11008 uml=2696 rewrite=yes\n"))
    assert len(found) == 1, found
    assert advice in found[0] and "amx_bf16, amx_tile" in found[0] and "11008 bytes" in found[0], found


@pytest.mark.parametrize("console, expected", [
    ("Kernel panic - not syncing: No working init found.", "could not execute the init program"),
    ("Out of memory: Killed process 12", "ran out of memory"),
])
def test_other_known_causes(console: str, expected: str) -> None:
    assert any(expected in c for c in causes(_crash(console=console))), causes(_crash(console=console))


def test_silence_is_said_to_be_silence() -> None:
    lines = report(_crash(exit_code=1))
    assert any("printed nothing" in ln for ln in lines), lines
    assert any("no known cause matched" in ln for ln in lines), lines
    assert "exited with code 1" in lines[0]
