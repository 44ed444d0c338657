"""The status snapshot: sent as JSON over the control socket, read back by ``lvsd status`` and ``plan --diff``."""

from __future__ import annotations

import json

from lvsd.daemon.status import Snapshot
from lvsd.health import State
from tests.support.daemon import daemon_config, http_virtual, start_daemon, stop_daemon


async def test_the_snapshot_reads_back_from_its_json_as_the_same_value(tmp_path, servers):
    await servers[1].set_mode("error500")
    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(daemon_config(tmp_path, http_virtual([s.port for s in servers], fallback="127.0.0.1:9")))
    d, task = await start_daemon(cfg)
    try:
        snap = d.snapshot()
    finally:
        await stop_daemon(d, task)
    wire = json.loads(json.dumps(snap.as_json()))  # what the control socket carries
    back = Snapshot.from_json(wire)
    assert back == snap
    states = {r.real: r.state for r in back.virtuals[0].reals}
    assert states == {f"127.0.0.1:{servers[0].port}": State.UP, f"127.0.0.1:{servers[1].port}": State.DOWN}
    assert back.virtuals[0].reals[1].last_check is not None and "500" in back.virtuals[0].reals[1].last_check.reason


def test_a_snapshot_from_another_version_missing_keys_still_reads() -> None:
    back = Snapshot.from_json({"pid": 7, "virtuals": [{"label": "198.51.100.1:80", "reals": [{"real": "x:1"}]}]})
    assert back.pid == 7 and back.virtuals[0].reals[0].state is State.UNKNOWN
    assert back.virtuals[0].reals[0].last_check is None
