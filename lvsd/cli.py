"""The command line: the only place that prints for humans and chooses exit codes.

ldirectord's forms and exit codes::

    lvsd [-d] [CONFIG] start|stop|restart|try-restart|reload|force-reload|status

start 0 (2 on a config error); stop 0; reload 1 when not running, 2 when the
daemon refused the new config; status 0 running / 1 stale PID file / 3
stopped; usage error 255. Plus lvsd's own tools::

    lvsd check-config FILE
    lvsd plan FILE --assume-up|--assume-down [--format ipvsadm-save]
    lvsd convert FILE --to yaml|ldirectord
    lvsd probe FILE [--json]

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
from dataclasses import dataclass
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
        self.socket = os.path.join(rundir, f"lvsd.{self.name}.sock")


@dataclass(frozen=True, slots=True)
class Options:
    """How to run the daemon (lvsd's own options; ldirectord.cf stays ldirectord's)."""

    debug: bool = False  # -d: foreground, log to stderr
    foreground: bool = False  # --foreground: no fork, log to the logfile (systemd Type=notify)
    metrics: tuple[str, int] | None = None
    log_json: bool = False
    fallbackcommand_at_stop: bool = False


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


def ask(paths: Paths, cmd: str, timeout: float = 10.0) -> dict[str, Any] | None:
    """The running daemon's answer over its control socket, or None if it cannot be reached."""
    from lvsd.control import ask as control_ask

    try:
        return control_ask(paths.socket, cmd, timeout=timeout)
    except (OSError, ValueError):
        return None


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


def cmd_check_config(path: str, quiet: bool = False) -> int:
    from lvsd import director

    try:
        d = director.load(os.path.abspath(path))
    except ConfigError as exc:
        _err(exc.format())
        return EXIT_CONFIG
    for w in d.config.warnings:
        _err(w.format())
    if not quiet:
        print(f"{path}: OK: {d.config.summary()}")
    return EXIT_OK


def _run_daemon(paths: Paths, opts: Options, ready_fd: int | None, loaded: Any = None) -> int:
    """Run the daemon in this process; ``loaded`` is the config ``start`` has just validated (not read twice)."""
    from lvsd import log
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


def cmd_start(paths: Paths, opts: Options) -> int:
    from lvsd import director

    pid, running = read_pid(paths)
    if running:
        print(f"lvsd for {paths.config} is running with pid: {pid}")
        return EXIT_OK
    if not os.path.isfile(paths.config):
        _err(f"lvsd: config file {paths.config} not found")
        return EXIT_FAIL
    try:
        loaded = director.load(paths.config)
    except ConfigError as exc:
        _err(exc.format())
        return EXIT_CONFIG
    if opts.debug or opts.foreground:
        return _run_daemon(paths, opts, None, loaded)
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
        code = _run_daemon(paths, opts, wfd, loaded)
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
    """Ask the daemon to reload and report its verdict (exit 2 with the errors if it refused)."""
    pid, running = read_pid(paths)
    if not running or pid is None:
        print(f"lvsd is stopped for {paths.config}")
        return EXIT_FAIL
    answer = ask(paths, "reload", timeout=120.0)
    if answer is None:  # no control socket (still starting?): ldirectord's way, unconfirmed
        os.kill(pid, signal.SIGHUP)
        _err(f"lvsd (pid {pid}) sent SIGHUP; its control socket did not answer, so the outcome is in its log")
        return EXIT_OK
    for warning in answer.get("warnings", []):
        _err(warning)
    if answer.get("ok"):
        return EXIT_OK
    _err("\n".join(answer.get("errors", [])))
    _err("lvsd: the new configuration was refused; the running configuration stays in force")
    return EXIT_CONFIG


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else (f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s")


def print_status(state: dict[str, Any]) -> None:
    """The daemon's view, one virtual service per block, one real server per line."""
    if state.get("degraded"):
        print("  DEGRADED: kernel operations are failing; lvsd retries them (see the log)")
    reload = state.get("last_reload") or {}
    if reload and not reload.get("ok"):
        print("  last reload REFUSED; the configuration in force is the previous one")
    for v in state.get("virtuals", []):
        print(f"  {v['service']}" + ("" if v["in_kernel"] else "  (not in the kernel table)"))
        for r in v["reals"]:
            last = r["last_check"] or {}
            weight = "-" if r["kernel_weight"] is None else r["kernel_weight"]
            latency = f"{last['latency_ms']:.1f}ms" if last else "-"
            print(f"    -> {r['real']:<22} {r['state']:<7} weight {weight!s:<3} {latency:>8}  "
                  f"since {_ago(r['since_change']):>6}  {last.get('reason', 'not checked yet')}")
        fb = v.get("fallback")
        if fb:
            print(f"    fallback {fb['server']}: {'ACTIVE' if fb['active'] else 'standby'}")


def cmd_status(paths: Paths, as_json: bool = False) -> int:
    pid, running = read_pid(paths)
    if running:
        state = ask(paths, "status")
        if as_json:
            print(json.dumps({"running": True, "pid": pid, **(state or {})}, indent=2))
            return EXIT_OK
        print(f"lvsd for {paths.config} is running with pid: {pid}")
        if state is None:
            print("  (its control socket did not answer; see the log)")
        else:
            print_status(state)
        return EXIT_OK
    if as_json:
        print(json.dumps({"running": False, "pid": pid, "stale_pid_file": pid is not None}))
        return EXIT_FAIL if pid is not None else EXIT_STOPPED
    if pid is not None:
        _err(f"lvsd stale pid file {paths.pidfile} for {paths.config}")
        print(f"lvsd is stopped for {paths.config}")
        return EXIT_FAIL
    print(f"lvsd is stopped for {paths.config}")
    return EXIT_STOPPED


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["plan"] and "--diff" in argv:  # against the live kernel table (lvsd.plandiff)
        from lvsd import plandiff

        return plandiff.main(argv[1:])
    if argv[:1] == ["probe"]:  # run every check once, no kernel (lvsd.checks.probe)
        from lvsd.checks import probe

        return probe.main(argv[1:])
    if argv[:1] in (["plan"], ["convert"]):  # config tools with their own options
        from lvsd import cli_config

        return cli_config.main(argv)
    parser = argparse.ArgumentParser(prog="lvsd", description="Health-checking director for Linux Virtual Server")
    parser.add_argument("-d", "--debug", action="store_true", help="stay in the foreground and log to stderr")
    parser.add_argument("-f", "--foreground", action="store_true",
                        help="stay in the foreground, log to the logfile (for systemd Type=notify)")
    parser.add_argument("--metrics", metavar="[HOST:]PORT",
                        help="serve Prometheus metrics on /metrics (host defaults to 127.0.0.1)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="log lines as ldirectord's text (default) or one JSON object per event")
    parser.add_argument("--fallbackcommand-at-stop", action="store_true",
                        help="run 'fallbackcommand stop' for active fallbacks when lvsd stops")
    parser.add_argument("--json", action="store_true", help="status: print the daemon's view as JSON")
    parser.add_argument("-v", "--version", action="version", version=f"lvsd {__version__}")
    parser.add_argument("words", nargs="+", metavar="[CONFIG] COMMAND | check-config FILE")
    try:
        args = parser.parse_intermixed_args(argv)
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
        from lvsd.metrics import parse_address

        metrics = parse_address(args.metrics) if args.metrics else None
    except ValueError as exc:
        _err(f"lvsd: --metrics {args.metrics}: {exc}")
        return EXIT_USAGE
    opts = Options(
        debug=args.debug, foreground=args.foreground, metrics=metrics, log_json=args.log_format == "json",
        fallbackcommand_at_stop=args.fallbackcommand_at_stop,
    )
    try:
        if command == "start":
            return cmd_start(paths, opts)
        if command == "stop":
            return cmd_stop(paths)
        if command in ("restart", "try-restart"):
            _, running = read_pid(paths)
            if command == "try-restart" and not running:
                return EXIT_OK
            code = cmd_check_config(paths.config, quiet=True)  # never stop a daemon we cannot replace
            if code != EXIT_OK:
                return code
            code = cmd_stop(paths, signal.SIGUSR2)  # hand the table over: the new daemon adopts it
            return code if code != EXIT_OK else cmd_start(paths, opts)
        if command in ("reload", "force-reload"):
            return cmd_reload(paths)
        return cmd_status(paths, args.json)
    except IPVSError as exc:
        _err(f"lvsd: {exc}")
        return EXIT_FAIL
    except OSError as exc:
        _err(f"lvsd: {exc}")
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
