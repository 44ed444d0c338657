"""One parser: every command in ``lvsd --help``, ``lvsd COMMAND --help`` for each, ldirectord's word order kept."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from lvsd import cli
from lvsd.cli.parser import build, command_first

LSB = ["start", "stop", "restart", "try-restart", "reload", "force-reload", "status"]
COMMANDS = [*LSB, "check-config", "plan", "convert", "probe", "keepalived", "vrrp", "exabgp", "leave", "join"]
LVSD = Path(cli.__file__).parent.parent


def test_help_lists_every_command_on_one_line(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: lvsd [OPTIONS] [CONFIG] start|stop|")
    section = out.split("\ncommands:\n", 1)[1].split("\n\n", 1)[0]
    lines = {line.split()[0]: line for line in section.splitlines() if line.startswith("    ")}
    assert list(lines) == COMMANDS
    for name, line in lines.items():
        assert len(line.split(maxsplit=1)) == 2, f"{name} has no help on its own line: {line!r}"


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_its_own_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: lvsd ") and f" {command}" in out.splitlines()[0]


def test_python_m_lvsd_is_the_command() -> None:
    res = subprocess.run([sys.executable, "-m", "lvsd", "--version"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("lvsd ")


@pytest.mark.parametrize(("argv", "expected"), [
    (["start"], ("start", None, False)),
    (["web.cf", "start"], ("start", "web.cf", False)),
    (["-d", "web.cf", "start"], ("start", "web.cf", True)),
    (["web.cf", "-d", "stop"], ("stop", "web.cf", True)),
    (["web.cf", "status", "-d"], ("status", "web.cf", True)),
    (["--metrics", "9100", "web.cf", "restart"], ("restart", "web.cf", False)),
    (["--log-format", "json", "web.cf", "force-reload"], ("force-reload", "web.cf", False)),
    (["stop", "start"], ("start", "stop", False)),  # a config named like a command: the last word commands
])
def test_ldirectord_word_order(argv: list[str], expected: tuple[str, str | None, bool]) -> None:
    args = build().parse_args(command_first(argv))
    assert (args.command, args.config, args.debug) == expected


def test_every_daemon_option_anywhere() -> None:
    args = build().parse_args(command_first(
        ["-f", "web.cf", "--metrics=127.0.0.1:9100", "start", "--log-format", "json", "--fallbackcommand-at-stop"]))
    assert (args.foreground, args.metrics, args.log_format, args.fallbackcommand_at_stop) == (
        True, "127.0.0.1:9100", "json", True)
    assert build().parse_args(command_first(["--json", "web.cf", "status"])).json


@pytest.mark.parametrize("argv", [
    [], ["-d"], ["web.cf"], ["web.cf", "bogus"], ["a.cf", "b.cf", "start"], ["web.cf", "start", "extra"],
    ["check-config"], ["check-config", "a.cf", "b.cf"], ["web.cf", "check-config"], ["plan", "web.cf"],
    ["plan", "web.cf", "--diff", "--assume-up"], ["plan", "web.cf", "--diff", "--format", "ipvsadm-save"],
    ["convert", "web.cf"], ["convert", "web.cf", "--to", "json"], ["probe"], ["-d", "probe", "web.cf"],
    ["--metrics", "not-a-port", "web.cf", "status"],
])
def test_usage_errors_exit_255(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 255
    assert capsys.readouterr().err


def test_lsb_exit_codes_with_no_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LVSD_RUNDIR", str(tmp_path))
    config = str(tmp_path / "web.cf")
    assert cli.main([config, "status"]) == 3
    assert cli.main([config, "stop"]) == 0
    assert cli.main([config, "reload"]) == 1
    assert cli.main([config, "try-restart"]) == 0
    assert cli.main([config, "start"]) == 1  # no such file
    assert f"config file {config} not found" in capsys.readouterr().err
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / "lvsd.web.cf.pid").write_text(f"{gone.pid}\n")
    assert cli.main([config, "status"]) == 1  # stale PID file
    assert "stale pid file" in capsys.readouterr().err


def test_nothing_below_the_command_line_imports_it() -> None:
    offenders = []
    for path in LVSD.rglob("*.py"):
        rel = path.relative_to(LVSD.parent)
        if rel.parts[:2] == ("lvsd", "cli") or rel.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            if any(n == "lvsd.cli" or n.startswith("lvsd.cli.") for n in names):
                offenders.append(str(rel))
    assert offenders == []
