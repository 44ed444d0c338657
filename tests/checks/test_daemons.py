"""Negotiate checks against real daemons from Debian packages, on loopback.

For each service: it passes against a healthy server, fails on a wrong
answer (wrong credentials, a query with no rows, a DN or address that does
not match), and fails at once when nothing listens. (A server that accepts
and never answers is covered for every service in test_deadline.py.)
"""

from __future__ import annotations

import time

from lvsd.checks.run import run_check
from tests.support.ports import free_port

from .conftest import spec

BIND_DN = "cn=monitor,ou=health,dc=example,dc=com"


async def check(s):  # type: ignore[no-untyped-def]
    r = await run_check(s)
    return r.ok, r.message


async def refused_quickly(s) -> str:  # type: ignore[no-untyped-def]
    t = time.monotonic()
    r = await run_check(s)
    assert not r.ok
    assert time.monotonic() - t < 1.0, r
    return r.message


# -- dns (dnsmasq) --------------------------------------------------------------------------------


async def test_dns_a_answer_matching_receive_is_up(dns_port: int) -> None:
    ok, msg = await check(spec("dns", dns_port, request="/www.example.com", receive=r"^192\.0\.2\.10$",
                               protocol="udp"))
    assert ok, msg
    assert "192.0.2.10" in msg


async def test_dns_over_tcp_for_a_tcp_virtual(dns_port: int) -> None:
    ok, msg = await check(spec("dns", dns_port, request="/mail.example.com", receive="192.0.2.25", protocol="tcp"))
    assert ok, msg


async def test_dns_wrong_address_is_down(dns_port: int) -> None:
    ok, msg = await check(spec("dns", dns_port, request="/www.example.com", receive="192.0.2.99", protocol="udp"))
    assert not ok
    assert msg == "DNS A www.example.com: 192.0.2.10 does not match receive '192.0.2.99'"


async def test_dns_unknown_name_is_down(dns_port: int) -> None:
    ok, msg = await check(spec("dns", dns_port, request="/nothing.example.org", receive=".", protocol="udp"))
    assert not ok and "no A answer" in msg


async def test_dns_ptr_for_an_address_request(dns_port: int) -> None:
    ok, msg = await check(spec("dns", dns_port, request="/192.0.2.10", receive="www.example.com", protocol="udp"))
    assert ok, msg
    assert "PTR" in msg


async def test_dns_refused() -> None:
    msg = await refused_quickly(spec("dns", free_port(), request="/www.example.com", receive=".", protocol="tcp"))
    assert "connection refused" in msg
    msg = await refused_quickly(spec("dns", free_port(), request="/www.example.com", receive=".", protocol="udp"))
    assert "refused" in msg


# -- pgsql (PostgreSQL) ---------------------------------------------------------------------------


def pg(port: int, request: str = "/SELECT name FROM pool WHERE enabled", **kw):  # type: ignore[no-untyped-def]
    return spec("pgsql", port, request=request, login=kw.pop("login", "lvsd"), passwd=kw.pop("passwd", "secret"),
                database="lvsdtest", **kw)


async def test_pgsql_rows_is_up(pg_port: int) -> None:
    ok, msg = await check(pg(pg_port))
    assert ok, msg
    assert msg.endswith(": 1 row")


async def test_pgsql_no_rows_is_down(pg_port: int) -> None:
    ok, msg = await check(pg(pg_port, "/SELECT name FROM pool WHERE name = 'rs9'"))
    assert not ok and "no rows" in msg


async def test_pgsql_wrong_password_and_bad_query_are_down(pg_port: int) -> None:
    ok, msg = await check(pg(pg_port, passwd="wrong"))
    assert not ok and "password authentication failed" in msg
    ok, msg = await check(pg(pg_port, "/SELECT * FROM nosuchtable"))
    assert not ok and "nosuchtable" in msg


async def test_pgsql_refused() -> None:
    assert "connection refused" in await refused_quickly(pg(free_port()))


# -- mysql (MariaDB) ------------------------------------------------------------------------------


def my(port: int, request: str = "/SELECT name FROM pool WHERE enabled", **kw):  # type: ignore[no-untyped-def]
    return spec("mysql", port, request=request, login="lvsd", passwd=kw.pop("passwd", "secret"), database="lvsdtest",
                **kw)


async def test_mysql_rows_is_up(mysql_port: int) -> None:
    ok, msg = await check(my(mysql_port))
    assert ok, msg


async def test_mysql_no_rows_wrong_password_bad_query_are_down(mysql_port: int) -> None:
    ok, msg = await check(my(mysql_port, "/SELECT name FROM pool WHERE name = 'rs9'"))
    assert not ok and "no rows" in msg
    ok, msg = await check(my(mysql_port, passwd="wrong"))
    assert not ok and "Access denied" in msg
    ok, msg = await check(my(mysql_port, "/SELECT * FROM nosuchtable"))
    assert not ok and "nosuchtable" in msg


async def test_mysql_refused() -> None:
    msg = await refused_quickly(my(free_port()))
    assert "Can't connect" in msg or "refused" in msg


# -- ldap / ldaps (slapd) -------------------------------------------------------------------------


async def test_ldap_anonymous_search_finds_one_entry(ldap_ports: tuple[int, int]) -> None:
    ok, msg = await check(spec("ldap", ldap_ports[0], request="/ou=health,dc=example,dc=com"))
    assert ok, msg
    assert msg == "LDAP search base 'ou=health,dc=example,dc=com': ou=health,dc=example,dc=com"


async def test_ldap_bind_and_receive_on_the_dn(ldap_ports: tuple[int, int]) -> None:
    s = spec("ldap", ldap_ports[0], request=f"/{BIND_DN}", receive="^cn=monitor,", login=BIND_DN, passwd="secret")
    ok, msg = await check(s)
    assert ok, msg
    ok, msg = await check(spec("ldap", ldap_ports[0], request=f"/{BIND_DN}", receive="^cn=other"))
    assert not ok and "does not match receive" in msg


async def test_ldap_wrong_password_and_missing_base_are_down(ldap_ports: tuple[int, int]) -> None:
    ok, msg = await check(spec("ldap", ldap_ports[0], request="/dc=example,dc=com", login=BIND_DN, passwd="wrong"))
    assert not ok and msg.startswith(f"LDAP bind as {BIND_DN!r} failed: result 49")
    ok, msg = await check(spec("ldap", ldap_ports[0], request="/ou=nothing,dc=example,dc=com"))
    assert not ok and "result 32" in msg and "expected exactly 1 entry" in msg


async def test_ldaps_over_tls(ldap_ports: tuple[int, int], certs) -> None:  # type: ignore[no-untyped-def]
    ok, msg = await check(spec("ldaps", ldap_ports[1], request="/dc=example,dc=com"))
    assert ok, msg
    verified = spec("ldaps", ldap_ports[1], request="/dc=example,dc=com", tls_verify=True, tls_cafile=str(certs.ca))
    assert (await check(verified))[0]
    ok, msg = await check(spec("ldaps", ldap_ports[1], request="/dc=example,dc=com", tls_verify=True))
    assert not ok and "certificate" in msg


async def test_ldap_refused() -> None:
    assert "refused" in await refused_quickly(spec("ldap", free_port(), request="/dc=example,dc=com"))


# -- radius (FreeRADIUS) --------------------------------------------------------------------------


def rad(port: int, passwd: str = "secret", secret: str = "testing123"):  # type: ignore[no-untyped-def]
    return spec("radius", port, login="lvsd", passwd=passwd, secret=secret)


async def test_radius_access_accept_is_up(radius_port: int) -> None:
    ok, msg = await check(rad(radius_port))
    assert ok, msg
    assert msg == "RADIUS: Access-Accept"


async def test_radius_reject_is_down(radius_port: int) -> None:
    ok, msg = await check(rad(radius_port, passwd="wrong"))
    assert not ok and msg == "RADIUS: Access-Reject, expected Access-Accept"


async def test_radius_wrong_secret_is_down(radius_port: int) -> None:
    r = await run_check(spec("radius", radius_port, login="lvsd", passwd="secret", secret="nottheone", timeout=1.5))
    assert not r.ok  # FreeRADIUS drops a request it cannot authenticate: no answer


async def test_radius_refused() -> None:
    assert "refused" in await refused_quickly(rad(free_port()))


# -- ftp (vsftpd) ---------------------------------------------------------------------------------


def ftp(port: int, request: str = "/health.txt", receive: str = "server OK", **kw):  # type: ignore[no-untyped-def]
    return spec("ftp", port, request=request, receive=receive, login=kw.pop("login", "anonymous"),
                passwd="lvsd@example.com", **kw)


async def test_ftp_fetches_and_matches(ftp_port: int) -> None:
    ok, msg = await check(ftp(ftp_port))
    assert ok, msg
    assert msg == "FTP RETR /health.txt: 14 bytes, receive matched"


async def test_ftp_wrong_content_missing_file_bad_login_are_down(ftp_port: int) -> None:
    ok, msg = await check(ftp(ftp_port, receive="FAIL"))
    assert not ok and "does not match receive" in msg
    ok, msg = await check(ftp(ftp_port, request="/missing.txt"))
    assert not ok and msg.startswith("FTP RETR /missing.txt: 550")
    ok, msg = await check(ftp(ftp_port, login="root"))
    assert not ok and "login as 'root' failed" in msg


async def test_ftp_refused() -> None:
    assert "refused" in await refused_quickly(ftp(free_port()))


# -- pop / pops / imap / imaps (Dovecot) ----------------------------------------------------------


async def test_pop_greeting_and_login(mail_ports: dict[str, int]) -> None:
    ok, msg = await check(spec("pop", mail_ports["pop"]))
    assert ok and msg.startswith("POP3 greeting: +OK"), msg
    ok, msg = await check(spec("pop", mail_ports["pop"], login="alice", passwd="secret"))
    assert ok and msg == "POP3: logged in", msg


async def test_pop_wrong_password(fresh_mail_ports: dict[str, int]) -> None:
    # a fresh Dovecot starts its auth processes at the first login: give it time (this is about the answer)
    r = await run_check(spec("pop", fresh_mail_ports["pop"], login="alice", passwd="wrong", timeout=10))
    assert not r.ok and r.message.startswith("POP3 login as 'alice' failed: -ERR"), r


async def test_imap_wrong_password(fresh_mail_ports: dict[str, int]) -> None:
    r = await run_check(spec("imap", fresh_mail_ports["imap"], login="bob", passwd="wrong", timeout=10))
    assert not r.ok and r.message.startswith("IMAP login as 'bob' failed: l1 NO"), r


async def test_pops_over_tls(mail_ports: dict[str, int]) -> None:
    ok, msg = await check(spec("pops", mail_ports["pops"], login="alice", passwd="secret"))
    assert ok, msg
    ok, msg = await check(spec("pops", mail_ports["pop"]))  # plain text where TLS is expected
    assert not ok and "TLS" in msg


async def test_imap_greeting_and_login(mail_ports: dict[str, int]) -> None:
    ok, msg = await check(spec("imap", mail_ports["imap"]))
    assert ok and msg.startswith("IMAP greeting: * OK"), msg
    ok, msg = await check(spec("imap", mail_ports["imap"], login="alice", passwd="secret"))
    assert ok and msg == "IMAP: logged in", msg


async def test_imaps_over_tls(mail_ports: dict[str, int]) -> None:
    ok, msg = await check(spec("imaps", mail_ports["imaps"], login="alice", passwd="secret"))
    assert ok, msg


async def test_pop_and_imap_refused() -> None:
    for service in ("pop", "pops", "imap", "imaps"):
        assert "refused" in await refused_quickly(spec(service, free_port()))
