"""piranha lvs.cf: the example file, nanny's meaning of each key, errors at FILE:LINE:COL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lvsd import cli
from lvsd.config import ldirectord, loader, piranha
from lvsd.config.errors import ConfigError
from lvsd.config.model import Config, Fallback, RealServer, SyncSettings, VrrpNode, VrrpSettings
from lvsd.ipvs.table import ServiceKey

EXAMPLE = Path(__file__).parent / "data" / "piranha-lvs.cf"
PATH = "/etc/sysconfig/ha/lvs.cf"


def parse(text: str) -> Config:
    return piranha.parse(text, PATH)


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return [f"{d.line}:{d.col}: {d.message}" for d in info.value.diagnostics]


def block(*lines: str, network: str = "network = nat") -> str:
    body = "\n".join(f"    {line}" for line in lines)
    return f"serial_no = 1\n{network}\nvirtual web {{\n    active = 1\n{body}\n}}\n"


SERVER = "server s1 {\n        address = 203.0.113.11\n        active = 1\n    }"


def test_the_example_file() -> None:
    config = loader.load(str(EXAMPLE))  # named piranha-lvs.cf: found by its syntax
    (v,) = config.virtuals
    assert (v.protocol, v.ip, v.port, v.scheduler) == ("tcp", "198.51.100.1", 80, "wlc")
    assert (v.persistent, v.netmask) == (10, "255.255.255.255")
    assert (v.checktype, v.service) == ("negotiate", "simpletcp")
    assert v.request == "/GET / HTTP/1.0\r\n\r\n"  # escapes decoded; "/" as ldirectord adds it
    assert v.receive == "HTTP"
    assert (v.checkinterval, v.checktimeout, v.negotiatetimeout) == (5.0, 5.0, 5.0)
    assert (v.reentry, v.quiescent, v.failurecount) == (10.0, False, 1)
    assert v.reals == tuple(RealServer(ip=f"203.0.113.1{i}", port=80, forward="gate") for i in (1, 2, 3))
    warned = [w.message for w in config.warnings]
    assert any(m.startswith("pulse's own settings are read, but not applied by lvsd (the pair runs on "
                            "keepalived's VRRP: see lvsd keepalived): rsh_command, heartbeat, heartbeat_port")
               for m in warned)
    assert "load_monitor is nanny's load monitoring: read, but not applied by lvsd" in warned
    # pulse's failover settings become the pair's: two nodes, deadtime 5 s -> adverts every 5/3 s, eth0
    assert config.vrrp == VrrpSettings(interface="eth0", vrid=51, advert=1.67,
                                       nodes=(VrrpNode("primary", 150, "192.0.2.11"),
                                              VrrpNode("backup", 100, "192.0.2.12")))
    assert config.sync is None  # the example runs no sync daemon


def test_pulse_nat_router_vip_nmask_and_sync_daemon_become_the_pairs() -> None:
    text = ("serial_no = 1\nprimary = 192.0.2.11\nbackup = 192.0.2.12\nbackup_active = 1\nkeepalive = 1\n"
            "nat_router = 203.0.113.1 eth1:1\nnat_nmask = 255.255.255.0\nsyncdaemon = 1\nsyncd_iface = eth2\n"
            "syncd_id = 7\nnetwork = nat\nvirtual web {\n    active = 1\n    address = 198.51.100.1 eth0:1\n"
            "    vip_nmask = 255.255.255.0\n    port = 80\n    " + SERVER + "\n}\n")
    config = parse(text)
    assert config.vrrp is not None and config.vrrp.advert == 1.0 and config.vrrp.interface == "eth0"
    assert config.vrrp.addresses == (("198.51.100.1/24", "eth0"), ("203.0.113.1/24", "eth1"))
    assert config.sync == SyncSettings(interface="eth2", role="both", syncid=7)
    alone = parse(text.replace("backup_active = 1", "backup_active = 0"))
    assert alone.vrrp is not None and [n.name for n in alone.vrrp.nodes] == ["primary"]
    assert "backup_active = 0: no backup director, so no pair to write" in [w.message for w in alone.warnings]


def test_sniffing_rule() -> None:
    assert piranha.looks_like(EXAMPLE.read_text())
    assert piranha.looks_like("# c\nserial_no = 3\n")
    assert piranha.looks_like("virtual web{\n}\n")
    assert not piranha.looks_like("virtual=198.51.100.1:80\n\treal=203.0.113.11:80 masq\n")
    assert not piranha.looks_like("# virtual web {\n")


def test_named_lvs_cf_is_piranha_even_when_empty(tmp_path: Path) -> None:
    path = tmp_path / "lvs.cf"
    path.write_text("# nothing yet\n")
    assert loader.load(str(path)).virtuals == ()
    path.write_text("checkinterval=5\n")  # ldirectord.cf text in a file named lvs.cf
    with pytest.raises(ConfigError, match="unknown key 'checkinterval' in the global section"):
        loader.load(str(path))


@pytest.mark.parametrize(("network", "forward"), [("direct", "gate"), ("nat", "masq"), ("tunnel", "ipip")])
def test_network_is_the_forward_method(network: str, forward: str) -> None:
    (v,) = parse(block("address = 198.51.100.1", "port = 8080", SERVER, network=f"network = {network}")).virtuals
    assert v.reals[0].forward == forward
    assert v.reals[0].port == 8080  # a server's port defaults to the virtual's


def test_missing_network_defaults_to_nat_with_a_warning() -> None:
    config = parse(block("address = 198.51.100.1", "port = 80", SERVER, network=""))
    assert config.virtuals[0].reals[0].forward == "masq"
    assert "no 'network =' line" in config.warnings[0].message


def test_checks_follow_nanny() -> None:
    (plain,) = parse(block("address = 198.51.100.1", "port = 25", SERVER)).virtuals
    assert plain.checktype == "connect"  # neither send nor expect, not port 80
    (http,) = parse(block("address = 198.51.100.1", "port = 80", SERVER)).virtuals
    assert (http.service, http.request, http.receive) == ("simpletcp", "/GET / HTTP/1.0\r\n\r\n", "HTTP")
    (lit,) = parse(block("address = 198.51.100.1", "port = 7", 'send = "ping\\n"', 'expect = "a.b*"',
                         SERVER)).virtuals
    assert (lit.request, lit.receive) == ("/ping\n", re.escape("a.b*"))
    assert re.search(lit.receive, "xa.b*y") and not re.search(lit.receive, "aXbb")
    (rx,) = parse(block("address = 198.51.100.1", "port = 7", 'expect = "^OK [0-9]+"', "use_regex = 1",
                        SERVER)).virtuals
    assert rx.receive == "^OK [0-9]+"
    (star,) = parse(block("address = 198.51.100.1", "port = 7", 'expect = "*"', SERVER)).virtuals
    assert re.search(star.receive, "\n") and not re.search(star.receive, "")


def test_service_settings() -> None:
    (v,) = parse(block("address = 198.51.100.1 eth0:1", "port = 443", "protocol = udp", "scheduler = sh",
                       "persistent = 300", "pmask = 255.255.255.0", "timeout = 3", "reentry = 0",
                       "quiesce_server = 1", "sorry_server = 127.0.0.1", SERVER)).virtuals
    assert (v.protocol, v.scheduler, v.persistent, v.netmask) == ("udp", "sh", 300, "255.255.255.0")
    assert (v.checkinterval, v.checktimeout, v.reentry, v.quiescent) == (3.0, 3.0, 0.0, True)
    assert v.fallback == Fallback(ip="127.0.0.1", port=443, forward="masq")


def test_fwmark_service() -> None:
    (v,) = parse(block("address = 198.51.100.1", "fwmark = 7", SERVER)).virtuals
    assert (v.protocol, v.fwmark, v.ip, v.port, v.key) == ("fwm", 7, None, 0, ServiceKey.mark(7))
    assert v.reals[0].port == 0


def test_inactive_virtuals_and_servers_are_not_configured() -> None:
    text = block("address = 198.51.100.1", "port = 80", SERVER,
                 "server s2 {\n        address = 203.0.113.12\n        active = 0\n    }")
    (v,) = parse(text).virtuals
    assert [r.ip for r in v.reals] == ["203.0.113.11"]
    assert parse(text.replace("active = 1\n    address = 198", "active = 0\n    address = 198")).virtuals == ()


def test_send_program_is_an_external_check_with_nannys_contract() -> None:
    config = parse(block("address = 198.51.100.1", "port = 80", 'send_program = "/usr/local/bin/chk %h"',
                         'expect = "up"', SERVER))
    (v,) = config.virtuals
    assert (v.checktype, v.send_program, v.receive) == ("external", "/usr/local/bin/chk %h", "up")
    assert not any("send_program" in w.message for w in config.warnings)  # it runs now: nothing to warn


def test_errors_name_line_and_column() -> None:
    text = ("serial_no = x\nnetwork = bridge\nvirtual web {\n    address = 198.51.100.300\n    port = 99999\n"
            "    scheduler = WLC\n    send = \"a\\qb\"\n    colour = red\n    server s1 {\n        weight = 2\n"
            "    }\n}\n}\n")
    assert errors(text) == [
        "1:13: serial_no must be a whole number from 0 to 2147483647, not 'x'",
        "2:11: network must be direct, nat or tunnel, not 'bridge'",
        "4:15: address: invalid IP address '198.51.100.300'",
        "5:12: port must be a whole number from 1 to 65535, not '99999'",
        "6:17: unknown scheduler 'WLC' (expected rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh)",
        "7:14: unknown escape '\\\\q' in a string (expected \\n \\r \\t \\\\ \\' or \\\")",
        "8:5: unknown key 'colour' in virtual web",
        "9:5: server s1: missing 'address = IP'",
        "13:1: '}' without an open block",
    ]


def test_layout_errors() -> None:
    assert errors("virtual web {\n    address = 198.51.100.1\n    port = 80\n") == [
        "1:1: virtual web: missing '}' (the block is still open at the end of the file)"]
    assert errors("serial_no = 1\nserver s1 {\n}\n") == ["2:1: a server block cannot appear at the top level"]
    assert errors("virtual web\n{\n}\n")[0] == (
        "1:1: expected 'key = value', a block header or '}' (a block header is 'virtual NAME {' on one line)")
    assert errors("service = fos\n")[0].startswith("1:11: service = fos: lvsd runs LVS virtual servers")


def test_duplicate_virtuals_and_servers() -> None:
    one = "virtual a {\n    active = 1\n    address = 198.51.100.1\n    port = 80\n}\n"
    assert errors("network = nat\n" + one + one.replace("virtual a", "virtual b")) == [
        "7:1: duplicate virtual service tcp:198.51.100.1:80 (first defined on line 2)"]
    two = block("address = 198.51.100.1", "port = 80", SERVER, SERVER.replace("s1", "s2"), network="network = direct")
    assert errors(two) == ["11:5: server s2: the same real server as on line 7"]


def test_convert_to_ldirectord_and_run_it_through_the_ldirectord_reader(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["convert", str(EXAMPLE), "--to", "ldirectord"]) == 0
    captured = capsys.readouterr()
    config = ldirectord.parse(captured.out, "/etc/ha.d/ldirectord.cf")
    (v,) = config.virtuals
    original = loader.load(str(EXAMPLE)).virtuals[0]
    assert v.reals == original.reals and v.request == "/GET / HTTP/1.0\\n\\n"  # ldirectord's \n escape
    assert (v.scheduler, v.persistent, v.service, v.receive) == ("wlc", 10, "simpletcp", "HTTP")
    assert "reentry=10 has no ldirectord.cf directive: dropped" in captured.err
    assert "CR LF written as \\n" in captured.err


def test_convert_to_yaml_keeps_reentry(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["convert", str(EXAMPLE), "--to", "yaml"]) == 0
    out = tmp_path / "lvsd.yaml"
    out.write_text(capsys.readouterr().out)
    back = loader.load(str(out))
    original = loader.load(str(EXAMPLE))
    assert back.virtuals == original.virtuals
