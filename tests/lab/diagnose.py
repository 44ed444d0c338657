"""Say why the lab's UML kernel died before its command finished.

``tests/lab/run`` calls this when UML exits without writing the command's status:

    python3 tests/lab/diagnose.py RUN_DIR UML_EXIT_CODE XSTATE_MODE XSTATE_LOG

It prints, for a human and for CI's log: how UML ended (exit code or signal) and at
which stage (before the lab's init ran, while it loaded modules, or while the command
ran), UML's own error output, the kernel's panic and error lines, and, when the crash
matches a known cause, what it means and what to do. Standard library only: it runs on
the host, before any virtualenv exists.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

# Kernel console lines worth showing on their own (a panic, an oops, UML's fatal checks).
_IMPORTANT = re.compile(
    r"panic|not syncing|Attempted to kill init|No working init|Requested init|Oops|BUG:|"
    r"failed|errno|Out of memory|Killed process|Call Trace|segfault|Segmentation",
    re.IGNORECASE,
)
# Printed by every healthy boot of the lab (no iomem, no block device): never a cause.
_HARMLESS = ("mmapper_init - find_iomem failed", "Failed to initialize ubd device")


@dataclass(frozen=True, slots=True)
class Crash:
    """What the run left behind."""

    exit_code: int
    console: str  # the kernel's console
    stderr: str  # the UML process's own error output
    kernel_up: bool  # the lab's init script started
    ready: bool  # modules loaded, the command was started
    xstate_mode: str  # LVSD_LAB_XSTATE: auto, force, short, off
    xstate_log: str  # what the shim noted: "xstate mode=M host=N uml=M rewrite=..."
    cpu_amx: tuple[str, ...]  # the host CPU's AMX flags


def _how_it_ended(code: int) -> str:
    if code > 128:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            name = f"signal {code - 128}"
        note = "; a UML kernel panic ends this way" if name == "SIGABRT" else ""
        return f"was killed by {name} (exit code {code}{note})"
    return f"exited with code {code}"


def _stage(c: Crash) -> str:
    if not c.kernel_up:
        return "before the lab's init script ran a command"
    if not c.ready:
        return "while the lab's init script prepared the kernel (mounts, modules)"
    return "while the command ran"


def _sizes(xstate_log: str) -> tuple[int, int] | None:
    m = re.search(r"host=(\d+) uml=(\d+)", xstate_log)
    return (int(m.group(1)), int(m.group(2))) if m else None


def causes(c: Crash) -> list[str]:
    """Known causes the output matches, each as lines of explanation."""
    text = c.console + "\n" + c.stderr
    found: list[str] = []
    if re.search(r"(set|restore) fp regs failed|fp regs failed, errno = 14", text):
        sizes = _sizes(c.xstate_log)
        size_note = (f" Here the host's XSAVE area is {sizes[0]} bytes and UML's buffer {sizes[1]}."
                     if sizes else "")
        amx = ", ".join(c.cpu_amx) if c.cpu_amx else "none"
        advice = {
            "off": "The lab's ptrace shim was off (LVSD_LAB_XSTATE=off): unset LVSD_LAB_XSTATE to use it.",
            "short": "LVSD_LAB_XSTATE=short makes every FPU write too short on purpose: this is that crash.",
        }.get(c.xstate_mode, "The lab's ptrace shim (tests/lab/xstate_shim.c) was loaded and the write still "
              "failed: keep this output; a newer UML or a KVM guest are the other ways out.")
        found.append(
            "the host kernel refused UML's write of a process's FPU state (ptrace PTRACE_SETREGSET "
            "NT_X86_XSTATE, errno 14 EFAULT). The host takes that write only with a buffer of its "
            "full XSAVE size; on CPUs whose XSAVE area is larger than UML's fixed buffer (AMX tile "
            f"data) every write fails and UML panics before init.{size_note} This CPU's AMX flags: "
            f"{amx}. {advice}"
        )
    m = re.search(r"Attempted to kill init! exitcode=(0x[0-9a-fA-F]+)", text)
    if m and not found:
        status = int(m.group(1), 16)
        what = (f"exited with status {status >> 8}" if status & 0x7F == 0
                else f"was killed by signal {status & 0x7F}")
        who = "the init process" if not c.kernel_up else "the lab's init script"
        found.append(f"{who} {what} (exitcode={m.group(1)}): PID 1 must never exit; "
                     "check the init= kernel argument and the init script's first commands.")
    if re.search(r"No working init found|Requested init \S+ failed", text):
        found.append("the kernel could not execute the init program: check that the init= path exists "
                     "on the host and is executable (the lab boots with the host's files as root).")
    if re.search(r"Out of memory|oom-kill", text, re.IGNORECASE):
        found.append("the UML kernel ran out of memory: give it more with --mem (default 1024M).")
    if re.search(r"ptrace.*(Operation not permitted|EPERM)|check_ptrace", text):
        found.append("UML cannot ptrace its own processes on this host (a container without "
                     "CAP_SYS_PTRACE, or a seccomp filter): run the lab where ptrace is allowed.")
    return found


def report(c: Crash) -> list[str]:
    lines = [f"lab: UML {_how_it_ended(c.exit_code)} {_stage(c)}, without writing the command's status."]
    err = [ln for ln in c.stderr.splitlines() if ln.strip()]
    if err:
        lines.append("lab: ---- UML's own error output ----")
        lines += [f"  {ln}" for ln in err[-20:]]
    console = [ln for ln in c.console.splitlines() if ln.strip()]
    important = [ln for ln in console if _IMPORTANT.search(ln) and not ln.startswith(_HARMLESS)]
    if important:
        lines.append("lab: ---- the kernel's panic and error lines ----")
        lines += [f"  {ln}" for ln in important[-20:]]
    elif console:
        lines.append("lab: ---- last lines of the kernel console ----")
        lines += [f"  {ln}" for ln in console[-30:]]
    if not err and not console:
        lines.append("lab: UML printed nothing, neither on its console nor on its error output.")
    if c.xstate_log.strip():
        lines.append(f"lab: ptrace shim: {sorted(set(c.xstate_log.split(chr(10))) - {''})[0]}")
    found = causes(c)
    for cause in found:
        lines.append(f"lab: cause: {cause}")
    if not found:
        lines.append("lab: no known cause matched; rerun with --verbose for the whole console, "
                     "LVSD_LAB_KEEP=1 to keep the run dir.")
    return lines


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def cpu_amx_flags(cpuinfo: str = "/proc/cpuinfo") -> tuple[str, ...]:
    return tuple(sorted(set(re.findall(r"\bamx[a-z0-9_]*", _read(Path(cpuinfo))))))


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: diagnose.py RUN_DIR UML_EXIT_CODE XSTATE_MODE XSTATE_LOG", file=sys.stderr)
        return 2
    run_dir, code, mode, xlog = argv
    run = Path(run_dir)
    crash = Crash(
        exit_code=int(code) if code.lstrip("-").isdigit() else -1,
        console=_read(run / "console.log"),
        stderr=_read(run / "uml-stderr.log"),
        kernel_up=(run / "kernel-up").exists(),
        ready=(run / "ready").exists(),
        xstate_mode=mode,
        xstate_log=_read(Path(xlog)) if xlog and os.path.exists(xlog) else "",
        cpu_amx=cpu_amx_flags(),
    )
    print("\n".join(report(crash)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
