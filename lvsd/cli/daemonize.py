"""Run the daemon: in this process (``-d``, ``--foreground``), or detached by a double fork.

The detached daemon tells the invoking process over a pipe when it is ready
(first checks run, table set), so ``lvsd start`` returns only then, or exits
1 if the daemon died first. Either way the daemon writes its PID file and
removes it on its way out (only if it is still its own).
"""

from __future__ import annotations

import asyncio
import os
import select
import sys
from dataclasses import dataclass
from typing import Any

from lvsd.cli import exits
from lvsd.cli.paths import Paths
from lvsd.cli.running import read_pid

READY_WAIT = 120.0


@dataclass(frozen=True, slots=True)
class Options:
    """How to run the daemon (lvsd's own options; ldirectord.cf stays ldirectord's)."""

    debug: bool = False  # -d: foreground, log to stderr
    foreground: bool = False  # --foreground: no fork, log to the logfile (systemd Type=notify)
    metrics: tuple[str, int] | None = None
    log_json: bool = False
    fallbackcommand_at_stop: bool = False


def run_here(paths: Paths, opts: Options, ready_fd: int | None, loaded: Any = None) -> int:
    """Run the daemon in this process; ``loaded`` is the config ``start`` has just validated (not read twice)."""
    from lvsd import log
    from lvsd.checks.openfiles import raise_open_files_limit
    from lvsd.daemon import Daemon
    from lvsd.ipvs.netlink import NetlinkIPVS

    def on_ready() -> None:
        if ready_fd is not None:
            os.write(ready_fd, b"R")
            os.close(ready_fd)

    async def main() -> int:
        backend = NetlinkIPVS()
        stderr = sys.stderr if opts.debug else None

        def sink(logfile: str, name: str) -> log.Sink:
            return log.Sink(logfile, name, stderr=stderr, as_json=opts.log_json)

        daemon = Daemon(
            paths.config, backend, on_ready=on_ready, sink_factory=sink, control_path=paths.socket,
            metrics_address=opts.metrics, fallbackcommand_at_stop=opts.fallbackcommand_at_stop, loaded=loaded,
        )
        try:
            return await daemon.run()
        except Exception:  # last resort: say why the director stopped, then exit non-zero
            import traceback

            log.get().critical("daemon.crash", msg=f"lvsd stopped by an internal error:\n{traceback.format_exc()}")
            return exits.FAIL
        finally:
            backend.close()

    raise_open_files_limit()  # process-wide, once: every check in flight holds a socket or two
    with open(paths.pidfile, "w") as f:
        f.write(f"{os.getpid()}\n")
    try:
        # The standard library's loop: uvloop measured no better for the checks at 1,000 reals and no
        # faster for the netlink table dumps (bench/checks_scale.py --loop, bench/netlink_codec.py).
        return asyncio.run(main())
    finally:
        _remove_own_pidfile(paths)


def _remove_own_pidfile(paths: Paths) -> None:
    pid, _ = read_pid(paths)
    if pid == os.getpid():
        try:
            os.unlink(paths.pidfile)
        except OSError:
            pass


def run_detached(paths: Paths, opts: Options, loaded: Any) -> int:
    """Fork the daemon off (double fork, new session, stdio on /dev/null); return once it is ready or gone."""
    rfd, wfd = os.pipe()
    if os.fork() > 0:  # the invoking process: wait until the daemon is ready or gone
        os.close(wfd)
        return _wait_ready(rfd, paths)
    os.close(rfd)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    code = exits.FAIL
    try:
        code = run_here(paths, opts, wfd, loaded)
    finally:
        os._exit(code)


def _wait_ready(rfd: int, paths: Paths) -> int:
    ready, _, _ = select.select([rfd], [], [], READY_WAIT)
    data = os.read(rfd, 1) if ready else b""
    os.close(rfd)
    if data == b"R":
        return exits.OK
    sys.stderr.write(f"lvsd for {paths.config} failed to start; see its log\n")
    return exits.FAIL
