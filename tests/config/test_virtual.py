"""Per-virtual directives (reference §1.3) and the virtual= forms (§1.4)."""

from __future__ import annotations

import socket

import pytest

from lvsd.config.model import Fallback
from tests.config.helpers import REAL, VIRTUAL, FakeResolver, cf, error, errors, load, one, warnings

# -- virtual= forms -----------------------------------------------------------------


def test_ipv4_and_port() -> None:
    virtual = one(cf("virtual=192.0.2.1:8080", REAL))
    assert (virtual.protocol, virtual.ip, virtual.port, virtual.fwmark) == (
        "tcp", "192.0.2.1", 8080, None)
    assert str(virtual) == "TCP 192.0.2.1:8080 wrr"
    assert virtual.where is not None and (virtual.where.line, virtual.where.col) == (1, 9)


def test_hostname_and_service_name_port_are_resolved() -> None:
    resolver = FakeResolver()
    config = load(cf("virtual=www.example.com:http", REAL), resolver)
    assert (config.virtuals[0].ip, config.virtuals[0].port) == ("192.0.2.80", 80)
    assert ("host", ("www.example.com", False)) in resolver.asked
    assert ("port", ("http", "tcp")) in resolver.asked


def test_service_name_port_uses_the_final_protocol() -> None:
    resolver = FakeResolver()
    load(cf("virtual=192.0.2.1:http", "\tprotocol=udp", REAL), resolver)
    assert ("port", ("http", "udp")) in resolver.asked


@pytest.mark.parametrize("port", ["53", "domain"])
def test_port_53_defaults_to_udp_and_dns(port: str) -> None:
    virtual = one(cf(f"virtual=192.0.2.1:{port}", REAL))
    assert (virtual.protocol, virtual.port, virtual.service) == ("udp", 53, "dns")


def test_virtual6_with_bracketed_address() -> None:
    virtual = one(cf("virtual6=[2001:DB8::1]:80", "\treal6=[2001:db8::2]:80 gate"))
    assert (virtual.ip, virtual.port, virtual.ipv6) == ("2001:db8::1", 80, True)
    assert virtual.label == "[2001:db8::1]:80"


def test_virtual6_hostname_is_resolved_as_ipv6() -> None:
    assert one(cf("virtual6=www.example.com:80")).ip == "2001:db8::80"


@pytest.mark.parametrize("mark", ["7", "7 # marked by iptables"])
def test_firewall_mark(mark: str) -> None:
    virtual = one(cf(f"virtual={mark}", "\treal=10.0.0.1 gate"))
    assert (virtual.protocol, virtual.ip, virtual.port, virtual.fwmark) == ("fwm", None, 0, 7)
    assert (virtual.service, virtual.ident) == ("none", "fwm:7")


def test_fwmark_and_fwmark6_with_the_same_mark_are_different_services() -> None:
    config = load(cf("virtual=7", "", "virtual6=7"))
    assert [v.ident for v in config.virtuals] == ["fwm:7", "fwm6:7"]


@pytest.mark.parametrize(("value", "message"), [
    ("10.0.0.1", "1:17: missing port: expected ADDRESS:PORT (ldirectord would read it as "
                 "firewall mark 10)"),
    ("www.example.com", "1:24: missing port: expected ADDRESS:PORT"),
    ("[2001:db8::1]:80", "1:9: IPv6 address [2001:db8::1] where an IPv4 address is expected "
                         "(use virtual6=, real6= or fallback6=)"),
    ("010.0.0.1:80", "1:9: invalid IPv4 address '010.0.0.1' (expected a dotted quad such as "
                     "192.0.2.1; leading zeros and short forms are read differently by different "
                     "tools)"),
    ("10.1:80", "1:9: invalid IPv4 address '10.1' (expected a dotted quad such as 192.0.2.1; "
                "leading zeros and short forms are read differently by different tools)"),
    ("256.0.0.1:80", "1:9: invalid IPv4 address '256.0.0.1' (expected a dotted quad such as "
                     "192.0.2.1; leading zeros and short forms are read differently by "
                     "different tools)"),
    ("0", "1:9: firewall mark must be from 1 to 4294967295, not 0"),
    ("192.0.2.1:80/", "1:21: unexpected '/' after the port"),
    ("192.0.2.1:99999", "1:19: port must be from 0 to 65535, not 99999"),
    ("192.0.2.1:0", "1:19: port 0 needs persistent= (ipvsadm rejects a zero port for a "
                    "non-persistent service)"),
    ("192.0.2.1:nosuchsvc", "1:19: unknown service name 'nosuchsvc'/tcp for a port (service "
                            "not found)"),
    ("nowhere.example:80", "1:9: cannot resolve host 'nowhere.example' to an IPv4 address "
                           "(Name or service not known)"),
    ("", "1:9: invalid address for virtual server (expected IPv4:PORT, HOST:PORT, [IPv6]:PORT "
         "with virtual6=, or a firewall mark number)"),
])
def test_invalid_virtual(value: str, message: str) -> None:
    assert error(cf(f"virtual={value}")) == message


@pytest.mark.parametrize(("value", "message"), [
    ("2001:db8::1:80", "1:10: IPv6 addresses must be written in brackets: [IPv6]:PORT"),
    ("192.0.2.1:80", "1:10: IPv4 address 192.0.2.1 in an IPv6 context (use virtual=, real= or "
                     "fallback=)"),
    ("[2001:db8::zz]:80", "1:10: invalid IPv6 address '2001:db8::zz'"),
    ("[2001:db8::1]", "1:23: missing port after the IPv6 address: expected [IPv6]:PORT"),
])
def test_invalid_virtual6(value: str, message: str) -> None:
    assert error(cf(f"virtual6={value}")) == message


def test_zero_port_is_allowed_with_persistence() -> None:
    assert one(cf("virtual=192.0.2.1:0", "\tpersistent=600")).port == 0


def test_duplicate_virtual_names_both_lines() -> None:
    assert errors(cf(VIRTUAL, REAL, "virtual=192.0.2.1:http", REAL)) == [
        "3:9: duplicate virtual service tcp:192.0.2.1:80 (first defined on line 1)"]


def test_same_address_and_port_with_tcp_and_udp_is_allowed() -> None:
    config = load(cf(VIRTUAL, REAL, VIRTUAL, "\tprotocol=udp", REAL))
    assert [v.ident for v in config.virtuals] == ["tcp:192.0.2.1:80", "udp:192.0.2.1:80"]


def test_duplicate_fwmark() -> None:
    assert error(cf("virtual=7", "virtual=7")) == (
        "2:9: duplicate virtual service fwm:7 (first defined on line 1)")


# -- protocol, scheduler, persistence ---------------------------------------------------


@pytest.mark.parametrize(("lines", "message"), [
    ((VIRTUAL, "\tprotocol=sctp"), "2:11: unknown protocol 'sctp' (expected tcp or udp)"),
    (("virtual=7", "\tprotocol=tcp"), "2:11: unknown protocol for a firewall-mark virtual "
                                      "service 'tcp' (expected fwm)"),
])
def test_invalid_protocol(lines: tuple[str, ...], message: str) -> None:
    assert error(cf(*lines)) == message


def test_protocol_fwm_is_accepted_for_a_fwmark() -> None:
    assert one(cf("virtual=7", "\tprotocol=fwm")).protocol == "fwm"


@pytest.mark.parametrize("scheduler", ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh",
                                       "sed", "nq", "fo", "ovf", "mh"])
def test_kernel_schedulers(scheduler: str) -> None:
    assert one(cf(VIRTUAL, f"\tscheduler={scheduler}")).scheduler == scheduler


def test_unknown_scheduler_says_what_ldirectord_would_do() -> None:
    assert error(cf(VIRTUAL, "\tscheduler=Wrr")) == (
        "2:12: unknown scheduler 'Wrr' (expected one of the kernel's IPVS schedulers, in lower "
        "case: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf or mh; ldirectord would "
        "silently use 'rr')")


def test_persistent_and_netmask() -> None:
    virtual = one(cf(VIRTUAL, "\tpersistent=600", "\tnetmask=255.255.255.0"))
    assert (virtual.persistent, virtual.netmask) == (600, "255.255.255.0")


def test_virtual6_netmask_is_a_prefix_length() -> None:
    virtual = one(cf("virtual6=[2001:db8::1]:80", "\tpersistent=60", "\tnetmask=64"))
    assert virtual.netmask == "64"


@pytest.mark.parametrize(("lines", "message"), [
    ((VIRTUAL, "\tpersistent=0"), "2:13: persistent must be a whole number of seconds from 1 "
                                  "to 2678400, not 0"),
    ((VIRTUAL, "\tnetmask=64"), "2:10: netmask must be a dotted quad such as 255.255.255.0, "
                                "not '64'"),
    (("virtual6=[::1]:80", "\tnetmask=129"), "2:10: netmask must be an IPv6 prefix length from "
                                             "1 to 128, not 129"),
])
def test_invalid_persistence(lines: tuple[str, ...], message: str) -> None:
    assert error(cf(*lines)) == message


def test_netmask_without_persistent_warns() -> None:
    assert warnings(cf(VIRTUAL, "\tnetmask=255.255.255.0")) == [
        "2:2: netmask has no effect without persistent= (ldirectord ignores it too)"]


def test_ops_schedflags_are_stored() -> None:
    virtual = one(cf("virtual=192.0.2.1:53", "\tops=yes", "\tschedflags=sh-port,sh-fallback"))
    assert (virtual.ops, virtual.schedflags) == (True, "sh-port,sh-fallback")


def test_ops_on_tcp_warns() -> None:
    assert warnings(cf(VIRTUAL, "\tops=yes")) == [
        "2:2: ops=yes only applies to udp services; ignored (as by ldirectord)"]


# -- checks --------------------------------------------------------------------------


@pytest.mark.parametrize("checktype", ["connect", "negotiate", "ping", "external",
                                       "external-perl", "on", "off"])
def test_checktype_keywords(checktype: str) -> None:
    virtual = one(cf(VIRTUAL, f"\tchecktype={checktype}"))
    assert (virtual.checktype, virtual.connects_per_negotiate) == (checktype, None)


def test_checktype_number_is_combined_mode() -> None:
    virtual = one(cf(VIRTUAL, "\tchecktype=5"))
    assert (virtual.checktype, virtual.connects_per_negotiate) == ("negotiate", 5)


@pytest.mark.parametrize("value", ["negotiatex", "negotiate2", "Connect", ""])
def test_unknown_checktype(value: str) -> None:
    assert error(cf(VIRTUAL, f"\tchecktype={value}")) == (
        f"2:12: unknown checktype {value!r} (expected connect, negotiate, ping, external, "
        "external-perl, on, off or a number)")


@pytest.mark.parametrize(("port", "service"), [
    (21, "ftp"), (25, "smtp"), (53, "dns"), (80, "http"), (110, "pop"), (119, "nntp"),
    (143, "imap"), (389, "ldap"), (443, "https"), (587, "submission"), (636, "ldaps"),
    (993, "imaps"), (995, "pops"), (1521, "oracle"), (1812, "radius"), (3128, "http_proxy"),
    (3306, "mysql"), (5060, "sip"), (5432, "pgsql"), (8080, "none"), (22, "none")])
def test_service_defaults_from_the_port(port: int, service: str) -> None:
    assert one(cf(f"virtual=192.0.2.1:{port}")).service == service


@pytest.mark.parametrize("service", ["dns", "ftp", "http", "https", "http_proxy", "imap",
                                     "imaps", "ldap", "ldaps", "mysql", "nntp", "none",
                                     "oracle", "pgsql", "pop", "pops", "radius", "simpletcp",
                                     "sip", "smtp", "submission"])
def test_service_values(service: str) -> None:
    assert one(cf("virtual=192.0.2.1:9999", f"\tservice={service}")).service == service


def test_unknown_service() -> None:
    assert error(cf(VIRTUAL, "\tservice=HTTP")) == (
        "2:10: unknown service 'HTTP' (expected dns, ftp, http, http_proxy, https, imap, imaps, "
        "ldap, ldaps, mysql, nntp, none, oracle, pgsql, pop, pops, radius, simpletcp, sip, smtp "
        "or submission)")


def test_explicit_service_ftp_sets_ldirectords_login_defaults() -> None:
    virtual = one(cf("virtual=192.0.2.1:2121", "\tservice=ftp"))
    assert (virtual.login, virtual.passwd) == ("anonymous", f"ldirectord@{socket.gethostname()}")


def test_service_ftp_derived_from_the_port_has_no_login_defaults() -> None:
    virtual = one(cf("virtual=192.0.2.1:21"))
    assert (virtual.service, virtual.login, virtual.passwd) == ("ftp", "", "")


def test_explicit_service_sip_sets_the_login() -> None:
    assert one(cf(VIRTUAL, "\tservice=sip")).login == f"ldirectord@{socket.gethostname()}"


def test_user_login_wins_over_the_ftp_default_whatever_the_order() -> None:
    virtual = one(cf(VIRTUAL, '\tlogin="bob"', "\tservice=ftp", '\tpasswd="secret"'))
    assert (virtual.login, virtual.passwd) == ("bob", "secret")


def test_request_gets_a_leading_slash_and_receive_is_kept() -> None:
    virtual = one(cf(VIRTUAL, '\trequest="health.html"', '\treceive="OK.*up"'))
    assert (virtual.request, virtual.receive) == ("/health.html", "OK.*up")


def test_quoted_value_is_greedy_to_the_last_quote_as_in_ldirectord() -> None:
    assert one(cf(VIRTUAL, '\treceive="say "hi""')).receive == 'say "hi"'


@pytest.mark.parametrize(("line", "message"), [
    ('\trequest=""', "2:10: request needs a request string"),
    ("\trequest=/x", '2:10: request must be in double quotes: request="/x"'),
    ('\treceive=""', "2:10: receive needs a receive string"),
    ("\treceive=OK", '2:10: receive must be in double quotes: receive="OK"'),
    ('\trequest="/x" y', "2:15: unexpected 'y' after the closing quote"),
    ("\tlogin=bob", '2:8: login must be in double quotes: login="bob"'),
    ("\tpasswd=pw", '2:9: passwd must be in double quotes: passwd="pw"'),
    ("\tdatabase=db", '2:11: database must be in double quotes: database="db"'),
    ("\tsecret=s", '2:9: secret must be in double quotes: secret="s"'),
])
def test_invalid_quoted_values(line: str, message: str) -> None:
    assert error(cf(VIRTUAL, line)) == message


def test_credentials_and_load_are_stored() -> None:
    virtual = one(cf(VIRTUAL, '\tlogin="u"', '\tpasswd="p w"', '\tdatabase="db"',
                     '\tsecret="s3"', '\tload="cpu"'))
    assert (virtual.login, virtual.passwd, virtual.database, virtual.secret, virtual.load) == (
        "u", "p w", "db", "s3", "cpu")


@pytest.mark.parametrize(("value", "expected"), [
    ("www.example.com", "www.example.com"), ('"www.example.com"', "www.example.com")])
def test_virtualhost_quotes_are_optional(value: str, expected: str) -> None:
    assert one(cf(VIRTUAL, f"\tvirtualhost={value}")).virtualhost == expected


def test_empty_virtualhost_is_an_error() -> None:
    assert error(cf(VIRTUAL, '\tvirtualhost=""')) == "2:14: virtualhost needs a host name"


@pytest.mark.parametrize(("value", "expected"), [("GET", "GET"), ("head", "HEAD")])
def test_httpmethod_is_case_insensitive(value: str, expected: str) -> None:
    assert one(cf(VIRTUAL, f"\thttpmethod={value}")).httpmethod == expected


def test_invalid_httpmethod() -> None:
    assert error(cf(VIRTUAL, "\thttpmethod=POST")) == (
        "2:13: httpmethod must be GET or HEAD, not 'POST'")


def test_head_with_a_receive_string_warns() -> None:
    assert warnings(cf(VIRTUAL, "\thttpmethod=HEAD", '\treceive="OK"')) == [
        "3:2: a receive string never matches with httpmethod=HEAD (no response body)"]


def test_checkport() -> None:
    assert one(cf(VIRTUAL, "\tcheckport=8080")).checkport == 8080


@pytest.mark.parametrize("port", ["0", "65536"])
def test_invalid_checkport(port: str) -> None:
    assert error(cf(VIRTUAL, f"\tcheckport={port}")) == (
        f"2:12: checkport must be a port number from 1 to 65535, not {port}")


@pytest.mark.parametrize(("value", "expected"), [
    ("/usr/local/bin/check", "/usr/local/bin/check"), ('"/opt/my check"', "/opt/my check")])
def test_checkcommand_quotes_are_optional(value: str, expected: str) -> None:
    assert one(cf(VIRTUAL, "\tchecktype=external", f"\tcheckcommand={value}")).checkcommand == (
        expected)


def test_unquoted_checkcommand_trailing_blanks_are_dropped_with_a_warning() -> None:
    text = cf(VIRTUAL, "\tcheckcommand=/usr/local/bin/check # the check")
    assert one(text).checkcommand == "/usr/local/bin/check"
    assert warnings(text) == ["2:35: trailing blanks ignored (ldirectord would keep them as part "
                              "of the value)"]


def test_per_virtual_checkinterval_is_honoured_with_a_warning() -> None:
    text = cf(VIRTUAL, "\tcheckinterval=3")
    assert one(text).checkinterval == 3
    assert warnings(text) == ["2:2: checkinterval in virtual service tcp:192.0.2.1:80: "
                              "ldirectord ignores it when fork=no; lvsd honours it (every real "
                              "server is checked on its own schedule)"]


def test_per_virtual_checkinterval_with_fork_yes_does_not_warn_about_it() -> None:
    assert warnings(cf("fork=yes", VIRTUAL, "\tcheckinterval=3")) == [
        "1:1: fork=yes has no effect in lvsd: every real server is already checked on its own "
        "schedule"]


def test_failurecount_quiescent_cleanstop_per_virtual_override_globals() -> None:
    virtual = one(cf("failurecount=2", "quiescent=no", "cleanstop=yes", VIRTUAL,
                     "\tfailurecount=4", "\tquiescent=yes", "\tcleanstop=no"))
    assert (virtual.failurecount, virtual.quiescent, virtual.cleanstop) == (4, True, False)


# -- fallback and the rest -----------------------------------------------------------------


def test_virtual_fallback_overrides_the_global_one() -> None:
    virtual = one(cf("fallback=127.0.0.1:80", VIRTUAL, "\tfallback=127.0.0.2 masq"))
    assert virtual.fallback == Fallback(ip="127.0.0.2", port=80, forward="masq")


def test_fallback_of_a_fwmark_without_port_is_port_0() -> None:
    assert one(cf("virtual=7", "\tfallback=127.0.0.1")).fallback == Fallback(
        ip="127.0.0.1", port=0, forward="gate")


def test_fallback6_in_a_virtual6() -> None:
    virtual = one(cf("virtual6=[2001:db8::1]:80", "\tfallback6=[::1]:8080 masq"))
    assert virtual.fallback == Fallback(ip="::1", port=8080, forward="masq")


@pytest.mark.parametrize(("lines", "message"), [
    ((VIRTUAL, "\tfallback6=[::1]"), "2:2: cannot use fallback6 in a virtual block; use fallback"),
    (("virtual6=[::1]:80", "\tfallback=127.0.0.1"), "2:2: cannot use fallback in a virtual6 "
                                                     "block; use fallback6"),
])
def test_fallback_family_must_match_the_virtual(lines: tuple[str, ...], message: str) -> None:
    assert error(cf(*lines)) == message


def test_unresolvable_virtual_fallback_is_an_error_at_the_name() -> None:
    assert error(cf(VIRTUAL, "\tfallback=nowhere.example")) == (
        "2:11: fallback server: cannot resolve host 'nowhere.example' to an IPv4 address "
        "(Name or service not known)")


def test_stored_only_directives() -> None:
    virtual = one(cf(VIRTUAL, '\tfallbackcommand="/usr/bin/fb arg"', "\tmonitorfile=/var/log/m",
                     "\tservicename=Web Site", "\tcomment=Front end", "\temailalert=a@b.c",
                     "\temailalertfreq=60", "\temailalertstatus=none", "\tsmtp=mx.example.com"))
    assert (virtual.fallbackcommand, virtual.monitorfile) == ("/usr/bin/fb arg", "/var/log/m")
    assert (virtual.servicename, virtual.comment) == ("Web Site", "Front end")
    assert (virtual.emailalert, virtual.emailalertfreq, virtual.emailalertstatus,
            virtual.smtp) == ("a@b.c", 60, frozenset(), "mx.example.com")
