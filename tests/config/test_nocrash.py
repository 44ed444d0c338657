"""The reader never crashes: on any text it returns a Config or raises ConfigError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvsd.config.errors import ConfigError
from lvsd.config.ldirectord import parse
from tests.config.helpers import FakeResolver

# Pieces of real configs, so that random text often gets deep into the grammar.
FRAGMENTS = [
    "virtual=", "virtual6=", "real=", "real6=", "\t", "    ", "  ", "\n", "\r\n", " ", "=", "#",
    '"', ",", "192.0.2.1", "10.0.0.1", ":80", ":http", ":0", ":domain", "[2001:db8::1]", "[::1]",
    "->", "->10.0.0.9", " gate", " masq", " ipip", " 5", " 0", ' "a" "b"', ' "/x", "y"', " l:3",
    " u:9", "l:", "u:", "checktype", "negotiate", "connect", "3", "quiescent", "yes", "no",
    "fallback", "fallback6", "protocol", "fwm", "udp", "tcp", "service", "http", "ftp", "sip",
    "scheduler", "wrr", "netmask", "64", "255.0.0.0", "persistent", "600", "logfile", "/x",
    "local0", "emailalertstatus", "all,none", "supervised", "www.example.com", "nowhere", "53",
    "checkinterval", "checktimeout", "negotiatetimeout", "request", "receive", "login",
    "99999999999999999999", "1.5", "execute", "callback", "smtp", "ops", "httpmethod", "HEAD",
    "virtualhost", "fork", "checkport", "timeout", "\u00a0", "\u201c", "\u2019", "\ufeff", "\udce9",
    "\x00", "\x0b", "\u2028", "\u0663",
]

texts = st.one_of(
    st.text(),
    st.lists(st.sampled_from(FRAGMENTS), max_size=80).map("".join),
    st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.binary().map(lambda b: b.decode("utf-8", "replace")),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_parse_returns_a_config_or_raises_config_error(text: str) -> None:
    try:
        config = parse(text, "fuzz.cf", resolver=FakeResolver())
    except ConfigError as exc:
        assert exc.diagnostics
        for diag in exc.diagnostics:
            assert "internal error" not in diag.message, diag.message
            assert diag.line >= 1 and diag.col >= 1
            diag.format()
    else:
        assert all(w.severity == "warning" for w in config.warnings)
