"""convert loses no meaning: parse(convert(x)) == parse(x), for ldirectord.cf and YAML.

Checked on every valid conformance case and on models hypothesis builds from
what ldirectord.cf can express (the writer refuses the rest; tested in
test_yaml.py).
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvsd.config import ldirectord, writer, yaml_reader
from lvsd.config.directives import CHECKTYPES, SCHEDULERS, SERVICES
from lvsd.config.loader import load
from lvsd.config.model import (
    ALL_EMAIL_STATUSES,
    Config,
    Fallback,
    RealServer,
    SyncSettings,
    VirtualService,
    VrrpNode,
    VrrpSettings,
)
from tests.config.helpers import FakeResolver
from tests.conformance.cases import CASES_DIR, all_cases

VALID = [c for c in all_cases() if c.valid]
PATH = "/etc/ha.d/ldirectord.cf"


def both_ways(config: Config) -> None:
    text, _ = writer.to_ldirectord(config)
    assert ldirectord.parse(text, config.path, resolver=FakeResolver()) == config, text
    doc, _ = writer.to_yaml(config)
    assert yaml_reader.parse(doc, config.path, resolver=FakeResolver()) == config, doc
    # and ldirectord -> yaml -> ldirectord
    again, _ = writer.to_ldirectord(yaml_reader.parse(doc, config.path, resolver=FakeResolver()))
    assert again == text


@pytest.mark.parametrize("case", VALID, ids=str)
def test_conformance_cases_round_trip(case: object) -> None:
    cwd = os.getcwd()
    os.chdir(CASES_DIR)
    try:
        config = load(str(CASES_DIR / f"{case}.cf"))
    finally:
        os.chdir(cwd)
    both_ways(config)


SAFE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters='"#'),
               min_size=1, max_size=12).map(str.strip).filter(bool)
WORD = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
PATHS = WORD.map(lambda w: f"/etc/lvsd/{w}")


@st.composite
def reals(draw: st.DrawFn, ipv6: bool, fwmark: bool) -> tuple[RealServer, ...]:
    octets = draw(st.lists(st.integers(1, 254), unique=True, max_size=4))
    out = []
    for n in octets:
        ip = f"2001:db8::{n:x}" if ipv6 else f"203.0.113.{n}"
        pair = draw(st.none() | st.tuples(SAFE.map(lambda s: "/" + s.lstrip("/")), SAFE | st.just("")))
        out.append(RealServer(ip=ip, port=draw(st.integers(0, 65535)), forward=draw(st.sampled_from(
            ["gate", "masq", "ipip"])), weight=draw(st.integers(0, 65535)),
            request=pair[0] if pair else None, receive=pair[1] if pair else None,
            lower=draw(st.integers(0, 1000)), upper=draw(st.integers(0, 1000))))
    return tuple(out)


@st.composite
def virtuals(draw: st.DrawFn, index: int, checkinterval: float) -> VirtualService:
    kind = draw(st.sampled_from(["v4", "v6", "fwm"]))
    ipv6 = kind == "v6" or (kind == "fwm" and draw(st.booleans()))
    fwmark = index + 1 if kind == "fwm" else None
    port = 0 if fwmark else draw(st.integers(1, 65535))
    protocol = "fwm" if fwmark else draw(st.sampled_from(["tcp", "udp"]))
    ip = None if fwmark else (f"2001:db8:1::{index + 1:x}" if ipv6 else f"198.51.100.{index + 1}")
    persistent = draw(st.none() | st.integers(1, 86400))
    netmask = draw(st.none() | (st.integers(1, 128).map(str) if ipv6 else st.sampled_from(
        ["255.255.255.0", "255.255.0.0"])))
    combined = draw(st.none() | st.integers(0, 9))
    service = draw(st.sampled_from(SERVICES))
    needs_login = service in ("ftp", "sip")
    secs = st.integers(1, 600).map(float)
    fb_ip = draw(st.sampled_from(["::1", "2001:db8::99"] if ipv6 else ["127.0.0.1", "192.0.2.99"]))
    return VirtualService(
        protocol=protocol, ip=ip, port=port, fwmark=fwmark, ipv6=ipv6,  # type: ignore[arg-type]
        reals=draw(reals(ipv6, fwmark is not None)), scheduler=draw(st.sampled_from(SCHEDULERS)),
        persistent=persistent, netmask=netmask,
        checktype="negotiate" if combined is not None else draw(st.sampled_from(CHECKTYPES)),
        connects_per_negotiate=combined, service=service,
        request=draw(st.just("/") | SAFE.map(lambda s: "/" + s.lstrip("/"))),
        receive=draw(st.just("") | SAFE), virtualhost=draw(st.none() | WORD),
        httpmethod=draw(st.sampled_from(["GET", "HEAD"])), checkport=draw(st.none() | st.integers(1, 65535)),
        checktimeout=draw(secs), negotiatetimeout=draw(secs),
        checkinterval=draw(st.just(checkinterval) | secs), failurecount=draw(st.integers(1, 5)),
        quiescent=draw(st.booleans()), cleanstop=draw(st.booleans()),
        fallback=draw(st.none() | st.builds(Fallback, ip=st.just(fb_ip), port=st.integers(0, 65535),
                                            forward=st.sampled_from(["gate", "masq", "ipip"]))),
        checkcount=draw(st.integers(1, 3)), checkcommand=draw(st.just("/bin/true") | PATHS),
        login=draw(SAFE if needs_login else st.just("") | SAFE),
        passwd=draw(SAFE if needs_login else st.just("") | SAFE),
        database=draw(st.just("") | SAFE), secret=draw(st.just("") | SAFE), load=draw(st.none() | WORD),
        schedflags=draw(st.none() | st.just("sh-port")), ops=draw(st.booleans()),
        fallbackcommand=draw(st.none() | PATHS), emailalert=draw(st.just("") | st.just("ops@example.com")),
        emailalertfreq=draw(st.integers(0, 3600)),
        emailalertstatus=draw(st.frozensets(st.sampled_from(sorted(ALL_EMAIL_STATUSES)))),
        smtp=draw(st.none() | st.just("127.0.0.1")), monitorfile=draw(st.none() | PATHS),
        servicename=draw(st.none() | SAFE), comment=draw(st.none() | SAFE),
        drain=draw(st.booleans()), draintimeout=draw(secs),
    )


@st.composite
def configs(draw: st.DrawFn) -> Config:
    checkinterval = float(draw(st.integers(1, 120)))
    n = draw(st.integers(0, 3))
    return Config(
        path=PATH, virtuals=tuple(draw(virtuals(i, checkinterval)) for i in range(n)),
        logfile=draw(st.sampled_from(["/var/log/ldirectord.log", "/var/log/lvsd.log", "local0"])),
        checkinterval=checkinterval, cleanstop=draw(st.booleans()), autoreload=draw(st.booleans()),
        readdquiescent=draw(st.booleans()), supervised=draw(st.booleans()),
        maintenancedir=draw(st.none() | PATHS), fork=draw(st.booleans()), callback=draw(st.none() | PATHS),
        execute=tuple(draw(st.lists(PATHS, unique=True, max_size=2))),
        emailalertfrom=draw(st.none() | st.just("lvsd@example.com")),
        emailalertfreq=draw(st.integers(0, 60)),
        emailalertstatus=draw(st.frozensets(st.sampled_from(sorted(ALL_EMAIL_STATUSES)))),
        resyncinterval=draw(st.none() | st.integers(1, 3600).map(float)),
        sync=draw(st.none() | st.builds(
            SyncSettings, interface=st.sampled_from(["eth1", "bond0.12"]),
            role=st.sampled_from(["both", "master", "backup", "vrrp"]), syncid=st.integers(0, 255),
            maxlen=st.just(0) | st.integers(1, 65507), group=st.sampled_from(["", "239.1.2.3", "ff02::81"]),
            port=st.just(0) | st.integers(1, 65535), ttl=st.just(0) | st.integers(1, 255))),
        vrrptrackfile=draw(st.none() | PATHS),
        vrrp=draw(st.none() | st.builds(
            VrrpSettings, interface=st.sampled_from(["", "eth0"]), vrid=st.integers(1, 255),
            advert=st.sampled_from([1.0, 0.25, 3.0]), warmup=st.integers(0, 3600),
            nodes=st.lists(st.builds(VrrpNode, name=st.sampled_from(["a", "b", "lvs-2"]), priority=st.integers(1, 254),
                                     address=st.sampled_from(["", "192.0.2.7", "2001:db8::7"])),
                           max_size=3, unique_by=lambda n: n.name).map(tuple),
            addresses=st.lists(st.sampled_from([("203.0.113.1/24", "eth1"), ("198.51.100.9/32", "")]),
                               max_size=2, unique=True).map(tuple))),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_generated_models_round_trip(config: Config) -> None:
    both_ways(config)


def test_a_virtual_cannot_refuse_a_global_fallbackcommand() -> None:
    from lvsd.config.errors import ConfigError

    v = VirtualService(protocol="tcp", ip="198.51.100.1", port=80)
    config = Config(path=PATH, virtuals=(v,), fallbackcommand="/bin/true")
    with pytest.raises(ConfigError, match="no fallbackcommand while the globals set one"):
        writer.to_ldirectord(config)
    assert writer.to_ldirectord(replace(config, virtuals=(replace(v, fallbackcommand="/bin/true"),)))
