"""The conformance suite: every case's expected outcome, and ldirectord's verdict on it.

Three claims, each a test:

* lvsd gives every case the outcome its header states (valid; or invalid with
  the first error at LINE:COL and the message);
* lvsd's accept/reject verdict equals real ldirectord's (recorded by
  record_ldirectord_verdicts.py into ldirectord_verdicts.json) on every case,
  except the divergences listed in cases.py, which must really diverge, the
  way their kind says;
* with ldirectord installed and LVSD_LDIRECTORD_LIVE=1, the recording still
  matches what ldirectord says today.

Cases are loaded with the real loader and the system resolver (they use only
literal addresses, ``localhost`` and /etc/services names).
"""

from __future__ import annotations

import os

import pytest

from lvsd.config.directives import DIRECTIVES
from lvsd.config.errors import ConfigError
from lvsd.config.loader import load
from tests.conformance import record_ldirectord_verdicts as recorder
from tests.conformance.cases import CASES_DIR, DIVERGENCES, Case, all_cases, ldirectord_verdicts

CASES = all_cases()


def lvsd_verdict(case: Case) -> tuple[bool, ConfigError | None]:
    cwd = os.getcwd()
    os.chdir(CASES_DIR)  # execute= and other relative names, as ldirectord sees them
    try:
        load(str(case.path))
    except ConfigError as exc:
        return False, exc
    finally:
        os.chdir(cwd)
    return True, None


# lvsd's own directives: ldirectord rejects them, so they have no place in a suite judged by it.
LVSD_ONLY = frozenset(("drain", "draintimeout", "resyncinterval", "risecount", "tlsverify", "tlscafile",
                       "tlsservername", "syncinterface", "syncrole", "syncid", "syncmaxlen", "syncgroup",
                       "syncport", "syncttl", "vrrptrackfile", "vrrpinterface", "vrrpid", "vrrpadvert",
                       "vrrpwarmup", "vrrpnode", "vrrpaddress", "announce", "announceinterface", "announcerise",
                       "announcefall", "announcefallback", "withdrawwait", "announceattributes"))


def test_suite_size_and_coverage() -> None:
    assert len(CASES) >= 60
    text = "\n".join(c.path.read_text(encoding="utf-8") for c in CASES)
    missing = [name for name in DIRECTIVES
               if name not in LVSD_ONLY and f"{name}=" not in text and f"{name} =" not in text]
    assert not missing, (f"directives no case uses: {missing} (add a case, or list an lvsd-only "
                         "directive in LVSD_ONLY)")
    assert sum(c.valid for c in CASES) >= 30 and sum(not c.valid for c in CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case_outcome(case: Case) -> None:
    valid, exc = lvsd_verdict(case)
    if case.valid:
        assert valid, f"{case.name} should load:\n{exc}"
        return
    assert exc is not None, f"{case.name} should be rejected"
    first = exc.diagnostics[0]
    assert first.file == str(case.path)
    assert (first.line, first.col) == (case.line, case.col), exc.format()
    assert case.message in first.message, exc.format()
    assert f"{case.path}:{case.line}:{case.col}: error: " in exc.format()


def test_verdicts_cover_every_case() -> None:
    assert set(ldirectord_verdicts()) == {c.name for c in CASES}, (
        "re-run tests/conformance/record_ldirectord_verdicts.py after adding or renaming cases")
    assert set(DIVERGENCES) <= {c.name for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_same_verdict_as_ldirectord(case: Case) -> None:
    recorded = ldirectord_verdicts()[case.name]
    ld_valid = recorded["verdict"] == "valid"
    valid, _ = lvsd_verdict(case)
    assert valid == case.valid
    if case.name not in DIVERGENCES:
        assert valid == ld_valid, (f"{case.name}: lvsd says {'valid' if valid else 'invalid'}, ldirectord "
                                   f"said {recorded}; fix lvsd or document the divergence in cases.py")
        return
    kind, reason = DIVERGENCES[case.name]
    assert reason
    if kind == "lenient":
        assert valid and not ld_valid, f"{case.name} is listed as lenient but {recorded}"
    else:
        assert ld_valid and not valid, f"{case.name} is listed as stricter but {recorded}"


def test_agreement_count() -> None:
    verdicts = ldirectord_verdicts()
    same = sum((verdicts[c.name]["verdict"] == "valid") == c.valid for c in CASES)
    assert same == len(CASES) - len(DIVERGENCES)


@pytest.mark.host  # 109 perl starts: about a minute on the host, a quarter of an hour under UML
@pytest.mark.skipif(os.environ.get("LVSD_LDIRECTORD_LIVE") != "1" or recorder.ldirectord() is None,
                    reason="set LVSD_LDIRECTORD_LIVE=1 with ldirectord installed to re-run it")
def test_recorded_verdicts_match_live_ldirectord() -> None:
    binary = recorder.ldirectord()
    assert binary is not None
    live = recorder.record_all(binary)
    assert live == ldirectord_verdicts()
