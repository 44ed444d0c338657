"""Helpers for the config tests: a fake resolver and short ways to parse and read diagnostics."""

from __future__ import annotations

from lvsd.config.errors import ConfigError
from lvsd.config.ldirectord import parse
from lvsd.config.model import Config, VirtualService

PATH = "/etc/ha.d/ldirectord.cf"


class FakeResolver:
    """Answers from tables; records every question so tests can see what was asked."""

    def __init__(self) -> None:
        self.hosts = {
            ("www.example.com", False): "192.0.2.80",
            ("www.example.com", True): "2001:db8::80",
            ("real1.example.com", False): "10.0.0.1",
            ("real5.example.com", False): "10.0.0.5",
            ("fallback.example.com", False): "127.0.0.9",
            ("v6only.example.com", True): "2001:db8::6",
        }
        self.ports = {
            ("http", "tcp"): 80, ("http", "udp"): 80, ("http", None): 80,
            ("https", "tcp"): 443, ("https", None): 443,
            ("domain", "tcp"): 53, ("domain", "udp"): 53, ("domain", None): 53,
            ("tcponly", "tcp"): 7000, ("tcponly", None): 7000,
        }
        self.asked: list[tuple[str, object]] = []

    def host(self, name: str, ipv6: bool) -> str:
        self.asked.append(("host", (name, ipv6)))
        try:
            return self.hosts[(name, ipv6)]
        except KeyError:
            raise LookupError("Name or service not known") from None

    def port(self, name: str, protocol: str | None) -> int:
        self.asked.append(("port", (name, protocol)))
        try:
            return self.ports[(name, protocol)]
        except KeyError:
            raise LookupError("service not found") from None


def cf(*lines: str) -> str:
    """A config file from its lines."""
    return "\n".join(lines) + "\n"


def load(text: str, resolver: FakeResolver | None = None) -> Config:
    return parse(text, PATH, resolver=resolver or FakeResolver())


def one(text: str) -> VirtualService:
    """The single virtual service of a config that must be valid."""
    config = load(text)
    assert len(config.virtuals) == 1, config.virtuals
    return config.virtuals[0]


def errors(text: str, resolver: FakeResolver | None = None) -> list[str]:
    """Every error as "LINE:COL: message"; the config must be invalid."""
    try:
        load(text, resolver)
    except ConfigError as exc:
        assert all(d.file == PATH for d in exc.diagnostics)
        return [f"{d.line}:{d.col}: {d.message}" for d in exc.diagnostics]
    raise AssertionError("expected a ConfigError")


def error(text: str) -> str:
    """The one error of an invalid config, as "LINE:COL: message"."""
    found = errors(text)
    assert len(found) == 1, found
    return found[0]


def warnings(text: str) -> list[str]:
    """Every warning of a valid config, as "LINE:COL: message"."""
    return [f"{d.line}:{d.col}: {d.message}" for d in load(text).warnings]


VIRTUAL = "virtual=192.0.2.1:80"
REAL = "\treal=10.0.0.1:80 gate"
