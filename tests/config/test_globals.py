"""Global directives (reference §1.2): values, defaults and errors."""

from __future__ import annotations

import pytest

from lvsd.config.model import ALL_EMAIL_STATUSES, DEFAULT_LOGFILE, Fallback, SyncSettings
from tests.config.helpers import REAL, VIRTUAL, FakeResolver, cf, error, errors, load, one, warnings


def test_defaults_of_an_empty_config() -> None:
    config = load("")
    assert (config.logfile, config.checkinterval, config.cleanstop) == (DEFAULT_LOGFILE, 10, True)
    assert (config.autoreload, config.readdquiescent, config.supervised, config.fork) == (
        False, False, False, False)
    assert (config.maintenancedir, config.callback, config.execute) == (None, None, ())
    assert (config.emailalert, config.emailalertfreq, config.smtp) == ("", 0, None)
    assert config.emailalertstatus == ALL_EMAIL_STATUSES


def test_defaults_of_a_virtual() -> None:
    virtual = one(cf(VIRTUAL, REAL))
    assert (virtual.checktimeout, virtual.negotiatetimeout, virtual.checkinterval) == (5, 30, 10)
    assert (virtual.failurecount, virtual.checkcount, virtual.fallback) == (1, 1, None)
    assert (virtual.scheduler, virtual.checktype, virtual.request, virtual.receive) == (
        "wrr", "negotiate", "/", "")


def test_quiescent_defaults_to_no_as_ldirectord_code_not_its_manual() -> None:
    assert one(cf(VIRTUAL, REAL)).quiescent is False


@pytest.mark.parametrize("name", ["checktimeout", "negotiatetimeout", "checkinterval"])
def test_seconds_must_be_positive_whole_numbers(name: str) -> None:
    assert error(cf(f"{name}=0")) == (
        f"1:{len(name) + 2}: {name} must be a whole number of seconds from 1 to 2147483647, "
        "not 0")


def test_fractional_seconds_are_rejected_saying_what_ldirectord_would_read() -> None:
    assert error(cf("checktimeout=1.5")) == (
        "1:14: checktimeout must be a whole number of seconds; ldirectord would silently read "
        "'1.5' as 1")


@pytest.mark.parametrize(("value", "message"), [
    ("abc", "1:15: checkinterval must be a whole number of seconds from 1 to 2147483647, "
            "not 'abc'"),
    ("5s", "1:16: unexpected 's' after 5"),
    ("99999999999999999999", "1:15: checkinterval must be a whole number of seconds from 1 to "
                             "2147483647, not 99999999999999999999"),
])
def test_invalid_checkinterval(value: str, message: str) -> None:
    assert error(cf(f"checkinterval={value}")) == message


def test_checkinterval_is_global_and_the_virtual_default() -> None:
    config = load(cf("checkinterval=2", VIRTUAL, REAL))
    assert config.checkinterval == 2 and config.virtuals[0].checkinterval == 2


def test_failurecount_applies_to_virtuals() -> None:
    assert one(cf("failurecount=3", VIRTUAL, REAL)).failurecount == 3


def test_failurecount_zero_is_an_error() -> None:
    assert error(cf("failurecount=0")) == (
        "1:14: failurecount must be a whole number from 1 to 2147483647, not 0")


def test_checkcount_is_stored_with_a_deprecation_warning() -> None:
    text = cf("checkcount=3", VIRTUAL, REAL)
    assert one(text).checkcount == 3
    assert warnings(text) == ["1:1: checkcount is deprecated (ldirectord uses it only for ping "
                              "attempts); see failurecount"]


def test_global_fallback_with_port_and_forward_method() -> None:
    virtual = one(cf("fallback=127.0.0.1:8080 masq", VIRTUAL, REAL))
    assert virtual.fallback == Fallback(ip="127.0.0.1", port=8080, forward="masq")


def test_global_fallback_port_defaults_to_the_virtuals_port_and_forward_to_gate() -> None:
    config = load(cf("fallback=127.0.0.1", VIRTUAL, REAL, "virtual=192.0.2.1:443", REAL))
    assert [v.fallback for v in config.virtuals] == [
        Fallback(ip="127.0.0.1", port=80, forward="gate"),
        Fallback(ip="127.0.0.1", port=443, forward="gate")]


def test_global_fallback_hostname_is_resolved() -> None:
    virtual = one(cf("fallback=fallback.example.com:http", VIRTUAL, REAL))
    assert virtual.fallback == Fallback(ip="127.0.0.9", port=80, forward="gate")


def test_global_fallback_is_resolved_for_tcp_and_udp_like_ldirectord() -> None:
    resolver = FakeResolver()
    found = errors(cf("fallback=127.0.0.1:tcponly"), resolver)
    assert ("port", ("tcponly", "tcp")) in resolver.asked
    assert found == [
        "1:20: fallback server: unknown service name 'tcponly'/udp for a port (service not "
        "found)"]


def test_global_fallback6_applies_to_virtual6_only() -> None:
    config = load(cf("fallback=127.0.0.1", "fallback6=[::1]:81", VIRTUAL, REAL,
                     "virtual6=[2001:db8::1]:80", "\treal6=[2001:db8::2]:80 gate"))
    assert [v.fallback for v in config.virtuals] == [
        Fallback(ip="127.0.0.1", port=80, forward="gate"),
        Fallback(ip="::1", port=81, forward="gate")]


@pytest.mark.parametrize(("line", "message"), [
    ("fallback=127.0.0.1:80 tunnel", "1:23: forward method must be gate, masq or ipip, "
                                     "not 'tunnel'"),
    ("fallback=nowhere.example:80", "1:10: fallback server: cannot resolve host "
                                    "'nowhere.example' to an IPv4 address (Name or service not "
                                    "known)"),
    ("fallback=::1", "1:10: IPv6 addresses must be written in brackets: [IPv6]:PORT"),
    ("fallback=[::1]:80", "1:10: IPv6 address [::1] where an IPv4 address is expected (use "
                          "virtual6=, real6= or fallback6=)"),
    ("fallback=127.0.0.1:80 gate # local", "1:28: ldirectord.cf has no end-of-line comments "
                                           "outside virtual blocks: ldirectord would not read "
                                           "this '#' as a comment, and would reject or misread "
                                           "the value; put the comment on a line of its own"),
])
def test_invalid_global_fallback(line: str, message: str) -> None:
    assert errors(cf(line)) == [message]


def test_fallbackcommand_is_raw_and_inherited() -> None:
    config = load(cf('fallbackcommand="/usr/local/bin/fb"', VIRTUAL, REAL))
    assert config.fallbackcommand == '"/usr/local/bin/fb"'  # the shell strips the quotes later
    assert config.virtuals[0].fallbackcommand == '"/usr/local/bin/fb"'


@pytest.mark.parametrize(("value", "expected"), [
    ('"/var/log/lvsd.log"', "/var/log/lvsd.log"), ('"local0"', "local0"), ('"daemon"', "daemon"),
    ('"/var/log/x.log" # the log', "/var/log/x.log")])
def test_logfile_is_a_quoted_path_or_syslog_facility(value: str, expected: str) -> None:
    assert load(cf(f"logfile={value}")).logfile == expected


@pytest.mark.parametrize(("value", "message"), [
    ("/var/log/x.log", '1:9: logfile must be in double quotes: logfile="/var/log/x.log"'),
    ('"var/log/x.log"', "1:9: logfile must be an absolute path or a syslog facility (auth, "
                        "authpriv, cron, daemon, ftp, kern, lpr, mail, news, syslog, user, "
                        "uucp, local0, local1, local2, local3, local4, local5, local6 or "
                        "local7), not 'var/log/x.log'"),
    ('"/var/log/x.log', "1:24: missing closing '\"'"),
])
def test_invalid_logfile(value: str, message: str) -> None:
    assert error(cf(f"logfile={value}")) == message


@pytest.mark.parametrize(("name", "attr"), [
    ("autoreload", "autoreload"), ("readdquiescent", "readdquiescent"),
    ("supervised", "supervised"), ("cleanstop", "cleanstop")])
def test_global_yes_no_directives(name: str, attr: str) -> None:
    assert getattr(load(cf(f"{name}=yes")), attr) is True
    assert getattr(load(cf(f"{name}=no")), attr) is False


def test_invalid_yes_no() -> None:
    assert error(cf("autoreload=true")) == "1:12: autoreload must be 'yes' or 'no', not 'true'"


def test_cleanstop_global_is_the_virtual_default() -> None:
    assert one(cf("cleanstop=no", VIRTUAL, REAL)).cleanstop is False


def test_bare_supervised_means_yes_with_a_warning() -> None:
    text = cf("supervised")
    assert load(text).supervised is True
    assert warnings(text) == ["1:1: please update your config not to use a bare supervised "
                              "directive (read as supervised=yes)"]


def test_fork_is_stored_with_a_warning_that_it_has_no_effect() -> None:
    text = cf("fork=yes")
    assert load(text).fork is True
    assert warnings(text) == ["1:1: fork=yes has no effect in lvsd: every real server is "
                              "already checked on its own schedule"]


def test_maintenancedir_is_stored() -> None:
    assert load(cf("maintenancedir=/etc/ha.d/maint")).maintenancedir == "/etc/ha.d/maint"


def test_quoted_raw_value_keeps_its_quotes_with_a_warning() -> None:
    text = cf('maintenancedir="/etc/maint"')
    assert load(text).maintenancedir == '"/etc/maint"'
    assert warnings(text) == ["1:16: the quotes are part of the value: ldirectord does not "
                              "strip them for maintenancedir"]


def test_raw_value_trailing_blanks_are_dropped_with_a_warning() -> None:
    text = cf("maintenancedir=/etc/maint  ")
    assert load(text).maintenancedir == "/etc/maint"
    assert warnings(text) == ["1:26: trailing blanks ignored (ldirectord would keep them as "
                              "part of the value)"]


def test_callback_must_be_quoted() -> None:
    assert load(cf('callback="/usr/local/bin/cb"')).callback == "/usr/local/bin/cb"
    assert error(cf("callback=/x")) == '1:10: callback must be in double quotes: callback="/x"'


def test_empty_callback_is_ignored_with_a_warning() -> None:
    assert load(cf('callback=""')).callback is None
    assert warnings(cf('callback=""'))[0].endswith("empty callback: ignored (ldirectord never "
                                                   "runs it either)")


def test_execute_may_repeat_and_keeps_order_without_duplicates() -> None:
    config = load(cf("execute=b.cf", "execute=a.cf", "execute=b.cf"))
    assert config.execute == ("b.cf", "a.cf")


def test_email_settings_are_stored_and_inherited() -> None:
    config = load(cf('emailalert="ops@example.com, oncall@example.com"', "emailalertfreq=3600",
                     "emailalertstatus=starting, running", "emailalertfrom=lvs@example.com",
                     "smtp=mail.example.com", VIRTUAL, REAL))
    assert config.emailalert == "ops@example.com, oncall@example.com"
    assert (config.emailalertfreq, config.emailalertfrom, config.smtp) == (
        3600, "lvs@example.com", "mail.example.com")
    assert config.emailalertstatus == {"starting", "running"}
    virtual = config.virtuals[0]
    assert (virtual.emailalert, virtual.emailalertfreq, virtual.smtp) == (
        config.emailalert, 3600, "mail.example.com")


@pytest.mark.parametrize(("value", "expected"), [
    ("all", ALL_EMAIL_STATUSES), ("none", frozenset()), ("stopping,reloading", {"stopping",
                                                                               "reloading"}),
    ("starting,all", ALL_EMAIL_STATUSES)])
def test_emailalertstatus_values(value: str, expected: frozenset[str]) -> None:
    assert load(cf(f"emailalertstatus={value}")).emailalertstatus == expected


@pytest.mark.parametrize(("value", "message"), [
    ("sometimes", "1:18: invalid email alert status 'sometimes' (expected a comma separated "
                  "list of all, none, reloading, running, starting or stopping)"),
    ("none,running", "1:18: invalid email alert status: 'none' cannot be combined with others"),
])
def test_invalid_emailalertstatus(value: str, message: str) -> None:
    assert error(cf(f"emailalertstatus={value}")) == message


def test_emailalert_needs_an_address() -> None:
    assert error(cf('emailalert=""')) == "1:12: emailalert needs an email address"


def test_invalid_smtp() -> None:
    assert error(cf("smtp=@mail")) == (
        "1:6: invalid SMTP server address (expected a host name or address)")


# -- lvsd extension: the connection sync daemons of a director pair (issue 12) ---------------------


def test_sync_settings_are_read_with_the_kernels_defaults_left_unset() -> None:
    assert load("").sync is None
    config = load(cf("syncinterface = eth1"))
    assert config.sync == SyncSettings(interface="eth1", role="both")
    full = load(cf("syncinterface=bond0.12", "syncrole=vrrp", "syncid=51", "syncmaxlen=1400",
                   "syncgroup=239.0.0.81", "syncport=8900", "syncttl=2"))
    assert full.sync == SyncSettings(interface="bond0.12", role="vrrp", syncid=51, maxlen=1400, group="239.0.0.81",
                                     port=8900, ttl=2)
    assert load(cf("syncinterface=eth1", "syncgroup=FF02::0081")).sync == SyncSettings("eth1", group="ff02::81")


def test_sync_errors_name_their_line() -> None:
    assert error(cf("checkinterval=5", "syncid=3")) == (
        "2:1: syncid needs syncinterface (the interface the sync daemons use)")
    assert error(cf("syncinterface=eth1", "syncgroup=192.0.2.1")) == (
        "2:11: syncgroup must be a multicast address (224.0.0.0/4 or ff00::/8), not 192.0.2.1")
    assert error(cf("syncinterface=eth1", "syncrole=active")) == (
        "2:10: unknown syncrole 'active' (expected both, master, backup or vrrp)")
    assert error(cf("syncinterface=averyveryverylongname")).startswith(
        "1:15: syncinterface must be a network interface name (at most 15 characters)")
    assert error(cf("syncinterface=eth1", "syncid=256")) == "2:8: syncid must be a whole number from 0 to 255, not 256"
    assert error(cf("syncinterface=eth1", "syncttl=0")) == "2:9: syncttl must be a whole number from 1 to 255, not 0"


def test_sync_directives_are_global_only() -> None:
    assert "syncid" in error(cf(VIRTUAL, REAL, "\tsyncid=3"))
