"""lvsd's YAML config: ldirectord.cf's model and validation, errors at the key's line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from lvsd import cli
from lvsd.config import loader, yaml_reader
from lvsd.config.errors import ConfigError
from lvsd.config.model import Fallback, RealServer, SyncSettings
from tests.config.helpers import FakeResolver

PATH = "/etc/lvsd/lvsd.yaml"

DOC = """\
checkinterval: 5
quiescent: yes
checktimeout: 3
fallback: 127.0.0.1:80 gate
execute: [a.cf, b.cf]
virtuals:
  - virtual: 198.51.100.1:80
    service: http
    request: health
    receive: OK
    reentry: 30
    reals:
      - {real: 203.0.113.11:80, forward: masq, weight: 2}
      - real: 203.0.113.12->203.0.113.13:8080
        forward: masq
        request: /b
        receive: B
        l_threshold: 5
        u_threshold: 50
  - virtual6: "[2001:db8::1]:443"
    checktype: 3
    quiescent: false
    reals:
      - {real: "[2001:db8::11]", forward: gate}
  - virtual: 7
    reals:
"""


def parse(text: str) -> yaml_reader.Config:
    return yaml_reader.parse(text, PATH, resolver=FakeResolver())


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert all(d.file == PATH for d in info.value.diagnostics)
    return [f"{d.line}:{d.col}: {d.message}" for d in info.value.diagnostics]


def test_a_document() -> None:
    config = parse(DOC)
    assert config.checkinterval == 5 and config.execute == ("a.cf", "b.cf")
    web, six, mark = config.virtuals
    assert (web.service, web.request, web.receive, web.quiescent, web.checktimeout) == (
        "http", "/health", "OK", True, 3.0)
    assert web.negotiatetimeout == 3.0  # the same mutual fallback as ldirectord.cf
    assert web.reentry == 30.0 and web.fallback == Fallback(ip="127.0.0.1", port=80, forward="gate")
    assert web.reals == (
        RealServer(ip="203.0.113.11", port=80, forward="masq", weight=2),
        RealServer(ip="203.0.113.12", port=8080, forward="masq", request="/b", receive="B", lower=5, upper=50),
        RealServer(ip="203.0.113.13", port=8080, forward="masq", request="/b", receive="B", lower=5, upper=50),
    )
    assert (six.ipv6, six.connects_per_negotiate, six.quiescent, six.reals[0].port) == (True, 3, False, 0)
    assert (mark.fwmark, mark.reals, mark.reentry) == (7, (), 0.0)
    assert web.where is not None and (web.where.line, web.where.col) == (7, 14)


def test_same_meaning_as_ldirectord_cf() -> None:
    from lvsd.config import ldirectord

    cf = ("checkinterval=5\nquiescent=yes\nvirtual=198.51.100.1:80\n\treal=203.0.113.11:80 masq 2\n"
          "\tservice=http\n\treceive=\"OK\"\n")
    yml = ("checkinterval: 5\nquiescent: true\nvirtuals:\n- virtual: 198.51.100.1:80\n  service: http\n"
           "  receive: OK\n  reals: [{real: 203.0.113.11:80, forward: masq, weight: 2}]\n")
    assert ldirectord.parse(cf, PATH, resolver=FakeResolver()) == parse(yml)


def test_every_error_at_its_key() -> None:
    text = ("quiescent: maybe\ncheckintervall: 3\nvirtuals:\n  - virtual: 198.51.100.1:80\n"
            "    checktype: bogus\n    autoreload: true\n    reals:\n      - {real: 203.0.113.11:80, forward: nat}\n"
            "      - {real: 203.0.113.12:80, forward: masq, weight: 70000}\n      - {real: 203.0.113.13}\n"
            "      - {real: 203.0.113.14, forward: gate, colour: red}\n"
            "  - virtual6: 198.51.100.1:80\n    service: http\n    service: https\n  - reals: []\n"
            "  - {virtual: 198.51.100.9:80, reentry: soon, timeout: 5}\n")
    assert errors(text) == [
        "1:12: quiescent must be 'yes' or 'no', not 'maybe'",
        "2:1: unknown key 'checkintervall' in the top level (did you mean 'checkinterval'?)",
        "5:16: unknown checktype 'bogus' (expected connect, negotiate, ping, external, external-perl, on, off "
        "or a number)",
        "6:5: 'autoreload' is a global key: put it at the top level",
        "8:42: forward method must be gate, masq or ipip, not 'nat'",
        "9:56: weight must be a whole number from 0 to 65535, not '70000'",
        "10:9: a real server needs forward: gate, masq or ipip",
        "11:45: unknown key 'colour' in a real server",
        "12:15: IPv4 address 198.51.100.1 in an IPv6 context (use virtual=, real= or fallback=)",
        "14:5: duplicate key 'service' (first on line 13)",
        "15:5: a virtual service needs exactly one of virtual: or virtual6: (found 0)",
        "16:41: reentry must be a whole number of seconds from 0 to 2147483647, not 'soon'",
        "16:47: timeout directive deprecated in favour of checktimeout and negotiatetimeout",
    ]


def test_shape_errors() -> None:
    assert errors("- 1\n- 2\n") == ["1:1: the document must be a mapping of keys to values"]
    assert errors("virtuals: 3\n") == ["1:11: virtuals must be a list of virtual services"]
    assert errors("checkinterval: [1, 2]\n") == ["1:16: checkinterval takes a single value, not a list"]
    assert errors("logfile:\n") == ["1:9: logfile needs a value"]
    assert errors("virtuals:\n  - virtual: 198.51.100.1:80\n    reals: {real: x}\n") == [
        "3:12: reals must be a list of real servers"]


def test_yaml_syntax_error_has_a_position() -> None:
    assert errors("virtuals:\n  - virtual: [1, 2\n") == [
        "3:1: YAML syntax: expected ',' or ']', but got '<stream end>'"]
    assert parse("").virtuals == ()


def test_loader_dispatches_on_the_extension(tmp_path: Path) -> None:
    for name in ("lvsd.yaml", "lvsd.YML"):
        path = tmp_path / name
        path.write_text("virtuals:\n  - virtual: 198.51.100.1:80\n"
                        "    reals: [{real: 203.0.113.11:80, forward: masq}]\n")
        assert loader.load(str(path)).virtuals[0].reals[0].ip == "203.0.113.11"


def test_cli_convert_to_yaml_and_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cf = tmp_path / "ld.cf"
    cf.write_text("checkinterval=4\nvirtual=198.51.100.1:80\n\treal=203.0.113.11:80 masq 1 \"/x\" \"y\" l:1 u:9\n"
                  "\tservice=http\n\tquiescent=yes\n")
    assert cli.main(["convert", str(cf), "--to", "yaml"]) == 0
    yml = tmp_path / "ld.yaml"
    yml.write_text(capsys.readouterr().out)
    assert cli.main(["convert", str(yml), "--to", "ldirectord"]) == 0
    back = tmp_path / "back.cf"
    back.write_text(capsys.readouterr().out)
    original = loader.load(str(cf))
    assert loader.load(str(yml)).virtuals == original.virtuals
    assert loader.load(str(back)).virtuals == original.virtuals


def test_cli_convert_refuses_what_ldirectord_cf_cannot_hold(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    yml = tmp_path / "x.yaml"
    yml.write_text("virtuals:\n  - virtual: 198.51.100.1:80\n    service: http\n    receive: 'a#b'\n"
                   "    reals: [{real: 203.0.113.11:80, forward: masq}]\n")
    assert cli.main(["convert", str(yml), "--to", "ldirectord"]) == 2
    assert f"{yml}:2:14: error: receive: a '#' cannot be written in a virtual block" in capsys.readouterr().err
    assert cli.main(["convert", str(yml), "--to", "json"]) == 255


def test_the_pairs_sync_settings_are_top_level_keys_with_ldirectord_cf_errors() -> None:
    config = parse("syncinterface: eth1\nsyncrole: vrrp\nsyncid: 51\nsyncgroup: 239.0.0.81\nsyncport: 8900\n")
    assert config.sync == SyncSettings(interface="eth1", role="vrrp", syncid=51, group="239.0.0.81", port=8900)
    assert errors("syncinterface: eth1\nsyncgroup: 192.0.2.1\nsyncid: 300\n") == [
        "2:12: syncgroup must be a multicast address (224.0.0.0/4 or ff00::/8), not 192.0.2.1",
        "3:9: syncid must be a whole number from 0 to 255, not 300"]
    assert errors("syncttl: 2\n") == ["1:1: syncttl needs syncinterface (the interface the sync daemons use)"]
