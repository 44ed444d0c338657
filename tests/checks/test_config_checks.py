"""From config to checks: the lvsd directives, refusals at load time, probe sharing, monitorfile, `lvsd probe`."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path

import pytest
from aiohttp import web

from lvsd import loaded, monitorfile
from lvsd.checks import run as runmod
from lvsd.checks.base import spec_for
from lvsd.config.errors import ConfigError
from lvsd.config.loader import load
from lvsd.config.model import RealServer, VirtualService
from tests.support.ports import free_port


def write(tmp_path: Path, text: str, name: str = "lvsd.cf") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return str(path)


def test_lvsd_check_directives(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, """
        risecount=2
        tlsverify=yes
        tlscafile=/etc/ssl/certs/ca-certificates.crt
        virtual=198.51.100.1:443
        \treal=203.0.113.11:443 masq
        \tservice=https
        \ttlsservername=www.example.com
        \trisecount=3
        virtual=198.51.100.1:80
        \treal=203.0.113.11:80 masq
        \ttlsverify=no
        """))
    v443, v80 = cfg.virtuals
    assert (v443.risecount, v443.tlsverify, v443.tlsservername, v443.tlscafile) == (
        3, True, "www.example.com", "/etc/ssl/certs/ca-certificates.crt")
    assert (v80.risecount, v80.tlsverify, v80.tlsservername) == (2, False, None)
    s = spec_for(v443, v443.reals[0])
    assert (s.tls_verify, s.tls_servername, s.service) == (True, "www.example.com", "https")


def refused(tmp_path: Path, body: str) -> str:
    path = str(tmp_path / "lvsd.cf")
    Path(path).write_text("virtual=198.51.100.1:3306\n" + body)
    with pytest.raises(ConfigError) as exc:
        loaded.load(path)
    d = exc.value.diagnostics[0]
    assert (d.file, d.line) == (path, 1)
    return d.message


def test_sql_without_login_or_query_is_refused(tmp_path: Path) -> None:
    msg = refused(tmp_path, '\treal=203.0.113.11:3306 masq\n\tservice=mysql\n\trequest="SELECT 1"\n')
    assert msg.startswith("service=mysql needs login= and request=")
    msg = refused(tmp_path, '\treal=203.0.113.11:3306 masq\n\tservice=pgsql\n\tlogin="lvsd"\n')
    assert msg.startswith("service=pgsql needs login= and request=")


def test_dns_without_receive_http_proxy_without_url_and_bad_regex_are_refused(tmp_path: Path) -> None:
    assert refused(tmp_path, '\treal=203.0.113.11 masq\n\tservice=dns\n\trequest="www.example.com"\n'
                   ).startswith("service=dns needs receive=")
    assert refused(tmp_path, "\treal=203.0.113.11 masq\n\tservice=http_proxy\n").startswith(
        "service=http_proxy needs request= to be the absolute URL")
    assert refused(tmp_path, '\treal=203.0.113.11 masq\n\tservice=http\n\treceive="OK("\n').startswith(
        "receive 'OK(' is not a regular expression lvsd can use")


def test_a_missing_driver_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_find = runmod.importlib.util.find_spec
    monkeypatch.setattr(runmod.importlib.util, "find_spec",
                        lambda name: None if name == "asyncpg" else real_find(name))
    msg = refused(tmp_path, '\treal=203.0.113.11 masq\n\tservice=pgsql\n\tlogin="l"\n\trequest="SELECT 1"\n')
    assert msg == "service=pgsql needs the optional driver 'asyncpg': pip install 'lvsd[pgsql]'"


def test_loading_a_config_imports_its_check_drivers_so_no_first_check_stalls_the_loop(tmp_path: Path) -> None:
    """A driver's import blocks the event loop (oracledb: 2.2 s in the lab's UML): it happens at load."""
    cfg = write(tmp_path, """
        virtual=198.51.100.1:1521
        \treal=203.0.113.11 masq
        \tservice=oracle
        \tlogin="l"
        \trequest="SELECT 1 FROM dual"
        virtual=198.51.100.1:53
        \treal=203.0.113.11 masq
        \tprotocol=udp
        \tservice=dns
        \trequest="www.example.com"
        \treceive="."
        """)
    code = ("import sys; from lvsd import loaded; "
            "before = {m for m in ('oracledb', 'dns.asyncquery') if m in sys.modules}; "
            f"loaded.load({cfg!r}); "
            "print(sorted(before), sorted(m for m in ('oracledb', 'dns.asyncquery') if m in sys.modules))")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[] ['dns.asyncquery', 'oracledb']", out.stdout + out.stderr


def test_identical_checks_of_one_real_in_two_virtuals_are_one_probe(tmp_path: Path) -> None:
    d = loaded.load(write(tmp_path, """
        virtual=198.51.100.1:80
        \treal=203.0.113.11:80 masq
        \treal=203.0.113.12:80 masq
        \tservice=http
        \trequest="/health"
        \treceive="OK"
        virtual=198.51.100.2:80
        \treal=203.0.113.11:80 gate 5
        \tservice=http
        \trequest="/health"
        \treceive="OK"
        \tfailurecount=3
        """))
    jobs = list(d.jobs.values())
    assert len(jobs) == 3 and len(set(jobs)) == 2


def test_monitorfile_line_is_ldirectords() -> None:
    v = VirtualService(protocol="tcp", ip="198.51.100.1", port=80, checktype="negotiate", connects_per_negotiate=0,
                       service="http", request="/health", receive="OK")
    r = RealServer(ip="203.0.113.11", port=80, forward="gate", weight=2)
    line = monitorfile.line(v, r, False, "GET /health: status 503|x\n", now=0.0)
    expected = "] combined http tcp 203.0.113.11 80 2 gate /health OK [down] GET /health: status 503%7cx%0a\n"
    assert line.endswith(expected)
    ext = VirtualService(protocol="tcp", ip="198.51.100.1", port=80, checktype="external", checkcommand="/bin/chk")
    assert " external /bin/chk tcp 203.0.113.11 80 2 gate /  [up] -\n" in monitorfile.line(ext, r, True, "")


async def test_lvsd_probe_cli(tmp_path: Path) -> None:
    hits: list[str] = []

    async def health(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="OK\n")

    app = web.Application()
    app.router.add_get("/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    dead = free_port()
    path = write(tmp_path, f"""
        checktimeout=1
        negotiatetimeout=1
        virtual=198.51.100.1:80
        \treal=127.0.0.1:{port} masq
        \treal=127.0.0.1:{dead} masq
        \tservice=http
        \trequest="/health"
        \treceive="OK"
        virtual=198.51.100.2:80
        \treal=127.0.0.1:{port} masq
        \tservice=http
        \trequest="/health"
        \treceive="OK"
        virtual=198.51.100.3:80
        \treal=127.0.0.1:{port} masq
        \tchecktype=off
        """)
    try:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "lvsd", "probe", path, "--json",
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err
        rows = json.loads(out)
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "lvsd", "probe", path,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        text, _ = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        await runner.cleanup()
    assert [(r["real"], r["state"]) for r in rows] == [
        (f"127.0.0.1:{port}", "up"), (f"127.0.0.1:{dead}", "down"), (f"127.0.0.1:{port}", "up"),
        (f"127.0.0.1:{port}", "off")]
    assert rows[0]["reason"] == "GET /health: status 200, receive matched"
    assert rows[0]["check"] == f"http GET /health 127.0.0.1:{port}"
    assert rows[1]["reason"] == "GET /health: connection refused"
    assert isinstance(rows[0]["latency_ms"], float)
    assert len(hits) == 2  # the shared probe ran once per `lvsd probe`
    assert f"127.0.0.1:{dead}" in text.decode() and "connection refused" in text.decode()


def test_lvsd_probe_config_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lvsd.cli import main

    path = write(tmp_path, "virtual=198.51.100.1:80\n\treal=203.0.113.11 masq\n\tservice=pgsql\n")
    assert main(["probe", path]) == 2
    assert f"{path}:1:9: error: service=pgsql needs login=" in capsys.readouterr().err
