"""The command line: the only place that prints for humans and chooses exit codes.

ldirectord's forms and exit codes::

    lvsd [-d] [CONFIG] start|stop|restart|try-restart|reload|force-reload|status

start 0 (2 on a config error); stop 0; reload 1 when not running, 2 when the
daemon refused the new config; status 0 running / 1 stale PID file / 3
stopped; usage error 255. Plus lvsd's own tools::

    lvsd check-config FILE

Unlike ldirectord, ``stop``, ``status`` and ``reload`` never parse the config
before acting, so a broken config can neither orphan the running daemon nor
delete its PID file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from typing import Any

from lvsd import __version__
from lvsd.config.errors import ConfigError
from lvsd.errors import IPVSError

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_CONFIG = 2
EXIT_STOPPED = 3
EXIT_USAGE = 255

LSB_COMMANDS = ("start", "stop", "restart", "try-restart", "reload", "force-reload", "status")
CONFIG_DIRS = ("/etc/ha.d", "/etc/ha.d/conf")
DEFAULT_CONFIGS = ("/etc/lvsd/lvsd.cf", "/etc/ha.d/ldirectord.cf")
STOP_WAIT = 60.0
READY_WAIT = 120.0


def find_config(name: str | None) -> str:
    """ldirectord's lookup: /etc/ha.d/NAME, /etc/ha.d/conf/NAME, then NAME; made absolute."""
    if name is None:
        for path in DEFAULT_CONFIGS:
            if os.path.exists(path):
                return path
        return DEFAULT_CONFIGS[0]
    if not name.startswith("/"):
        for d in CONFIG_DIRS:
            candidate = os.path.join(d, name)
            if os.path.isfile(candidate):
                return candidate
    return os.path.abspath(name)


class Paths:
    def __init__(self, config: str) -> None:
        self.config = config
        self.name = os.path.basename(config)
        rundir = os.environ.get("LVSD_RUNDIR", "/run")
        self.pidfile = os.path.join(rundir, f"lvsd.{self.name}.pid")
        self.statefile = os.path.join(rundir, f"lvsd.{self.name}.state")


def read_pid(paths: Paths) -> tuple[int | None, bool]:
    """(pid, running): pid from the PID file; running if that process is an lvsd."""
    try:
        with open(paths.pidfile) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return None, False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return pid, False
    return pid, b"lvsd" in cmdline


def read_state(paths: Paths) -> dict[str, Any]:
    try:
        with open(paths.statefile) as f:
            data: dict[str, Any] = json.load(f)
            return data
    except (OSError, ValueError):
        return {}


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _err(msg: str) -> None:
    sys.stderr.write(msg + "\n")


# -- commands -----------------------------------------------------------


def cmd_check_config(path: str) -> int:
    from lvsd import director

    try:
        d = director.load(os.path.abspath(path))
    except ConfigError as exc:
        _err(exc.format())
        return EXIT_CONFIG
    for w in d.config.warnings:
        _err(w.format())
    print(f"{path}: OK: {d.config.summary()}")
    return EXIT_OK


def _run_daemon(paths: Paths, debug: bool, ready_fd: int | None) -> int:
    from lvsd import log
    from lvsd.daemon import Daemon
    from lvsd.ipvs.netlink import NetlinkIPVS

    def on_ready() -> None:
        if ready_fd is not None:
            os.write(ready_fd, b"R")
            os.close(ready_fd)

    async def main() -> int:
        backend = NetlinkIPVS()
        sink = (lambda logfile, name: log.Sink(logfile, name, stderr=sys.stderr)) if debug else None
        daemon = Daemon(paths.config, backend, state_file=paths.statefile, on_ready=on_ready, sink_factory=sink)
        try:
            return await daemon.run()
        except Exception:  # last resort: say why the director stopped, then exit non-zero
            import traceback

            log.get().critical("daemon.crash", msg=f"lvsd stopped by an internal error:\n{traceback.format_exc()}")
            return EXIT_FAIL
        finally:
            backend.close()

    _install_loop()
    with open(paths.pidfile, "w") as f:
        f.write(f"{os.getpid()}\n")
    try:
        return asyncio.run(main())
    finally:
        _remove_own_pidfile(paths)


def _install_loop() -> None:
    """The stdlib event loop, on purpose.

    uvloop cannot carry the IPVS netlink socket: its datagram transport
    refuses any family but AF_INET/AF_INET6/AF_UNIX ("cannot open a UDP
    handle, invalid family 16"), and pyroute2's async socket is built on
    that transport. Measured in the lab; see the issue notes.
    """
    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())


def _remove_own_pidfile(paths: Paths) -> None:
    pid, _ = read_pid(paths)
    if pid == os.getpid():
        try:
            os.unlink(paths.pidfile)
        except OSError:
            pass


def cmd_start(paths: Paths, debug: bool) -> int:
    from lvsd import director

    pid, running = read_pid(paths)
    if running:
        print(f"lvsd for {paths.config} is running with pid: {pid}")
        return EXIT_OK
    try:
        director.load(paths.config)
    except ConfigError as exc:
        _err(exc.format())
        return EXIT_CONFIG
    if debug:
        return _run_daemon(paths, True, None)
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
    code = EXIT_FAIL
    try:
        code = _run_daemon(paths, False, wfd)
    finally:
        os._exit(code)


def _wait_ready(rfd: int, paths: Paths) -> int:
    import select

    ready, _, _ = select.select([rfd], [], [], READY_WAIT)
    data = os.read(rfd, 1) if ready else b""
    os.close(rfd)
    if data == b"R":
        return EXIT_OK
    _err(f"lvsd for {paths.config} failed to start; see its log")
    return EXIT_FAIL


def cmd_stop(paths: Paths, sig: signal.Signals = signal.SIGTERM) -> int:
    pid, running = read_pid(paths)
    if not running or pid is None:
        print(f"lvsd is stopped for {paths.config}")
        return EXIT_OK
    os.kill(pid, sig)
    if not wait_gone(pid, STOP_WAIT):
        _err(f"lvsd (pid {pid}) did not stop within {STOP_WAIT:g}s")
        return EXIT_FAIL
    return EXIT_OK


def cmd_reload(paths: Paths) -> int:
    pid, running = read_pid(paths)
    if not running or pid is None:
        print(f"lvsd is stopped for {paths.config}")
        return EXIT_FAIL
    before = read_state(paths).get("reloads", 0)
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        state = read_state(paths)
        if state.get("reloads", 0) > before and state.get("last_reload"):
            result = state["last_reload"]
            if result.get("ok"):
                return EXIT_OK
            _err("\n".join(result.get("errors", [])))
            _err("lvsd: the new configuration was refused; the running configuration stays in force")
            return EXIT_CONFIG
        time.sleep(0.05)
    _err(f"lvsd (pid {pid}) did not confirm the reload within 30s")
    return EXIT_FAIL


def cmd_status(paths: Paths) -> int:
    pid, running = read_pid(paths)
    if running:
        print(f"lvsd for {paths.config} is running with pid: {pid}")
        state = read_state(paths)
        if state.get("degraded"):
            print("  degraded: kernel operations are failing (see the log)")
        for r in state.get("reals", []):
            print(f"  {r['protocol']} {r['virtual']} -> {r['real']}: {r['state']} ({r['reason'] or '-'})")
        return EXIT_OK
    if pid is not None:
        _err(f"lvsd stale pid file {paths.pidfile} for {paths.config}")
        print(f"lvsd is stopped for {paths.config}")
        return EXIT_FAIL
    print(f"lvsd is stopped for {paths.config}")
    return EXIT_STOPPED


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="lvsd", description="Health-checking director for Linux Virtual Server")
    parser.add_argument("-d", "--debug", action="store_true", help="stay in the foreground and log to stderr")
    parser.add_argument("-v", "--version", action="version", version=f"lvsd {__version__}")
    parser.add_argument("words", nargs="+", metavar="[CONFIG] COMMAND | check-config FILE")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    words: list[str] = args.words
    if words[0] == "check-config":
        if len(words) != 2:
            _err("usage: lvsd check-config FILE")
            return EXIT_USAGE
        return cmd_check_config(words[1])
    if len(words) > 2 or words[-1] not in LSB_COMMANDS:
        parser.print_usage(sys.stderr)
        return EXIT_USAGE
    command = words[-1]
    paths = Paths(find_config(words[0] if len(words) == 2 else None))
    try:
        if command == "start":
            return cmd_start(paths, args.debug)
        if command == "stop":
            return cmd_stop(paths)
        if command in ("restart", "try-restart"):
            _, running = read_pid(paths)
            if command == "try-restart" and not running:
                return EXIT_OK
            code = cmd_stop(paths, signal.SIGUSR2)  # hand the table over: the new daemon adopts it
            return code if code != EXIT_OK else cmd_start(paths, args.debug)
        if command in ("reload", "force-reload"):
            return cmd_reload(paths)
        return cmd_status(paths)
    except IPVSError as exc:
        _err(f"lvsd: {exc}")
        return EXIT_FAIL
    except OSError as exc:
        _err(f"lvsd: {exc}")
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
