"""connect, smtp, nntp, sip, simpletcp, ping, external, external-perl, send_program, on/off/none.

Simple protocols are spoken by Python servers on 127.0.0.1; ping runs in a
private network namespace (``unshare -n``) where echo replies can be turned
off without touching the host; external checks run real scripts.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lvsd.checks.base import spec_for
from lvsd.checks.run import run_check
from lvsd.config.model import RealServer, VirtualService
from tests.support.ports import free_port
from tests.support.servers import (
    LineServer,
    UDPServer,
    nntp_talk,
    simpletcp_talk,
    sip_answer,
    sip_tcp_talk,
    smtp_talk,
)
from tests.support.skipping import missing

from .conftest import spec


@pytest.fixture
async def smtp_server() -> AsyncIterator[LineServer]:
    server = await LineServer(smtp_talk).start()
    yield server
    await server.close()


async def test_connect_up_refused_and_accepting_but_silent(smtp_server: LineServer) -> None:
    assert (await run_check(spec(kind="connect", port=smtp_server.port))).ok
    r = await run_check(spec(kind="connect", port=free_port()))
    assert not r.ok and r.message == "connect: connection refused"
    smtp_server.mode = "hung"
    assert (await run_check(spec(kind="connect", port=smtp_server.port))).ok  # accepting is all connect asks


async def test_smtp_greeting_ehlo_quit(smtp_server: LineServer) -> None:
    r = await run_check(spec("smtp", smtp_server.port))
    assert r.ok and r.message == "SMTP: greeting and EHLO accepted (250 PIPELINING)"
    assert smtp_server.seen[:2] == [b"EHLO localhost.localdomain\r\n", b"QUIT\r\n"]


async def test_smtp_falls_back_to_helo_on_5xx(smtp_server: LineServer) -> None:
    smtp_server.mode = "helo-only"
    r = await run_check(spec("submission", smtp_server.port))
    assert r.ok, r
    assert smtp_server.seen[1] == b"HELO localhost.localdomain\r\n"


async def test_smtp_busy_greeting_and_refused_are_down(smtp_server: LineServer) -> None:
    smtp_server.mode = "busy"
    r = await run_check(spec("smtp", smtp_server.port))
    assert not r.ok and r.message == "SMTP greeting: 554 5.3.2 too busy, go away"
    r = await run_check(spec("smtp", free_port()))
    assert not r.ok and r.message == "smtp: connection refused"


async def test_nntp_banner() -> None:
    server = await LineServer(nntp_talk).start()
    try:
        r = await run_check(spec("nntp", server.port))
        assert r.ok and r.message == "NNTP banner: 200 news.example.com ready"
        server.mode = "discontinued"
        r = await run_check(spec("nntp", server.port))
        assert not r.ok and r.message == "NNTP banner: 400 service discontinued, expected 2xx"
    finally:
        await server.close()


async def test_sip_options_over_udp() -> None:
    server = await UDPServer(lambda mode, data: sip_answer(mode)).start()
    try:
        s = spec("sip", server.port, protocol="udp", login="ldirectord@example.com")
        r = await run_check(s)
        assert r.ok and r.message == "SIP: SIP/2.0 200 OK"
        request = server.seen[0].decode()
        assert request.startswith("OPTIONS sip:ldirectord@example.com SIP/2.0\r\n")
        assert "\r\nCSeq: 63104 OPTIONS\r\n" in request and request.endswith("Content-Length: 0\r\n\r\n")
        server.mode = "unavailable"
        r = await run_check(s)
        assert not r.ok and r.message == "SIP OPTIONS: SIP/2.0 503 Service Unavailable, expected SIP/2.0 200 OK"
    finally:
        await server.close()
    t = time.monotonic()
    r = await run_check(spec("sip", free_port(), protocol="udp", login="x"))
    assert not r.ok and "refused" in r.message and time.monotonic() - t < 0.5  # ICMP port unreachable


async def test_sip_over_tcp() -> None:
    server = await LineServer(sip_tcp_talk).start()
    try:
        assert (await run_check(spec("sip", server.port, protocol="tcp", login="x"))).ok
    finally:
        await server.close()


async def test_simpletcp_send_expect() -> None:
    server = await LineServer(simpletcp_talk).start()
    try:
        s = spec("simpletcp", server.port, request="/STATUS\\nPLEASE", receive="^STATUS: OK")
        r = await run_check(s)
        assert r.ok and r.message == "receive matched: 'STATUS: OK'"
        assert server.seen == [b"STATUS\nPLEASE"]  # the leading '/' dropped, "\n" made a newline
        server.mode = "fail"
        r = await run_check(s)
        assert not r.ok and r.message == "no line of the answer (2 lines) matches receive '^STATUS: OK'"
        server.mode = "silent"
        r = await run_check(s)
        assert not r.ok and r.message == "server closed the connection without answering"
    finally:
        await server.close()


async def test_simpletcp_over_udp() -> None:
    server = await UDPServer(lambda mode, data: b"pong\nOK\n" if data == b"ping" else b"what?\n").start()
    try:
        r = await run_check(spec("simpletcp", server.port, protocol="udp", request="/ping", receive="^OK"))
        assert r.ok, r
        r = await run_check(spec("simpletcp", server.port, protocol="udp", request="/pong", receive="^OK",
                                 timeout=0.5))
        assert not r.ok
    finally:
        await server.close()


# -- ping, in a private network namespace -----------------------------------------------------------

PING_SNIPPET = """
import asyncio, sys
from lvsd.checks.base import CheckSpec
from lvsd.checks.run import run_check
r = asyncio.run(run_check(CheckSpec(kind="ping", service="none", host=sys.argv[1], port=0, timeout=float(sys.argv[2]),
                                    checkcount=int(sys.argv[3]))))
print(r.ok, round(r.latency, 2), r.message, sep="|")
"""


def ping_in_netns(host: str, timeout: float, count: int, *, replies: bool,
                  dgram: bool = False) -> tuple[bool, float, str]:
    if shutil.which("unshare") is None or shutil.which("ip") is None or os.geteuid() != 0:
        missing("ping tests need root, unshare and ip (util-linux, iproute2)")
    setup = ["ip link set lo up", f"sysctl -qw net.ipv4.icmp_echo_ignore_all={0 if replies else 1}"]
    if dgram:
        setup.append("sysctl -qw net.ipv4.ping_group_range='0 2147483647'")
    script = " && ".join([*setup, f"exec {sys.executable} -c \"$0\" {host} {timeout} {count}"])
    p = subprocess.run(["unshare", "-n", "sh", "-c", script, PING_SNIPPET], capture_output=True, text=True,
                       timeout=30, cwd=str(Path(__file__).resolve().parents[2]))
    assert p.returncode == 0, p.stderr
    ok, latency, message = p.stdout.strip().split("|")
    return ok == "True", float(latency), message


def test_ping_echo_reply_raw_and_datagram_sockets() -> None:
    assert ping_in_netns("127.0.0.1", 1.0, 1, replies=True)[0]
    assert ping_in_netns("127.0.0.1", 1.0, 1, replies=True, dgram=True)[0]
    assert ping_in_netns("::1", 1.0, 1, replies=True)[0]


def test_ping_no_reply_is_down_after_checkcount_attempts() -> None:
    ok, latency, message = ping_in_netns("127.0.0.1", 1.0, 2, replies=False)
    assert not ok and message == "no echo reply to 2 requests of 0.5s"
    assert 1.0 <= latency < 1.1


def test_ping_unreachable_is_down_at_once() -> None:
    ok, latency, message = ping_in_netns("192.0.2.1", 1.0, 1, replies=True)  # only lo exists there
    assert not ok and "unreachable" in message and latency < 0.5


def test_connect_on_udp_is_a_ping() -> None:
    v = VirtualService(protocol="udp", ip="192.0.2.53", port=53, checktype="connect", checktimeout=3, checkcount=2)
    s = spec_for(v, RealServer(ip="203.0.113.11", port=53, forward="masq"))
    assert (s.kind, s.timeout, s.checkcount) == ("ping", 6, 2)


# -- external, external-perl, send_program ---------------------------------------------------------


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip())
    path.chmod(0o755)
    return str(path)


def external(command: str, timeout: float = 2.0, kind: str = "external", args: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return spec(kind=kind, timeout=timeout, command=command, args=args or ("198.51.100.1", "80", "127.0.0.1", "80"))


async def test_external_exit_status_and_arguments(tmp_path: Path) -> None:
    up = script(tmp_path, "up.sh", f"""
        #!/bin/sh
        echo "$@" > {tmp_path}/args
        echo all good
        """)
    r = await run_check(external(up))
    assert r.ok and r.message == "exit 0: all good"
    assert (tmp_path / "args").read_text() == "198.51.100.1 80 127.0.0.1 80\n"
    down = script(tmp_path, "down.sh", "#!/bin/sh\necho disk full >&2\nexit 3\n")
    r = await run_check(external(down))
    assert not r.ok and r.message == "exit 3: disk full"
    r = await run_check(external(str(tmp_path / "missing.sh")))
    assert not r.ok and "No such file" in r.message


def test_external_arguments_ipv6_brackets_and_fwmark() -> None:
    v6 = VirtualService(protocol="tcp", ip="2001:db8::10", port=80, ipv6=True, checktype="external",
                        checkcommand="/bin/chk")
    s = spec_for(v6, RealServer(ip="2001:db8::11", port=8080, forward="masq"))
    assert (s.command, s.args) == ("/bin/chk", ("[2001:db8::10]", "80", "[2001:db8::11]", "8080"))
    fwm = VirtualService(protocol="fwm", ip=None, port=0, fwmark=5, checktype="external", checkcommand="/bin/chk")
    s = spec_for(fwm, RealServer(ip="192.0.2.61", port=0, forward="gate"))
    assert s.args == ("5", "0", "192.0.2.61", "0")


async def test_external_hung_script_is_killed_at_the_deadline(tmp_path: Path) -> None:
    hung = script(tmp_path, "hung.sh", f"""
        #!/bin/sh
        sleep 30 &
        echo $! > {tmp_path}/child
        trap '' TERM
        sleep 30
        """)
    t = time.monotonic()
    r = await run_check(external(hung, timeout=1.0))
    assert not r.ok and r.message == "external: no answer within 1s"
    assert time.monotonic() - t < 1.1
    child = int((tmp_path / "child").read_text())
    for _ in range(50):  # the whole process group is killed, the background child too
        if not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]:
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the script's child survived the deadline")


async def test_external_perl(tmp_path: Path) -> None:
    if not os.access("/usr/bin/perl", os.X_OK):
        missing("no perl at /usr/bin/perl")
    ok = script(tmp_path, "ok.pl", 'my ($vip, $vport, $rip, $rport) = @ARGV; print "checked $rip:$rport\\n";\n')
    r = await run_check(external(ok, kind="external-perl"))
    assert r.ok and r.message == "exit 0: checked 127.0.0.1:80"  # no exit at all: up, as in ldirectord
    died = script(tmp_path, "die.pl", 'die "backend said no\\n";\n')
    r = await run_check(external(died, kind="external-perl"))
    assert not r.ok and r.message == "exit 255: backend said no"
    two = script(tmp_path, "two.pl", "exit 2;\n")
    assert not (await run_check(external(two, kind="external-perl"))).ok


async def test_send_program_substitutes_host_and_port_and_matches_output() -> None:
    s = spec(kind="external", port=8080, command="echo checked %h port %p: READY", send_program=True,
             receive="port 8080: READY")
    r = await run_check(s)
    assert r.ok and r.message == "output matches receive: checked 127.0.0.1 port 8080: READY"
    r = await run_check(spec(kind="external", port=8080, command="echo busy", send_program=True, receive="READY"))
    assert not r.ok and r.message == "exit 0, output does not match receive 'READY': busy"


async def test_on_off_and_none() -> None:
    assert (await run_check(spec(kind="on"))).ok
    assert not (await run_check(spec(kind="off"))).ok
    assert (await run_check(spec("none", port=9))).ok
