"""``lvsd plan`` prints the table real ldirectord programmed in the kernel lab.

ldirectord_tables/CASE.txt holds ``ipvsadm-save -n`` as read from the UML
kernel after real ldirectord ran CASE (record_ldirectord_tables.py; header
``# assume: up|down``). Here, without the lab, ``lvsd plan --assume-up`` (or
``--assume-down``) on the same case must print the same lines, once
ipvsadm-save's hash order is made canonical.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lvsd import cli
from lvsd.cli import planview
from lvsd.config.loader import load
from tests.conformance.cases import CASES_DIR, HERE

TABLES = sorted((HERE / "ldirectord_tables").glob("*.txt"))
# Cases where lvsd's kernel table differs from ldirectord's, and why (must really differ).
KNOWN_GAPS: dict[str, str] = {}


def recorded(path: Path) -> tuple[bool, list[str]]:
    lines = path.read_text().splitlines()
    assert lines[0] in ("# assume: up", "# assume: down"), path
    return lines[0].endswith("up"), [line for line in lines if line and not line.startswith("#")]


def test_enough_tables() -> None:
    assert len(TABLES) >= 15
    assert sum(recorded(p)[0] for p in TABLES) >= 8  # assume-up tables


@pytest.mark.parametrize("path", TABLES, ids=lambda p: p.stem)
def test_plan_equals_ldirectord_table(path: Path) -> None:
    up, expected = recorded(path)
    config = load(str(CASES_DIR / f"{path.stem}.cf"))
    planned = planview.save(planview.planned_table(config, up=up))
    if path.stem in KNOWN_GAPS:
        assert planned != planview.canonical(expected), f"{path.stem} is listed as a known gap but matches"
        pytest.xfail(KNOWN_GAPS[path.stem])
    assert planned == planview.canonical(expected)


def test_cli_plan_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    path = HERE / "ldirectord_tables" / "lab-on-masq-weights.txt"
    _, expected = recorded(path)
    code = cli.main(["plan", str(CASES_DIR / "lab-on-masq-weights.cf"), "--assume-up", "--format",
                     "ipvsadm-save"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines() == planview.canonical(expected)


def test_cli_plan_rejects_an_invalid_config(capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES_DIR / "virt-checktype-unknown.cf"
    assert cli.main(["plan", str(case), "--assume-down"]) == 2
    err = capsys.readouterr().err
    assert f"{case}:5:12: error: unknown checktype 'bogus'" in err


def test_cli_plan_needs_an_assumption(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plan", str(CASES_DIR / "lab-on-masq-weights.cf")]) == 255
    assert "--assume-up" in capsys.readouterr().err


def test_assume_down_quiesces_or_removes(tmp_path: Path) -> None:
    cfg = tmp_path / "q.cf"
    cfg.write_text("virtual=198.51.100.1:80\n\treal=203.0.113.11:80 masq 4\n\tchecktype=on\n\tquiescent=yes\n"
                   "virtual=198.51.100.2:80\n\treal=203.0.113.12:80 gate 2\n\tchecktype=on\n"
                   "\tfallback=127.0.0.1:80 gate\n")
    config = load(os.fspath(cfg))
    assert planview.save(planview.planned_table(config, up=False)) == [
        "-A -t 198.51.100.1:80 -s wrr",
        "-a -t 198.51.100.1:80 -r 203.0.113.11:80 -m -w 0",
        "-A -t 198.51.100.2:80 -s wrr",
        "-a -t 198.51.100.2:80 -r 127.0.0.1:80 -g -w 1",
    ]
    assert planview.save(planview.planned_table(config, up=True)) == [
        "-A -t 198.51.100.1:80 -s wrr",
        "-a -t 198.51.100.1:80 -r 203.0.113.11:80 -m -w 4",
        "-A -t 198.51.100.2:80 -s wrr",
        "-a -t 198.51.100.2:80 -r 203.0.113.12:80 -g -w 2",
    ]
