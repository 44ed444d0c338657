"""Issue 6's acceptance in the lab: the real lvsd process driven by its CLI and real
signals — every command and exit code in every state, reload, autoreload, log
rotation under traffic with nothing lost, status and metrics after known events."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
from lab.lab import Lab

from tests.support.director import DOWN_BOUND, LVSD, REALS, Director, config, start
from tests.support.ports import free_port

pytestmark = pytest.mark.lab


def test_every_command_and_exit_code_in_every_state(lab4: Lab, director: Director) -> None:
    d = director
    # no config file at all
    assert d.cli("start").returncode == 1
    # stopped
    d.write(config())
    assert d.cli("status").returncode == 3
    assert d.cli("stop").returncode == 0
    assert d.cli("reload").returncode == 1
    assert d.cli("force-reload").returncode == 1
    assert d.cli("try-restart").returncode == 0 and d.pid is None
    # broken config, stopped: start refuses with every error, exit 2; nothing is started
    d.config.write_text("checkinterval=0\nvirtual=198.51.100.1:80\n\treal=203.0.113.11:80 masqx\n")
    res = d.cli("start")
    assert res.returncode == 2 and d.pid is None
    assert f"{d.config}:1:" in res.stderr and f"{d.config}:3:" in res.stderr
    # running
    start(d, config())
    pid = d.pid
    assert d.cli("start").returncode == 0 and d.pid == pid  # already running: nothing happens
    assert d.cli("status").returncode == 0
    assert d.cli("reload").returncode == 0
    # running with a broken config: status and stop still work; the PID file stays
    d.config.write_text("garbage\n")
    assert d.cli("status").returncode == 0 and d.pid == pid
    res = d.cli("reload")
    assert res.returncode == 2 and "garbage" in res.stderr and d.pid == pid
    res = d.cli("restart")  # a restart with a broken config keeps the running daemon
    assert res.returncode == 2 and "garbage" in res.stderr and d.pid == pid and d.cli("status").returncode == 0
    # stale PID file: the process is gone
    d.write(config())
    os.kill(d.pid or 0, signal.SIGKILL)
    time.sleep(0.3)
    res = d.cli("status")
    assert res.returncode == 1 and "stale pid file" in res.stderr
    assert d.cli("reload").returncode == 1
    assert d.cli("start").returncode == 0 and d.pid not in (None, pid)
    # usage errors
    assert subprocess.run([*LVSD], capture_output=True, env=d.env).returncode == 255
    assert d.cli("bogus").returncode == 255
    assert d.cli("stop").returncode == 0 and d.cli("status").returncode == 3


def test_status_json_after_known_events(lab4: Lab, director: Director) -> None:
    start(director, config())
    lab4.backend("rs2").set_mode("error500")
    director.wait(lambda t: "203.0.113.12:80" not in t, DOWN_BOUND + 2)
    res = director.cli("status", "--json")
    assert res.returncode == 0
    state = json.loads(res.stdout)
    assert state["running"] and state["pid"] == director.pid and state["degraded"] is False
    (v,) = state["virtuals"]
    reals = {r["real"]: r for r in v["reals"]}
    assert reals["203.0.113.12:80"]["state"] == "down"
    assert reals["203.0.113.12:80"]["kernel_weight"] is None
    assert reals["203.0.113.12:80"]["last_check"]["reason"] == "GET /: status 500, expected 2xx"
    assert reals["203.0.113.11:80"]["kernel_weight"] == 1
    assert v["fallback"] == {"server": "203.0.113.14:80", "active": False}
    text = director.cli("status").stdout
    assert re.search(r"-> 203\.0\.113\.12:80\s+down\s+weight -", text)
    assert "GET /: status 500, expected 2xx" in text


def test_metrics_from_the_real_daemon(lab4: Lab, director: Director) -> None:
    port = free_port()
    director.write(config())
    res = director.cli("--metrics", f"127.0.0.1:{port}", "start")
    assert res.returncode == 0, res.stderr
    director.wait(lambda t: len(t) == 3, 10)
    lab4.backend("rs3").set_mode("refuse")
    director.wait(lambda t: "203.0.113.13:80" not in t, DOWN_BOUND + 2)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'lvsd_real_up{virtual="tcp:198.51.100.1:80",real="203.0.113.13:80"} 0' in text
    assert 'lvsd_real_transitions_total{virtual="tcp:198.51.100.1:80",real="203.0.113.13:80",to="down"} 1' in text
    assert 'lvsd_ipvs_operations_total{op="-d"} 1' in text
    assert re.search(r'lvsd_check_latency_seconds_bucket\{virtual="tcp:198.51.100.1:80",'
                     r'real="203.0.113.11:80",le="0.1"\} [1-9]', text)


def test_autoreload_in_the_real_daemon(lab4: Lab, director: Director) -> None:
    start(director, config().replace("quiescent=no", "quiescent=no\nautoreload=yes"))
    director.write(config(w=4).replace("quiescent=no", "quiescent=no\nautoreload=yes"))
    director.wait(lambda t: all(t.get(r, ("", 0))[1] == 4 for r in REALS), 5)
    assert " - reread new configuration" in director.log()


def test_log_rotation_under_traffic_loses_nothing(lab4: Lab, director: Director) -> None:
    port = free_port()
    director.write(config())
    assert director.cli("--metrics", f"127.0.0.1:{port}", "start").returncode == 0
    director.wait(lambda t: len(t) == 3, 10)
    rotated = []
    deadline = time.monotonic() + 15
    flips = 0
    while time.monotonic() < deadline and flips < 10:  # bounded: 10 flips, 15 s
        lab4.backend("rs1").set_mode("refuse" if flips % 2 == 0 else "up")
        flips += 1
        time.sleep(1.3)  # one check interval and then some: each flip is seen and logged
        target = director.dir / f"lvsd.log.{len(rotated)}"
        if director.logfile.exists():
            os.rename(director.logfile, target)  # what logrotate does (no signal, no copytruncate)
            rotated.append(target)
    lab4.backend("rs1").set_mode("up")
    director.wait(lambda t: "203.0.113.11:80" in t, 3)
    time.sleep(0.3)
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    director.cli("stop")
    text = "".join(p.read_text() for p in [*rotated, director.logfile] if p.exists())
    downs = int(re.search(r'lvsd_real_transitions_total\{virtual="tcp:198.51.100.1:80",'
                          r'real="203.0.113.11:80",to="down"\} (\d+)', metrics).group(1))
    ups = int(re.search(r'lvsd_real_transitions_total\{virtual="tcp:198.51.100.1:80",'
                        r'real="203.0.113.11:80",to="up"\} (\d+)', metrics).group(1))
    assert len(rotated) >= 8 and downs >= 4
    assert text.count("Deleted real server: 203.0.113.11:80 (198.51.100.1:80)") == downs
    assert text.count("Added real server: 203.0.113.11:80 (198.51.100.1:80)") == ups  # the start is an up too
    assert text.count("real.down ") == downs
    # every line is whole and carries ldirectord's prefix
    for line in text.splitlines():
        assert re.match(r"^\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\|lvsd\.cf\|\d+\] ", line), line


def test_foreground_under_a_notify_socket_as_systemd_runs_it(lab4: Lab, director: Director, tmp_path) -> None:
    sock_path = str(tmp_path / "notify")
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(sock_path)
    sink.settimeout(30)
    director.write(config())
    env = dict(director.env, NOTIFY_SOCKET=sock_path)
    proc = subprocess.Popen([*LVSD, "--foreground", str(director.config), "start"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        first = ""
        for _ in range(10):  # bounded: STATUS lines may come before READY
            first = sink.recv(4096).decode()
            if "READY=1" in first:
                break
        assert "READY=1" in first and f"MAINPID={proc.pid}" in first and "STATUS=3/3 real servers up" in first
        assert director.pid == proc.pid  # the PID file names the foreground process
        assert director.cli("reload").returncode == 0
        got = ""
        for _ in range(10):  # bounded: RELOADING, then READY again
            got += sink.recv(4096).decode() + "\n"
            if "RELOADING=1" in got and got.count("READY=1") >= 1:
                break
        assert "RELOADING=1" in got and "READY=1" in got
        proc.send_signal(signal.SIGTERM)
        got = ""
        for _ in range(10):
            got += sink.recv(4096).decode() + "\n"
            if "STOPPING=1" in got:
                break
        assert "STOPPING=1" in got
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        sink.close()


SYSLOG_SCRIPT = r"""
set -e
mount -t tmpfs -o size=1m lvsd-test-dev /dev
mknod -m 666 /dev/null c 1 3
{python} - <<'PY' &
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
s.settimeout(30)
with open("{out}", "ab") as out:
    for _ in range(200):  # bounded
        data = s.recv(65536)
        out.write(data + b"\n")
        out.flush()
        if b"terminated on signal" in data:
            break
PY
listener=$!
sleep 1
{python} -m lvsd --foreground {config} start &
lvsd=$!
for i in $(seq 1 100); do ipvsadm -Ln | grep -q 203.0.113.13 && break; sleep 0.1; done
kill -TERM $lvsd
wait $lvsd
wait $listener
"""


def test_logfile_as_a_syslog_facility(lab4: Lab, director: Director, tmp_path) -> None:
    import sys

    out = tmp_path / "syslog.txt"
    director.write(config().replace('logfile="@LOG@"', 'logfile="local0"'))
    script = SYSLOG_SCRIPT.format(python=sys.executable, out=out, config=director.config)
    # a private mount namespace: its own /dev/log, the host's /dev untouched
    res = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                         env=director.env, capture_output=True, text=True, timeout=90)
    assert res.returncode == 0, res.stderr
    text = out.read_bytes().decode(errors="replace")
    # facility local0 (16) * 8 + info (6) = <134>, ident lvsd with the pid
    assert re.search(r"<134>.*lvsd\[\d+\]: Added real server: 203\.0\.113\.11:80 \(198\.51\.100\.1:80\) "
                     r"\(Weight set to 1\)", text), text
    assert "Linux Director Daemon terminated on signal: TERM" in text


def test_relative_config_path_reloads_after_daemonising(lab4: Lab, director: Director) -> None:
    """ldirectord chdirs to / and then cannot re-read a relative path (its bug 2); lvsd made it absolute."""
    director.write(config())
    res = subprocess.run([*LVSD, director.config.name, "start"], cwd=director.dir, env=director.env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    director.wait(lambda t: len(t) == 3, 10)
    director.write(config(w=2))
    res = subprocess.run([*LVSD, director.config.name, "reload"], cwd=director.dir, env=director.env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    director.wait(lambda t: all(t.get(r, ("", 0))[1] == 2 for r in REALS), 5)
