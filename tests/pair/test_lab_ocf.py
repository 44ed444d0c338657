"""Issue 12, point 3: the OCF resource agent (ocf/lvsd), run by ocf-tester and action by action.

ocf-tester (Debian's resource-agents) drives the agent through meta-data, validate-all,
monitor, start, stop and reload against the real lvsd in the lab, with the ldirectord agent's
parameter names. Then each exit code Pacemaker acts on: a broken config is
OCF_ERR_CONFIGURED at validate-all, start and reload (the running config stays), and the
deeper monitors fail when the table is not what they promise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.skipping import in_lab, missing, not_in_lab

pytestmark = pytest.mark.lab

AGENT = Path(__file__).resolve().parents[2] / "ocf" / "lvsd"
REPO = AGENT.parents[1]
OK, GENERIC, CONFIGURED, NOT_RUNNING = 0, 1, 6, 7
SERVED = "virtual=198.51.100.41:80\n\treal=203.0.113.11:80 gate\n\tchecktype=on\n"
UNSERVED = "virtual=198.51.100.42:80\n\treal=192.0.2.250:80 gate\n\tchecktype=connect\n\tcheckport=9\n"


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[dict[str, str]]:
    if not in_lab():
        not_in_lab()
    if shutil.which("ocf-tester") is None:
        missing("ocf-tester (apt-get install resource-agents)")
    program = tmp_path / "bin" / "lvsd"
    program.parent.mkdir()
    program.write_text(f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m lvsd \"$@\"\n")
    program.chmod(0o755)
    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(f'checkinterval=1\nchecktimeout=1\nlogfile="{tmp_path}/lvsd.log"\n' + SERVED)
    params = {"configfile": str(cfg), "ldirectord": str(program), "rundir": str(tmp_path)}
    yield params
    run(params, "stop")
    subprocess.run(["ipvsadm", "-C"], capture_output=True, check=False)


def run(params: dict[str, str], action: str, depth: int = 0) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OCF_ROOT="/usr/lib/ocf", OCF_CHECK_LEVEL=str(depth),
               **{f"OCF_RESKEY_{k}": v for k, v in params.items()})
    return subprocess.run([str(AGENT), action], env=env, capture_output=True, text=True, timeout=120)


def test_ocf_tester_passes_the_agent_with_ldirectords_parameter_names(agent: dict[str, str]) -> None:
    argv = ["ocf-tester", "-n", "lvsd", *[x for k, v in agent.items() for x in ("-o", f"{k}={v}")], str(AGENT)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed all tests" in done.stdout, done.stdout


def test_every_exit_code_pacemaker_acts_on(agent: dict[str, str], tmp_path: Path) -> None:
    assert run(agent, "monitor").returncode == NOT_RUNNING
    assert run(agent, "validate-all").returncode == OK
    assert run(agent, "start").returncode == OK
    assert run(agent, "start").returncode == OK  # idempotent
    for depth in (0, 10, 20):
        assert run(agent, "monitor", depth).returncode == OK, depth
    cfg = Path(agent["configfile"])
    good = cfg.read_text()
    cfg.write_text(good + UNSERVED)  # a service whose only real server fails its check
    assert run(agent, "reload").returncode == OK
    assert run(agent, "monitor", 10).returncode == OK  # reconciled: the service is in the kernel
    deep = run(agent, "monitor", 20)
    assert deep.returncode == GENERIC and "no real server or fallback in service" in deep.stderr, deep.stderr
    cfg.write_text(good + "virtual=198.51.100.43:80\n\treal=203.0.113.11:80 nat\n")  # a typo
    refused = run(agent, "reload")
    assert refused.returncode == CONFIGURED and "the running config stays" in refused.stderr
    assert run(agent, "validate-all").returncode == CONFIGURED
    assert run(agent, "monitor").returncode == OK  # still running the config before
    assert run(agent, "stop").returncode == OK
    assert run(agent, "stop").returncode == OK
    assert run(agent, "monitor").returncode == NOT_RUNNING
    assert run(agent, "start").returncode == CONFIGURED  # a broken config never starts
    cfg.write_text(good)
    missing_program = {**agent, "ldirectord": str(tmp_path / "nowhere" / "lvsd")}
    assert run(missing_program, "validate-all").returncode == 5  # OCF_ERR_INSTALLED
    meta = run(agent, "meta-data")
    assert meta.returncode == OK and '<parameter name="configfile" unique="1">' in meta.stdout
    assert '<action name="monitor" depth="20"' in meta.stdout
