"""Issue 14: a config path that is not a regular file is refused at once, never read (a FIFO would block).

check-config and start refuse it with a clear error; a running daemon whose config path becomes a
FIFO refuses the reload and its loop goes on (the autoreload poll does not block either).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lvsd import control
from lvsd.config.errors import ConfigError
from lvsd.config.loader import load
from lvsd.watchfile import FileWatch
from tests.support.daemon import daemon_config, http_virtual, start_daemon, stop_daemon
from tests.support.switchable import Switchable


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def test_load_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as exc:
        load(str(fifo(tmp_path / "lvsd.cf")))
    assert time.monotonic() - t0 < 2
    assert exc.value.diagnostics[0].message == "cannot read config file: it is a FIFO, not a regular file"
    with pytest.raises(ConfigError, match="it is a character device"):
        load("/dev/null")
    assert FileWatch(str(tmp_path / "lvsd.cf"))._read() == (None, None)


@pytest.mark.parametrize("command", ["check-config", "start"])
def test_the_command_line_refuses_a_fifo(tmp_path: Path, command: str) -> None:
    path = fifo(tmp_path / "lvsd.cf")
    argv = [sys.executable, "-m", "lvsd", "check-config", str(path)] if command == "check-config" else \
        [sys.executable, "-m", "lvsd", "-f", str(path), "start"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "LVSD_RUNDIR": str(tmp_path)})
    assert proc.returncode != 0
    assert f"{path}: error: cannot read config file: it is a FIFO, not a regular file" in proc.stdout + proc.stderr


async def test_a_reload_of_a_fifo_is_refused_and_the_loop_goes_on(tmp_path: Path,
                                                                  servers: list[Switchable]) -> None:
    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(daemon_config(tmp_path, http_virtual([s.port for s in servers]), globals_="autoreload=yes"))
    sock = str(tmp_path / "lvsd.sock")
    d, task = await start_daemon(cfg, control_path=sock)
    try:
        cfg.unlink()
        fifo(cfg)
        t0 = time.monotonic()
        answer = await asyncio.wait_for(asyncio.to_thread(control.ask, sock, "reload"), 5)
        assert answer["ok"] is False and "it is a FIFO, not a regular file" in answer["errors"][0]
        await asyncio.sleep(1.5)  # an autoreload poll passes over the FIFO too
        state = await asyncio.wait_for(asyncio.to_thread(control.ask, sock, "status"), 5)
        assert state["status"] == "running" and time.monotonic() - t0 < 5
        assert all(r["state"] == "up" for r in state["virtuals"][0]["reals"])
    finally:
        await stop_daemon(d, task)
