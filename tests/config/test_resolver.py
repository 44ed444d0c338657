"""Name resolution goes through the injected resolver; failures are errors at the name."""

from __future__ import annotations

import pytest

from lvsd.config.resolver import SocketResolver
from tests.config.helpers import VIRTUAL, FakeResolver, cf, errors, load


def test_literal_addresses_and_numeric_ports_never_reach_the_resolver() -> None:
    resolver = FakeResolver()
    load(cf("fallback=127.0.0.1:80", VIRTUAL, "\treal=10.0.0.1:80 gate",
            "virtual6=[2001:db8::1]:80", "\treal6=[2001:db8::2]:80 gate"), resolver)
    assert resolver.asked == []


def test_each_name_is_asked_once() -> None:
    resolver = FakeResolver()
    load(cf("virtual=www.example.com:80", "\treal=real1.example.com:80 gate",
            "virtual=www.example.com:443", "\treal=real1.example.com:80 gate"), resolver)
    assert resolver.asked.count(("host", ("www.example.com", False))) == 1
    assert resolver.asked.count(("host", ("real1.example.com", False))) == 1


def test_a_resolver_answer_of_the_wrong_family_is_an_error() -> None:
    resolver = FakeResolver()
    resolver.hosts[("odd.example.com", False)] = "2001:db8::1"
    assert errors(cf("virtual=odd.example.com:80"), resolver) == [
        "1:9: cannot resolve host 'odd.example.com' to an IPv4 address (got 2001:db8::1)"]


def test_a_crashing_resolver_is_a_config_error_not_a_crash() -> None:
    class Broken(FakeResolver):
        def host(self, name: str, ipv6: bool) -> str:
            raise RuntimeError("resolver exploded")

    assert errors(cf("virtual=www.example.com:80"), Broken()) == [
        "1:9: cannot resolve host 'www.example.com' to an IPv4 address (resolver exploded)"]


def test_ipv6_resolution_asks_for_ipv6() -> None:
    resolver = FakeResolver()
    config = load(cf("virtual6=v6only.example.com:80"), resolver)
    assert config.virtuals[0].ip == "2001:db8::6"
    assert resolver.asked == [("host", ("v6only.example.com", True))]


def test_socket_resolver_with_literals_needs_no_network() -> None:
    resolver = SocketResolver()
    assert resolver.host("127.0.0.1", False) == "127.0.0.1"
    assert resolver.host("::1", True) == "::1"


def test_socket_resolver_raises_lookup_error() -> None:
    with pytest.raises(LookupError):
        SocketResolver().host("::1", False)  # an IPv6 literal has no IPv4 address
    with pytest.raises(LookupError):
        SocketResolver().port("no-such-service-lvsd", "tcp")
