"""``lvsd keepalived``: each node's VRRP configuration from the one lvsd config.

The text is pinned here; keepalived itself accepts it in the lab (``keepalived -t``, with
the interfaces present: tests/pair/test_lab_failover.py runs it for real).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lvsd.cli import main
from lvsd.config.ldirectord import parse
from lvsd.pair.keepalived import PairError, node_config, track_weight

PAIR = """\
syncinterface=eth1
vrrptrackfile=/run/lvsd/vrrp-track
vrrpinterface=eth0
vrrpid=61
vrrpadvert=0.5
vrrpwarmup=20
vrrpnode=lvs1 150 192.0.2.10
vrrpnode=lvs2 100 192.0.2.11
vrrpaddress=203.0.113.1/24 dev eth1

virtual=198.51.100.1:80
	real=203.0.113.11:80 masq
virtual=198.51.100.1:443
	real=203.0.113.11:443 masq
virtual6=[2001:db8::1]:80
	real6=[2001:db8:1::11]:80 masq
"""


def test_each_node_gets_its_priority_its_peer_every_vip_once_and_lvsds_health() -> None:
    config = parse(PAIR, "/etc/lvsd/lvsd.cf")
    one = node_config(config, "lvs1")
    assert "    priority 150\n" in one and "    unicast_src_ip 192.0.2.10\n" in one
    assert "    unicast_peer {\n        192.0.2.11\n    }\n" in one
    assert ("    virtual_ipaddress {\n        198.51.100.1/32 dev eth0\n        2001:db8::1/128 dev eth0\n"
            "        203.0.113.1/24 dev eth1\n    }\n") in one
    assert ("    virtual_router_id 61\n    priority 150\n    advert_int 0.5\n    version 3\n"
            "    preempt_delay 20\n") in one
    assert "    state BACKUP\n" in one  # the priorities decide; nobody starts as MASTER
    assert "    version 3\n" in one  # half-second adverts: VRRPv2 would count whole seconds
    assert "version 3" not in node_config(parse(PAIR.replace("vrrpadvert=0.5", "vrrpadvert=2"), "/x.cf"), "lvs1")
    assert "track_file lvsd_unserved {\n    file /run/lvsd/vrrp-track\n    weight -51\n" in one
    assert '    notify "/usr/sbin/lvsd vrrp -c /etc/lvsd/lvsd.cf"\n' in one
    two = node_config(config, "lvs2")
    assert "    priority 100\n" in two and "    unicast_src_ip 192.0.2.11\n" in two and "192.0.2.10\n" in two


def test_one_unserved_service_puts_a_node_below_every_healthy_one_and_sick_nodes_keep_their_order() -> None:
    config = parse(PAIR + "vrrpnode=lvs3 120 192.0.2.12\n", "/x.cf")
    assert config.vrrp is not None
    w = track_weight(config.vrrp.nodes)
    assert 150 + w < 100  # the best node with one unserved service is below the worst healthy one
    assert 150 + w > 100 + w > 0  # equally sick: the same order


def test_multicast_when_a_node_has_no_address_and_what_is_missing_is_named() -> None:
    config = parse(PAIR.replace("vrrpnode=lvs2 100 192.0.2.11", "vrrpnode=lvs2 100"), "/x.cf")
    assert "unicast" not in node_config(config, "lvs1")
    with pytest.raises(PairError, match="no vrrpnode 'lvs9' \\(nodes: lvs1, lvs2\\)"):
        node_config(config, "lvs9")
    with pytest.raises(PairError, match="a pair needs two vrrpnode lines"):
        node_config(parse("vrrpinterface=eth0\nvrrpnode=a 100\n", "/x.cf"), "a")
    with pytest.raises(PairError, match="no vrrpinterface"):
        node_config(parse("vrrpnode=a 100\nvrrpnode=b 90\n", "/x.cf"), "a")


def test_vrrp_directives_errors_name_their_line() -> None:
    from lvsd.config.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        parse("vrrpnode=a\nvrrpnode=b 300\nvrrpnode=c 100 nowhere\nvrrpadvert=0.001\nvrrpaddress=x\n"
              "vrrpnode=d 1\nvrrpnode=d 2\n", "/x.cf")
    got = [f"{d.line}: {d.message}" for d in info.value.diagnostics]
    assert got == [
        "1: vrrpnode wants NAME PRIORITY [ADDRESS] (a node name, its VRRP priority 1-254, and optionally its "
        "address for unicast VRRP)",
        "2: vrrpnode priority must be a whole number from 1 to 254, not '300'",
        "3: vrrpnode address must be an IP address, not 'nowhere'",
        "4: vrrpadvert must be seconds from 0.01 to 255 in steps of 0.01, not '0.001'",
        "5: vrrpaddress must be an address with an optional prefix, not 'x'",
        "7: vrrpnode d given twice (first on line 6)",
    ]


def test_the_command_writes_one_file_per_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(PAIR)
    assert main(["keepalived", str(cfg), "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("keepalived-*.conf")) == ["keepalived-lvs1.conf",
                                                                          "keepalived-lvs2.conf"]
    assert main(["keepalived", str(cfg), "--node", "lvs2", "--lvsd", "/opt/lvsd/bin/lvsd"]) == 0
    out = capsys.readouterr().out
    assert f'notify "/opt/lvsd/bin/lvsd vrrp -c {cfg}"' in out and "priority 100" in out
    cfg.write_text("virtual=198.51.100.1:80\n\treal=203.0.113.11:80 masq\n")
    assert main(["keepalived", str(cfg)]) == 2
    assert "no vrrpinterface" in capsys.readouterr().err
