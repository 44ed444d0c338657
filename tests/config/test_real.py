"""The real= grammar (reference §1.5): addresses, ranges, ports, weights, checks, thresholds."""

from __future__ import annotations

import pytest

from lvsd.config.model import RealServer
from tests.config.helpers import VIRTUAL, FakeResolver, cf, error, errors, load, one


def reals(*lines: str, virtual: str = VIRTUAL) -> list[RealServer]:
    return list(one(cf(virtual, *lines)).reals)


def test_address_port_and_forward_method() -> None:
    (real,) = reals("\treal=10.0.0.1:8080 masq")
    assert (real.ip, real.port, real.forward, real.weight) == ("10.0.0.1", 8080, "masq", 1)
    assert real.where is not None and (real.where.line, real.where.col) == (2, 7)


@pytest.mark.parametrize("forward", ["gate", "masq", "ipip"])
def test_forward_methods(forward: str) -> None:
    assert reals(f"\treal=10.0.0.1:80 {forward}")[0].forward == forward


def test_omitted_port_is_0() -> None:
    assert reals("\treal=10.0.0.1 gate")[0].port == 0


@pytest.mark.parametrize(("weight", "expected"), [("", 1), (" 0", 0), (" 5", 5), (" 65535", 65535)])
def test_weight_defaults_to_1_and_0_is_allowed(weight: str, expected: int) -> None:
    assert reals(f"\treal=10.0.0.1:80 gate{weight}")[0].weight == expected


def test_weight_above_65535_is_an_error() -> None:
    assert error(cf(VIRTUAL, "\treal=10.0.0.1:80 gate 65536")) == (
        "2:24: weight must be from 0 to 65535, not 65536")


@pytest.mark.parametrize("sep", [" ", ",", ", ", "  "])
def test_request_and_receive_per_real(sep: str) -> None:
    (real,) = reals(f'\treal=10.0.0.1:80 gate 2 "health"{sep}"up and running"')
    assert (real.weight, real.request, real.receive) == (2, "/health", "up and running")


def test_request_receive_without_weight_and_empty_strings() -> None:
    (real,) = reals('\treal=10.0.0.1:80 gate "" ""')
    assert (real.weight, real.request, real.receive) == (1, "/", "")


def test_absolute_url_request_is_kept_with_ldirectords_leading_slash() -> None:
    (real,) = reals('\treal=10.0.0.1:80 gate "http://www.example.com/x" "OK"')
    assert real.request == "/http://www.example.com/x"


def test_thresholds() -> None:
    (real,) = reals("\treal=10.0.0.1:80 gate 1 l:10 u:100")
    assert (real.lower, real.upper) == (10, 100)


def test_everything_on_one_line() -> None:
    (real,) = reals('\treal=10.0.0.1:80 masq 3 "/a", "b" l:1 u:2')
    assert (real.weight, real.request, real.receive, real.lower, real.upper) == (
        3, "/a", "b", 1, 2)


def test_upper_threshold_alone() -> None:
    assert reals("\treal=10.0.0.1:80 gate u:50")[0].upper == 50


def test_range_expands_to_one_real_per_address() -> None:
    found = reals("\treal=10.0.0.254->10.0.1.1:80 gate 2")
    assert [r.ip for r in found] == ["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"]
    assert {(r.port, r.weight) for r in found} == {(80, 2)}


def test_range_of_hostnames_is_resolved_first() -> None:
    found = reals("\treal=real1.example.com->real5.example.com gate")
    assert [r.ip for r in found] == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"]


def test_hostname_and_service_name_port_resolve_for_any_protocol() -> None:
    resolver = FakeResolver()
    config = load(cf(VIRTUAL, "\treal=real1.example.com:https gate"), resolver)
    assert config.virtuals[0].reals[0].key == ("10.0.0.1", 443)
    assert ("port", ("https", None)) in resolver.asked


def test_real6_in_a_virtual6() -> None:
    (real,) = reals("\treal6=[2001:db8::0:2]:80 masq", virtual="virtual6=[2001:db8::1]:80")
    assert (real.ip, str(real)) == ("2001:db8::2", "[2001:db8::2]:80")


@pytest.mark.parametrize(("line", "message"), [
    ("\treal=10.0.0.1:80", "2:18: missing forward method after the real server address "
                           "(expected gate, masq or ipip)"),
    ("\treal=10.0.0.1:80 route", "2:19: forward method must be gate, masq or ipip, not 'route'"),
    ("\treal=10.0.0.1:80 gate 1 foo l:5", "2:26: unexpected 'foo l:5' in real server line "
                                          '(expected a weight, "REQUEST" "RECEIVE", l:LOWER, '
                                          "u:UPPER, in that order)"),
    ("\treal=10.0.0.1:80 gate 1 u:100 l:10", "2:32: l: must come before u: (ldirectord silently "
                                             "ignores a u: threshold written before l:)"),
    ('\treal=10.0.0.1:80 gate 1 "l:10" "u:100"', '2:26: quoted thresholds: ldirectord reads '
                                                 '"l:10" "u:100" as request "/l:10" and receive '
                                                 '"u:100"; write them unquoted: l:10 u:100'),
    ('\treal=10.0.0.1:80 gate 1 "/only-request"', "2:26: expected two quoted strings, the "
                                                  "request and the receive string "
                                                  '("REQUEST" "RECEIVE")'),
    ("\treal=10.0.0.1:80 gate 5x", "2:24: unexpected '5x' in real server line (expected a "
                                   'weight, "REQUEST" "RECEIVE", l:LOWER, u:UPPER, in that '
                                   "order)"),
    ("\treal=10.0.0.5->10.0.0.1 gate", "2:7: invalid range 10.0.0.5->10.0.0.1: the first "
                                       "address must not be greater than the last"),
    ("\treal=10.0.0.0->10.1.0.0 gate", "2:7: range 10.0.0.0->10.1.0.0 has 65537 addresses (at "
                                       "most 65536 allowed)"),
    ("\treal=nowhere.example:80 gate", "2:7: cannot resolve host 'nowhere.example' to an IPv4 "
                                       "address (Name or service not known)"),
    ("\treal=10.0.0.1:nosuch gate", "2:16: unknown service name 'nosuch' for a port (service "
                                    "not found)"),
    ("\treal=10.0.0.1:70000 gate", "2:16: port must be from 0 to 65535, not 70000"),
    ("\treal=[2001:db8::2]:80 gate", "2:7: IPv6 address [2001:db8::2] where an IPv4 address is "
                                     "expected (use virtual6=, real6= or fallback6=)"),
    ("\treal6=[2001:db8::2]:80 gate", "2:2: cannot use real6 in a virtual block; use real"),
    ("\treal=", "2:7: invalid address for real server (expected ADDRESS[->ADDRESS][:PORT] "
                "followed by gate, masq or ipip)"),
    ("\treal=10.0.0.1:80 gate l:99999999999", "2:26: l: must be from 0 to 2147483647, not "
                                              "99999999999"),
])
def test_invalid_real(line: str, message: str) -> None:
    assert error(cf(VIRTUAL, line)) == message


@pytest.mark.parametrize(("line", "message"), [
    ("\treal6=[2001:db8::2]->[2001:db8::5]:80 gate", "2:8: address ranges are not supported "
                                                     "for IPv6 (as in ldirectord)"),
    ("\treal6=2001:db8::2 gate", "2:8: IPv6 addresses must be written in brackets: "
                                 "[IPv6]:PORT"),
    ("\treal=10.0.0.1 gate", "2:2: cannot use real in a virtual6 block; use real6"),
])
def test_invalid_real6(line: str, message: str) -> None:
    assert error(cf("virtual6=[2001:db8::1]:80", line)) == message


def test_duplicate_real_names_both_lines() -> None:
    assert errors(cf(VIRTUAL, "\treal=10.0.0.1:80 gate", "\treal=10.0.0.2:80 gate",
                     "\treal=10.0.0.1:80 masq 5")) == [
        "4:7: duplicate real server 10.0.0.1:80 (already on line 2)"]


def test_overlapping_ranges_are_duplicates() -> None:
    assert errors(cf(VIRTUAL, "\treal=10.0.0.1->10.0.0.5:80 gate",
                     "\treal=10.0.0.4->10.0.0.9:80 gate")) == [
        "3:7: duplicate real server 10.0.0.4:80 (already on line 2)"]


def test_gate_reals_that_ipvsadm_maps_to_the_same_port_are_duplicates() -> None:
    assert errors(cf(VIRTUAL, "\treal=10.0.0.1 gate", "\treal=10.0.0.1:80 gate")) == [
        "3:7: real server 10.0.0.1:80 is the same IPVS destination as 10.0.0.1:0 on line 2 "
        "(ipvsadm gives gate and ipip real servers the virtual's port)"]


def test_masq_reals_on_different_ports_are_different() -> None:
    found = reals("\treal=10.0.0.1:8080 masq", "\treal=10.0.0.1:8081 masq")
    assert [r.key for r in found] == [("10.0.0.1", 8080), ("10.0.0.1", 8081)]


def test_same_real_in_two_virtuals_is_fine() -> None:
    config = load(cf(VIRTUAL, "\treal=10.0.0.1:80 gate", "virtual=192.0.2.2:80",
                     "\treal=10.0.0.1:80 gate"))
    assert [len(v.reals) for v in config.virtuals] == [1, 1]


def test_fwmark_reals_keep_their_ports() -> None:
    found = reals("\treal=10.0.0.1 gate", "\treal=10.0.0.1:80 gate", virtual="virtual=7")
    assert [r.port for r in found] == [0, 80]
