"""Issue 12, point 1: lvsd starts, reads back and stops the kernel's connection sync daemons over netlink.

Proven against the kernel's own client: what lvsd starts, ``ipvsadm -L --daemon`` reads back
with every setting; what ipvsadm starts, lvsd reads back; a daemon that runs as wanted is
adopted (no step), a changed one is restarted, and the kernel's refusals come back with
what they mean. The daemons run on a veth pair made for this module (a dummy interface has
no multicast, which the sync protocol needs).
"""

from __future__ import annotations

import asyncio
import errno
import re
import subprocess
from collections.abc import Iterator

import pytest

from lvsd.errors import IPVSError
from lvsd.ipvs import sync
from lvsd.ipvs.netlink import NetlinkIPVS
from lvsd.ipvs.sync import SyncDaemon, SyncStep
from tests.support.kernel import run
from tests.support.skipping import in_lab, not_in_lab

pytestmark = pytest.mark.lab

IF_A, IF_B = "labsync0", "labsync1"


@pytest.fixture(scope="module")
def link() -> Iterator[str]:
    if not in_lab():
        not_in_lab()
    run("ip", "link", "add", IF_A, "type", "veth", "peer", "name", IF_B)
    try:
        for dev in (IF_A, IF_B):
            run("ip", "link", "set", dev, "up")
        yield IF_A
    finally:
        _stop_all()
        run("ip", "link", "del", IF_A)


@pytest.fixture(autouse=True)
def clean(link: str) -> Iterator[None]:
    _stop_all()
    yield
    _stop_all()


def _stop_all() -> None:
    for state in sync.STATES:
        try:
            run("ipvsadm", "--stop-daemon", state)
        except subprocess.CalledProcessError:  # none was running
            pass


def ipvsadm_daemons() -> dict[str, str]:
    """``ipvsadm -L --daemon``: {"master": "mcast=labsync0, syncid=5, maxlen=1400, group=..., port=..., ttl=..."}."""
    out: dict[str, str] = {}
    for line in run("ipvsadm", "-L", "--daemon").splitlines():
        m = re.match(r"^(master|backup) sync daemon \((.*)\)\s*$", line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


async def netlink_daemons() -> list[SyncDaemon]:
    async with NetlinkIPVS() as ipvs:
        return await ipvs.daemons()


async def step(*steps: SyncStep) -> None:
    async with NetlinkIPVS() as ipvs:
        for s in steps:
            await ipvs.sync_step(s)


async def test_what_lvsd_starts_ipvsadm_reads_back_with_every_setting(link: str) -> None:
    master = SyncDaemon("master", link, syncid=7, maxlen=1200, group="239.1.2.3", port=8900, ttl=3)
    backup = SyncDaemon("backup", link, syncid=7)
    await step(SyncStep("start", master), SyncStep("start", backup))
    seen = ipvsadm_daemons()
    assert set(seen) == {"master", "backup"}, seen
    fields = dict(kv.split("=", 1) for kv in seen["master"].replace(" ", "").split(","))
    assert fields == {"mcast": link, "syncid": "7", "maxlen": "1200", "group": "239.1.2.3", "port": "8900",
                      "ttl": "3"}, seen["master"]
    back = {d.state: d for d in await netlink_daemons()}
    assert back["master"] == master
    assert back["backup"].satisfies(backup) and back["backup"].interface == link and back["backup"].syncid == 7
    assert back["backup"].maxlen > 0  # the kernel sized it from the MTU and says so


async def test_what_ipvsadm_starts_lvsd_reads_back(link: str) -> None:
    run("ipvsadm", "--start-daemon", "backup", "--mcast-interface", link, "--syncid", "9", "--mcast-group",
        "239.9.9.9", "--mcast-port", "9000", "--mcast-ttl", "2", "--sync-maxlen", "1000")
    (got,) = await netlink_daemons()
    assert got == SyncDaemon("backup", link, syncid=9, maxlen=1024, group="239.9.9.9", port=9000, ttl=2)
    # the kernel keeps a backup's maxlen at 1,024 at least: what was asked is still what runs, not a restart
    assert got.satisfies(SyncDaemon("backup", link, syncid=9, maxlen=1000, group="239.9.9.9", port=9000, ttl=2))


async def test_a_daemon_running_as_wanted_is_adopted_and_a_changed_one_restarted(link: str) -> None:
    run("ipvsadm", "--start-daemon", "master", "--mcast-interface", link, "--syncid", "4")
    wanted = [SyncDaemon("master", link, syncid=4)]
    running = await netlink_daemons()
    assert sync.plan(running, wanted) == []  # the defaults the kernel filled in match "not given"
    changed = [SyncDaemon("master", link, syncid=5), SyncDaemon("backup", link, syncid=5)]
    steps = sync.plan(running, changed)
    assert [(s.kind, s.daemon.state) for s in steps] == [("stop", "master"), ("start", "master"), ("start", "backup")]
    await step(*steps)
    after = await netlink_daemons()
    assert sync.plan(after, changed) == []
    assert {d.state: d.syncid for d in after} == {"master": 5, "backup": 5}
    await step(*sync.plan(after, []))
    assert await netlink_daemons() == [] and ipvsadm_daemons() == {}


async def test_the_kernels_refusals_say_what_they_mean(link: str) -> None:
    with pytest.raises(IPVSError) as missing:
        await step(SyncStep("start", SyncDaemon("master", "labnosuch0")))
    assert missing.value.errno == errno.ENODEV and "no interface 'labnosuch0'" in str(missing.value)
    await step(SyncStep("start", SyncDaemon("master", link)))
    with pytest.raises(IPVSError) as twice:
        await step(SyncStep("start", SyncDaemon("master", link, syncid=3)))
    assert twice.value.errno == errno.EEXIST and "already runs" in str(twice.value)
    with pytest.raises(IPVSError) as unicast:
        await step(SyncStep("start", SyncDaemon("backup", link, group="192.0.2.9")))
    assert unicast.value.errno == errno.EINVAL and "not multicast" in str(unicast.value)
    with pytest.raises(IPVSError) as absent:
        await step(SyncStep("stop", SyncDaemon("backup", link)))
    assert absent.value.errno == errno.ESRCH and "no backup sync daemon runs" in str(absent.value)
    assert [d.state for d in await netlink_daemons()] == ["master"]  # nothing refused touched what runs


async def test_a_stop_right_after_a_start_is_done_though_the_kernel_never_answers_it(link: str) -> None:
    """A backup stopped before its thread first ran: the kernel stops it, says EINTR, and netlink drops the answer."""
    for _ in range(5):
        async with NetlinkIPVS(deadline=0.5) as ipvs:
            for state in sync.STATES:
                await ipvs.sync_step(SyncStep("start", SyncDaemon(state, link, syncid=5)))
            for state in ("backup", "master"):
                await ipvs.sync_step(SyncStep("stop", SyncDaemon(state, link)))
            assert await ipvs.daemons() == []
    await asyncio.sleep(0)
