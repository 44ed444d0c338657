"""ldirectord's commands: ``lvsd [OPTIONS] [CONFIG] start|stop|restart|try-restart|reload|force-reload|status``.

start 0 (2 on a config error); stop 0; reload 1 when not running, 2 when the
daemon refused the new config; status 0 running / 1 stale PID file / 3
stopped. Unlike ldirectord, ``stop``, ``status`` and ``reload`` never parse
the config before acting, so a broken config can neither orphan the running
daemon nor delete its PID file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from lvsd.cli import exits
from lvsd.cli.check_config import check
from lvsd.cli.daemonize import Options, run_detached, run_here
from lvsd.cli.options import START, Commands, add_daemon_options
from lvsd.cli.paths import Paths, find_config
from lvsd.cli.running import ask, read_pid, wait_gone
from lvsd.cli.status import print_status
from lvsd.daemon.status import Snapshot
from lvsd.errors import IPVSError

STOP_WAIT = 60.0

# name: (its line in ``lvsd --help``, the daemon options its own --help lists)
COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "start": ("start the daemon; returns once its table is set", START),
    "stop": ("stop the daemon (cleanstop=yes: its services go)", ()),
    "restart": ("check CONFIG, then hand the table to a new daemon", START),
    "try-restart": ("restart if running, else do nothing", START),
    "reload": ("re-read CONFIG as a transaction (2: refused)", ()),
    "force-reload": ("the same as reload", ()),
    "status": ("0 running, 1 stale PID file, 3 stopped; each real", ("json", "require")),
}
DESCRIPTIONS = {
    "start": "Start the daemon for CONFIG. Detached, it returns once the first checks ran and the table is set "
             "(exit 0; 2 for a config error, 1 if it did not start); -d or -f keep it in the foreground.",
    "stop": "Stop the daemon for CONFIG and wait for its cleanup: with cleanstop=yes (the default) it removes "
            "the services it manages.",
    "restart": "Check CONFIG, then stop the daemon leaving the live table to a new daemon, which adopts it: "
               "no connection is dropped. A broken CONFIG keeps the running daemon (exit 2).",
    "try-restart": "Restart the daemon for CONFIG if it is running; else do nothing (exit 0).",
    "reload": "Ask the daemon to re-read CONFIG as a transaction: exit 2 with every error if it refused the new "
              "file (the old one stays in force), 1 if it is not running.",
    "force-reload": "The same as reload.",
    "status": "Exit 0 running, 1 stale PID file, 3 stopped; when running, each real server's health, kernel "
              "weight, latency and last check.",
}
CONFIG_HELP = "the config: /etc/ha.d/CONFIG, /etc/ha.d/conf/CONFIG or CONFIG (default /etc/lvsd/lvsd.cf, " \
              "then /etc/ha.d/ldirectord.cf); it may also come before the command, as ldirectord's"


def register(commands: Commands) -> None:
    for name, (help_line, shown) in COMMANDS.items():
        parser = commands.add_parser(name, help=help_line, description=DESCRIPTIONS[name],
                                     usage=f"lvsd [OPTIONS] [CONFIG] {name}")
        parser.add_argument("config", nargs="?", metavar="CONFIG", help=CONFIG_HELP)
        add_daemon_options(parser, shown)
        parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    command: str = args.command
    paths = Paths(find_config(args.config))
    try:
        from lvsd.metrics import parse_address

        metrics = parse_address(args.metrics) if args.metrics else None
    except ValueError as exc:
        sys.stderr.write(f"lvsd: --metrics {args.metrics}: {exc}\n")
        return exits.USAGE
    opts = Options(
        debug=args.debug, foreground=args.foreground, metrics=metrics, log_json=args.log_format == "json",
        fallbackcommand_at_stop=args.fallbackcommand_at_stop,
    )
    try:
        if command == "start":
            return start(paths, opts)
        if command == "stop":
            return stop(paths)
        if command in ("restart", "try-restart"):
            return restart(paths, opts, only_if_running=command == "try-restart")
        if command in ("reload", "force-reload"):
            return reload(paths)
        return status(paths, args.json, args.require)
    except (IPVSError, OSError) as exc:
        sys.stderr.write(f"lvsd: {exc}\n")
        return exits.FAIL


def start(paths: Paths, opts: Options) -> int:
    from lvsd.cli.loading import load_or_report

    pid, running = read_pid(paths)
    if running:
        print(f"lvsd for {paths.config} is running with pid: {pid}")
        return exits.OK
    if not os.path.exists(paths.config):
        sys.stderr.write(f"lvsd: config file {paths.config} not found\n")
        return exits.FAIL
    loaded = load_or_report(paths.config, warnings=False)
    if loaded is None:
        return exits.CONFIG
    if opts.debug or opts.foreground:
        return run_here(paths, opts, None, loaded)
    return run_detached(paths, opts, loaded)


def stop(paths: Paths, sig: signal.Signals = signal.SIGTERM) -> int:
    pid, running = read_pid(paths)
    if not running or pid is None:
        print(f"lvsd is stopped for {paths.config}")
        return exits.OK
    os.kill(pid, sig)
    if not wait_gone(pid, STOP_WAIT):
        sys.stderr.write(f"lvsd (pid {pid}) did not stop within {STOP_WAIT:g}s\n")
        return exits.FAIL
    return exits.OK


def restart(paths: Paths, opts: Options, *, only_if_running: bool) -> int:
    """Check the config first (never stop a daemon we cannot replace), then hand the table over."""
    _, running = read_pid(paths)
    if only_if_running and not running:
        return exits.OK
    code = check(paths.config, quiet=True)
    if code != exits.OK:
        return code
    code = stop(paths, signal.SIGUSR2)  # SIGUSR2: leave the table for the new daemon to adopt
    return code if code != exits.OK else start(paths, opts)


def reload(paths: Paths) -> int:
    """Ask the daemon to reload and report its verdict (exit 2 with the errors if it refused)."""
    pid, running = read_pid(paths)
    if not running or pid is None:
        print(f"lvsd is stopped for {paths.config}")
        return exits.FAIL
    answer = ask(paths, "reload", timeout=120.0)
    if answer is None:  # no control socket (still starting?): ldirectord's way, unconfirmed
        os.kill(pid, signal.SIGHUP)
        sys.stderr.write(f"lvsd (pid {pid}) sent SIGHUP; its control socket did not answer, "
                         "so the outcome is in its log\n")
        return exits.OK
    for warning in answer.get("warnings", []):
        sys.stderr.write(warning + "\n")
    if answer.get("ok"):
        return exits.OK
    sys.stderr.write("\n".join(answer.get("errors", [])) + "\n")
    sys.stderr.write("lvsd: the new configuration was refused; the running configuration stays in force\n")
    return exits.CONFIG


def unmet(state: Snapshot, require: str) -> list[str]:
    """What keeps the daemon from being ``reconciled`` or ``serving`` (empty: it is)."""
    problems = ["kernel operations are failing (degraded)"] if state.degraded else []
    problems += [f"{v.service}: not in the kernel table" for v in state.virtuals if not v.in_kernel]
    if require == "serving":
        problems += [f"{v.service}: no real server or fallback in service" for v in state.virtuals
                     if v.in_kernel and not any(r.kernel_weight for r in v.reals)
                     and not (v.fallback is not None and v.fallback.active)]
    return problems


def status(paths: Paths, as_json: bool = False, require: str | None = None) -> int:
    pid, running = read_pid(paths)
    if running:
        state = ask(paths, "status")
        if require is not None:
            problems = ["its control socket did not answer"] if state is None else unmet(
                Snapshot.from_json(state), require)
            for problem in problems:
                sys.stderr.write(f"lvsd: not {require}: {problem}\n")
            if problems:
                return exits.FAIL
        if as_json:
            print(json.dumps({"running": True, "pid": pid, **(state or {})}, indent=2))
            return exits.OK
        print(f"lvsd for {paths.config} is running with pid: {pid}")
        if state is None:
            print("  (its control socket did not answer; see the log)")
        else:
            print_status(Snapshot.from_json(state))
        return exits.OK
    if as_json:
        print(json.dumps({"running": False, "pid": pid, "stale_pid_file": pid is not None}))
        return exits.FAIL if pid is not None else exits.STOPPED
    if pid is not None:
        sys.stderr.write(f"lvsd stale pid file {paths.pidfile} for {paths.config}\n")
        print(f"lvsd is stopped for {paths.config}")
        return exits.FAIL
    print(f"lvsd is stopped for {paths.config}")
    return exits.STOPPED
