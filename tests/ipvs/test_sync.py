"""Sync daemons as values: the plan from the running ones to the wanted ones, and their netlink bytes.

The kernel is the final judge (tests/ipvs/test_lab_sync.py reads every setting back with ipvsadm);
these pin the plan's rules and the attribute layout.
"""

from __future__ import annotations

import socket
import struct

import pytest

from lvsd.ipvs import messages as m
from lvsd.ipvs import sync
from lvsd.ipvs import sync_messages as sm
from lvsd.ipvs.sync import SyncDaemon, SyncStep

M = SyncDaemon("master", "eth1", syncid=5)
B = SyncDaemon("backup", "eth1", syncid=5)


def test_a_daemon_running_as_wanted_is_left_alone_with_the_kernels_defaults_filled_in() -> None:
    running = [SyncDaemon("master", "eth1", syncid=5, maxlen=1472, group="224.0.0.81", port=8848, ttl=1)]
    assert sync.plan(running, [M]) == []
    assert sync.plan([B], [B]) == []


def test_a_changed_setting_is_a_stop_then_a_start_and_stops_come_first() -> None:
    running = [M, B]
    wanted = [SyncDaemon("master", "eth1", syncid=6), B]
    assert sync.plan(running, wanted) == [SyncStep("stop", M), SyncStep("start", wanted[0])]
    # a role switch: the backup goes before the master starts (stops first, whatever the state order)
    assert sync.plan([B], [M]) == [SyncStep("stop", B), SyncStep("start", M)]
    assert sync.plan([M, B], []) == [SyncStep("stop", M), SyncStep("stop", B)]
    assert sync.apply_to([M, B], sync.plan([M, B], [SyncDaemon("master", "eth2")])) == [SyncDaemon("master", "eth2")]


@pytest.mark.parametrize("field, value", [("interface", "eth2"), ("syncid", 6), ("group", "239.0.0.1"),
                                          ("port", 9000), ("ttl", 2), ("maxlen", 1200)])
def test_every_setting_that_differs_restarts_the_daemon(field: str, value: object) -> None:
    from dataclasses import replace

    wanted = replace(M, **{field: value})
    assert [s.kind for s in sync.plan([SyncDaemon("master", "eth1", syncid=5, maxlen=1472)], [wanted])] == [
        "stop", "start"]


def test_the_kernels_maxlen_clamp_is_not_a_difference() -> None:
    asked = SyncDaemon("backup", "eth1", maxlen=600)  # the kernel keeps a backup's at 1,024 at least
    assert SyncDaemon("backup", "eth1", maxlen=1024).satisfies(asked)
    assert not SyncDaemon("backup", "eth1", maxlen=1100).satisfies(asked)
    assert SyncDaemon("master", "eth1", maxlen=65507).satisfies(SyncDaemon("master", "eth1", maxlen=65535))


def test_two_wanted_daemons_of_one_state_are_refused() -> None:
    with pytest.raises(ValueError, match="two wanted master"):
        sync.plan([], [M, SyncDaemon("master", "eth2")])


def test_the_ipvsadm_text_names_every_given_setting() -> None:
    d = SyncDaemon("master", "eth1", syncid=5, maxlen=1400, group="239.1.1.1", port=9000, ttl=2)
    assert SyncStep("start", d).ipvsadm() == (
        "ipvsadm --start-daemon master --mcast-interface eth1 --syncid 5 --sync-maxlen 1400 "
        "--mcast-group 239.1.1.1 --mcast-port 9000 --mcast-ttl 2")
    assert SyncStep("stop", d).ipvsadm() == "ipvsadm --stop-daemon master"
    assert str(SyncStep("start", B)) == "start sync daemon backup on eth1, syncid 5, group 224.0.0.81:8848 ttl 1"


def _daemon_attrs(request: bytes) -> dict[int, bytes]:
    top = m.genl_attrs(memoryview(request)[struct.calcsize("=IHHII"):])
    assert list(top) == [sm.ATTR_DAEMON]  # one nested daemon attribute, nothing else
    return {k: bytes(v) for k, v in m.attrs(top[sm.ATTR_DAEMON]).items()}


def test_start_sends_only_the_settings_given_and_each_in_the_kernels_layout() -> None:
    a = _daemon_attrs(sm.start_daemon(30, B, seq=1))
    assert set(a) == {sm.DAEMON_STATE, sm.DAEMON_MCAST_IFN, sm.DAEMON_SYNC_ID}  # the kernel's defaults apply
    d = SyncDaemon("master", "eth1", syncid=5, maxlen=1400, group="239.1.1.1", port=9000, ttl=2)
    a = _daemon_attrs(sm.start_daemon(30, d, seq=1))
    assert a[sm.DAEMON_STATE] == struct.pack("=I", 1) and a[sm.DAEMON_MCAST_IFN] == b"eth1\0"
    assert a[sm.DAEMON_SYNC_MAXLEN] == struct.pack("=H", 1400)
    assert a[sm.DAEMON_MCAST_GROUP] == socket.inet_aton("239.1.1.1")
    assert a[sm.DAEMON_MCAST_PORT] == struct.pack("=H", 9000)  # host order, as ipvsadm reads it back
    assert a[sm.DAEMON_MCAST_TTL] == b"\x02"
    six = _daemon_attrs(sm.start_daemon(30, SyncDaemon("backup", "eth1", group="ff02::81"), seq=1))
    assert six[sm.DAEMON_MCAST_GROUP6] == socket.inet_pton(socket.AF_INET6, "ff02::81")
    assert _daemon_attrs(sm.stop_daemon(30, "backup", seq=1)) == {sm.DAEMON_STATE: struct.pack("=I", 2)}


def test_a_dumped_daemon_reads_back_as_the_value_started() -> None:
    for d in (SyncDaemon("master", "eth1", syncid=5, maxlen=1400, group="239.1.1.1", port=9000, ttl=2),
              SyncDaemon("backup", "eth0", syncid=255, maxlen=1472, group="ff02::81", port=8848, ttl=1)):
        request = sm.start_daemon(30, d, seq=1)
        payload = memoryview(request)[struct.calcsize("=IHHII"):]
        assert sm.parse_daemon(payload) == d
    assert sm.parse_daemon(memoryview(sm.dump_daemons(30, seq=1))[struct.calcsize("=IHHII"):]) is None
