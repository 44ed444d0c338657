"""Effective values (reference §1.6): per-virtual over global, the timeout mutual fallback."""

from __future__ import annotations

import pytest

from lvsd.config.model import Fallback
from tests.config.helpers import REAL, VIRTUAL, cf, load, one


@pytest.mark.parametrize(("vct", "vnt", "gct", "gnt", "expected"), [
    (None, None, None, None, (5, 30)),
    (None, None, 3, None, (3, 3)),
    (None, None, None, 20, (20, 20)),
    (None, None, 3, 20, (3, 20)),
    (7, None, None, None, (7, 7)),
    (None, 9, None, None, (9, 9)),
    (7, None, None, 20, (7, 7)),  # a virtual value of either beats both globals
    (None, 9, 3, None, (9, 9)),
    (7, 9, 3, 20, (7, 9)),
])
def test_checktimeout_and_negotiatetimeout_resolution(
        vct: int | None, vnt: int | None, gct: int | None, gnt: int | None,
        expected: tuple[int, int]) -> None:
    lines = [f"checktimeout={gct}"] if gct else []
    lines += [f"negotiatetimeout={gnt}"] if gnt else []
    lines += [VIRTUAL, REAL]
    lines += [f"\tchecktimeout={vct}"] if vct else []
    lines += [f"\tnegotiatetimeout={vnt}"] if vnt else []
    virtual = one(cf(*lines))
    assert (virtual.checktimeout, virtual.negotiatetimeout) == expected


def test_globals_written_after_a_block_still_apply_to_it() -> None:
    virtual = one(cf(VIRTUAL, REAL, "", "checktimeout=4", "quiescent=yes", "failurecount=3",
                     "checkinterval=2", "fallback=127.0.0.1"))
    assert (virtual.checktimeout, virtual.quiescent, virtual.failurecount,
            virtual.checkinterval) == (4, True, 3, 2)
    assert virtual.fallback == Fallback(ip="127.0.0.1", port=80, forward="gate")


def test_each_virtual_resolves_on_its_own() -> None:
    config = load(cf("checktimeout=3", VIRTUAL, REAL, "\tchecktimeout=8",
                     "virtual=192.0.2.2:80", REAL))
    assert [v.checktimeout for v in config.virtuals] == [8, 3]


def test_email_and_fallbackcommand_per_virtual_override_globals() -> None:
    config = load(cf("fallbackcommand=/bin/global", "emailalert=ops@example.com", VIRTUAL,
                     "\tfallbackcommand=/bin/mine", "\temailalert=web@example.com",
                     "virtual=192.0.2.2:80"))
    assert [(v.fallbackcommand, v.emailalert) for v in config.virtuals] == [
        ("/bin/mine", "web@example.com"), ("/bin/global", "ops@example.com")]


def test_virtuals_keep_file_order() -> None:
    config = load(cf("virtual=192.0.2.3:80", "virtual=192.0.2.1:80", "virtual=5"))
    assert [v.label for v in config.virtuals] == ["192.0.2.3:80", "192.0.2.1:80", "5"]


def test_config_path_is_kept_as_given() -> None:
    assert load("").path == "/etc/ha.d/ldirectord.cf"
    assert load("").name == "ldirectord.cf"
