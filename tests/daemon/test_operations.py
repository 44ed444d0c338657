"""Operations in process, against real sockets: systemd notify, the control socket,
metrics, fallbackcommand, email alerts, monitorfile, autoreload and callback.

The daemon runs with the in-memory table (the kernel side is proven in the lab);
everything else here is real: HTTP backends, unix sockets, an SMTP listener, an
HTTP scrape of /metrics, shell commands.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import stat

import aiohttp
import pytest

from lvsd import control
from tests.support.daemon import daemon_config, http_virtual, start_daemon, stop_daemon
from tests.support.ports import free_port
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import until


def config_text(tmp_path, servers, extra_global="", extra_virtual="") -> str:
    virtual = http_virtual([s.port for s in servers], fallback="127.0.0.9:80", lines=extra_virtual)
    return daemon_config(tmp_path, virtual, globals_=extra_global)


async def stop(d, task, clean=True):
    return await stop_daemon(d, task, clean=clean, limit=15)


async def test_systemd_notify_ready_reloading_stopping_status_and_watchdog(tmp_path, servers, monkeypatch):
    path = str(tmp_path / "notify.sock")
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(path)
    sink.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(config_text(tmp_path, servers))
    got: list[str] = []
    # read as systemd does, while the daemon runs: the socket queues only ten datagrams (net.unix.max_dgram_qlen)
    asyncio.get_running_loop().add_reader(sink, lambda: got.append(sink.recv(4096).decode()))
    d, task = await start_daemon(cfg)
    await d.reload()
    await asyncio.sleep(0.35)
    await stop(d, task)
    await asyncio.sleep(0.05)
    asyncio.get_running_loop().remove_reader(sink)
    text = "\n".join(got)
    assert "READY=1" in text and f"MAINPID={os.getpid()}" in text
    assert "STATUS=2/2 real servers up" in text
    assert "RELOADING=1" in text and "MONOTONIC_USEC=" in text
    assert text.count("WATCHDOG=1") >= 2
    assert got[-1] == "STOPPING=1" or "STOPPING=1" in text
    sink.close()


async def test_control_socket_status_and_reload_answers(tmp_path, servers):
    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(config_text(tmp_path, servers))
    sock = str(tmp_path / "lvsd.sock")
    d, task = await start_daemon(cfg, control_path=sock)
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    await servers[1].set_mode("error500")
    vkey = d.loaded.config.virtuals[0].key
    await until(lambda: d.health[(vkey, ("127.0.0.1", servers[1].port))].state.value == "down", 3)
    state = await asyncio.to_thread(control.ask, sock, "status")
    v = state["virtuals"][0]
    assert v["service"] == "TCP 198.51.100.1:80 wrr" and v["in_kernel"]
    rs = {r["real"]: r for r in v["reals"]}
    down = rs[f"127.0.0.1:{servers[1].port}"]
    assert down["state"] == "down" and down["kernel_weight"] is None
    assert down["last_check"]["reason"] == "GET /: status 500, expected 2xx"
    assert rs[f"127.0.0.1:{servers[0].port}"]["kernel_weight"] == 1
    assert rs[f"127.0.0.1:{servers[0].port}"]["last_check"]["latency_ms"] >= 0
    # reload through the socket: a broken file is refused with file:line:col, then a good one is taken
    cfg.write_text(cfg.read_text() + "\tscheduler=nosuch\n")
    answer = await asyncio.to_thread(control.ask, sock, "reload")
    assert answer["ok"] is False and re.search(r"lvsd.cf:\d+:\d+: error: .*scheduler", answer["errors"][0])
    cfg.write_text(config_text(tmp_path, servers))
    assert (await asyncio.to_thread(control.ask, sock, "reload"))["ok"] is True
    assert (await asyncio.to_thread(control.ask, sock, "nonsense"))["ok"] is False
    await stop(d, task)
    assert not os.path.exists(sock)


async def test_metrics_endpoint_after_known_events(tmp_path, servers):
    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(config_text(tmp_path, servers))
    port = free_port()
    d, task = await start_daemon(cfg, metrics_address=("127.0.0.1", port))
    await servers[0].set_mode("refuse")
    await until(lambda: sum(h.up for h in d.health.values()) == 1, 3)
    cfg.write_text(cfg.read_text() + "\tscheduler=nosuch\n")
    await d.reload()
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    await stop(d, task)
    r0, r1 = f"127.0.0.1:{servers[0].port}", f"127.0.0.1:{servers[1].port}"
    assert f'lvsd_real_up{{virtual="tcp:198.51.100.1:80",real="{r0}"}} 0' in text
    assert f'lvsd_real_up{{virtual="tcp:198.51.100.1:80",real="{r1}"}} 1' in text
    assert re.search(rf'lvsd_checks_total{{virtual="tcp:198.51.100.1:80",real="{r0}",result="down"}} [1-9]', text)
    assert f'lvsd_real_transitions_total{{virtual="tcp:198.51.100.1:80",real="{r0}",to="down"}} 1' in text
    assert re.search(rf'lvsd_check_latency_seconds_count{{virtual="tcp:198.51.100.1:80",real="{r1}"}} [1-9]', text)
    assert 'lvsd_ipvs_operations_total{op="-a"} 2' in text  # the two reals added at start
    assert 'lvsd_ipvs_operations_total{op="-d"} 1' in text  # rs1 deleted
    assert 'lvsd_config_reloads_total{result="error"} 1' in text
    assert "lvsd_degraded 0" in text


def recording_script(folder, name):  # type: ignore[no-untyped-def]
    """A shell script that appends its arguments, one call a line, to FOLDER/NAME.out; and that file."""
    out = folder / f"{name}.out"
    script = folder / f"{name}.sh"
    script.write_text(f'#!/bin/sh\necho "$@" >> {out}\n')
    script.chmod(0o755)
    return script, out


async def test_fallbackcommand_start_and_stop_once_per_change(tmp_path, servers):
    script, out = recording_script(tmp_path, "fb")
    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(config_text(tmp_path, servers, extra_virtual=f"\tfallbackcommand={script}\n"))
    d, task = await start_daemon(cfg, fallbackcommand_at_stop=True)
    for s in servers:
        await s.set_mode("error500")
    await until(lambda: out.exists() and "start" in out.read_text(), 3)
    await servers[0].set_mode("up")
    await until(lambda: "stop" in out.read_text(), 3)
    for s in servers:
        await s.set_mode("error500")
    await until(lambda: out.read_text().count("start") == 2, 3)
    await stop(d, task)  # --fallbackcommand-at-stop: the active fallback is withdrawn
    assert out.read_text().splitlines() == [
        "start 198.51.100.1:80 tcp", "stop 198.51.100.1:80 tcp",
        "start 198.51.100.1:80 tcp", "stop 198.51.100.1:80 tcp",
    ]


async def test_email_alerts_and_resend(tmp_path, servers):
    sink = SmtpSink()
    try:
        await sink.start("127.0.0.2", 25)
    except OSError as exc:  # needs root for port 25; the suite runs as root in CI and in the lab
        pytest.fail(f"cannot listen on 127.0.0.2:25 for the SMTP sink: {exc}")
    try:
        cfg = tmp_path / "lvsd.cf"
        cfg.write_text(config_text(
            tmp_path, servers,
            extra_global='emailalert="ops@example.com"\nemailalertfreq=1\nsmtp=127.0.0.2\n',
            extra_virtual="\tservicename=web\n",
        ))
        d, task = await start_daemon(cfg)
        await servers[0].set_mode("error500")
        await until(lambda: any("Inaccessible" in (m["Subject"] or "") for m in sink.messages), 5)
        await stop(d, task, clean=False)
    finally:
        await sink.close()
    subjects = [m["Subject"] for m in sink.messages]
    r0 = f"127.0.0.1:{servers[0].port}"
    assert "[web] Added real server: " + r0 + " (198.51.100.1:80) (Weight set to 1)" in subjects
    assert f"[web] Deleted real server: {r0} (198.51.100.1:80)" in subjects
    assert f"[web] Inaccessible real server: {r0} (198.51.100.1:80)" in subjects
    deleted = next(m for m in sink.messages if m["Subject"].startswith("[web] Deleted"))
    body = deleted.get_content()
    assert "Log-Message: Deleted real server" in body and "Daemon-Status: running" in body
    assert "Service name: web" in body and deleted["To"] == "ops@example.com"
    assert "emailalert: [web] Deleted real server" in (tmp_path / "lvsd.log").read_text()


async def test_monitorfile_gets_a_line_per_check(tmp_path, servers):
    mon = tmp_path / "monitor.log"
    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(config_text(tmp_path, servers, extra_virtual=f"\tmonitorfile={mon}\n"))
    d, task = await start_daemon(cfg)
    await servers[0].set_mode("error500")
    await until(lambda: "[down]" in mon.read_text(), 3)
    await stop(d, task)
    lines = mon.read_text().splitlines()
    assert len(lines) >= 3
    pat = (rf"^\[\w{{3}} \w{{3}} [ \d]\d \d\d:\d\d:\d\d \d{{4}}\] \[{os.getpid()}\] negotiate http tcp 127\.0\.0\.1 "
           rf"{servers[0].port} 1 masq / OK \[down\] GET / status 500, expected 2xx$")
    assert any(re.match(pat.replace("GET / status", "GET /: status"), ln) for ln in lines), lines


async def test_autoreload_and_callback(tmp_path, servers):
    cb, called = recording_script(tmp_path, "cb")
    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(config_text(tmp_path, servers, extra_global=f'autoreload=yes\ncallback="{cb}"\n'))
    d, task = await start_daemon(cfg)
    os.utime(cfg)  # a touch is not a change
    await asyncio.sleep(1.3)
    assert d.reloads == 0
    cfg.write_text(cfg.read_text().replace("\tfallback=127.0.0.9:80 masq\n", "\tfallback=127.0.0.8:80 masq\n"))
    await until(lambda: d.reloads == 1, 3)
    await until(lambda: called.exists(), 3)
    await stop(d, task)
    log = (tmp_path / "lvsd.log").read_text()
    assert f"Configuration file '{cfg}' has changed on disk" in log
    assert " - reread new configuration" in log
    assert called.read_text().strip() == str(cfg)
    assert d.loaded.config.virtuals[0].fallback.ip == "127.0.0.8"


async def test_json_log_lines_carry_the_same_events(tmp_path, servers):
    from lvsd import log

    cfg = tmp_path / "lvsd.cf"
    cfg.write_text(config_text(tmp_path, servers))
    d, task = await start_daemon(cfg, sink_factory=lambda f, n: log.Sink(f, n, as_json=True))
    await stop(d, task)
    events = [json.loads(line) for line in (tmp_path / "lvsd.log").read_text().splitlines()]
    added = [e for e in events if e.get("event") == "ipvs.edit" and e["msg"].startswith("Added real server")]
    assert len(added) == 2 and all(e["op"].startswith("ipvsadm -a") and e["config"] == "lvsd.cf" for e in added)


async def test_emailalertstatus_filters_by_daemon_state(tmp_path, servers):
    sink = SmtpSink()
    try:
        await sink.start("127.0.0.2", 25)
    except OSError as exc:
        pytest.fail(f"cannot listen on 127.0.0.2:25 for the SMTP sink: {exc}")
    try:
        cfg = tmp_path / "lvsd.cf"
        cfg.write_text(config_text(
            tmp_path, servers,
            extra_global='emailalert="ops@example.com"\nemailalertstatus=starting\nsmtp=127.0.0.2\n',
        ))
        d, task = await start_daemon(cfg)
        await until(lambda: len(sink.messages) == 2, 5)  # the two reals added while starting
        await servers[0].set_mode("error500")
        await until(lambda: sum(h.up for h in d.health.values()) == 1, 3)
        await asyncio.sleep(0.5)
        await stop(d, task, clean=False)
    finally:
        await sink.close()
    subjects = [m["Subject"] for m in sink.messages]
    assert len(subjects) == 2 and all(s.startswith("Added real server") for s in subjects), subjects
    assert all("Daemon-Status: starting" in m.get_content() for m in sink.messages)
    assert "Deleted real server" in (tmp_path / "lvsd.log").read_text()  # logged, not mailed


def test_a_notify_socket_nobody_reads_never_blocks_the_daemon(tmp_path, monkeypatch):
    """systemd hung or gone: its socket fills after ten datagrams; notify drops the rest instead of blocking."""
    from lvsd.daemon import systemd

    path = str(tmp_path / "full.sock")
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    sent = [systemd.status(f"{i}/10 real servers up") for i in range(50)]  # blocked for ever before
    assert sent[0] is True and sent[-1] is False
    sink.close()


def test_a_reload_drops_every_series_of_the_reals_it_removed_and_keeps_the_others():
    from lvsd import metrics

    reg = metrics.new_registry()
    gone, kept = (("virtual", "tcp:198.51.100.1:80"), ("real", "203.0.113.1:80")), \
        (("virtual", "tcp:198.51.100.1:80"), ("real", "203.0.113.2:80"))
    for pair in (gone, kept):
        reg.gauge("lvsd_real_up", 1.0, pair)
        reg.inc("lvsd_checks_total", (*pair, ("result", "up")))
        reg.observe("lvsd_check_latency_seconds", 0.001, pair)
    reg.inc("lvsd_ipvs_operations_total", (("op", "-a"),))
    reg.forget({gone})
    text = reg.render()
    assert "203.0.113.1:80" not in text
    assert text.count("203.0.113.2:80") >= 3 and 'lvsd_ipvs_operations_total{op="-a"} 1' in text
