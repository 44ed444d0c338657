"""Lexical rules of ldirectord.cf (reference §1.1): columns, blocks, comments, characters."""

from __future__ import annotations

import pytest

from lvsd.config.errors import ConfigError
from tests.config.helpers import REAL, VIRTUAL, cf, error, errors, load, one, warnings


def test_global_directive_must_start_in_column_0() -> None:
    assert error(cf("  checkinterval=5")) == (
        "1:1: indented line outside a virtual block (global directives start in column 0; "
        "block members follow a virtual= line)")


def test_blanks_around_equals_are_allowed_at_both_levels() -> None:
    config = load(cf("checkinterval = 5", "virtual = 192.0.2.1:80", "\treal =  10.0.0.1:80 gate"))
    assert config.checkinterval == 5
    assert config.virtuals[0].reals[0].ip == "10.0.0.1"


@pytest.mark.parametrize("indent", ["    ", "\t", "        ", "  \t", "\t\t"])
def test_members_are_indented_by_4_spaces_or_a_tab(indent: str) -> None:
    assert one(cf(VIRTUAL, f"{indent}scheduler=rr")).scheduler == "rr"


@pytest.mark.parametrize("indent", [" ", "  ", "   "])
def test_member_indented_less_than_4_spaces_is_an_error(indent: str) -> None:
    assert error(cf(VIRTUAL, f"{indent}scheduler=rr")) == (
        "2:1: virtual block members must be indented by at least 4 spaces or a TAB "
        f"(this line has {len(indent)})")


def test_blank_line_ends_a_block_and_globals_may_follow() -> None:
    config = load(cf(VIRTUAL, REAL, "", "quiescent=yes", "virtual=192.0.2.2:80", REAL))
    assert [v.quiescent for v in config.virtuals] == [True, True]


def test_column_0_line_ends_a_block_without_a_blank_line() -> None:
    config = load(cf(VIRTUAL, REAL, "checkinterval=7", "virtual=192.0.2.2:80", REAL))
    assert len(config.virtuals) == 2 and config.checkinterval == 7


def test_indented_member_after_a_blank_line_is_an_error_naming_the_block() -> None:
    assert errors(cf("# web", VIRTUAL, REAL, "", "\treal=10.0.0.2:80 gate")) == [
        "5:2: indented line after the blank line 4 that ended the virtual block of line 2 "
        "(a blank line ends a block in ldirectord.cf; remove it or comment it out with '#')"]


def test_whitespace_only_line_ends_a_block_like_a_blank_line() -> None:
    assert "ended the virtual block of line 1" in error(cf(VIRTUAL, "      ", REAL))


@pytest.mark.parametrize("comment", ["# note", "\t# note", "    #note", "  # note"])
def test_full_line_comment_inside_a_block_keeps_the_block(comment: str) -> None:
    virtual = one(cf(VIRTUAL, REAL, comment, "\tscheduler=rr"))
    assert virtual.scheduler == "rr"


def test_full_line_comments_at_global_level() -> None:
    assert load(cf("# a comment", "   # indented comment", "checkinterval=3")).checkinterval == 3


def test_trailing_comment_is_stripped_inside_a_block() -> None:
    virtual = one(cf(VIRTUAL, "\treal=10.0.0.1:80 gate 3 # main server", "\tscheduler=rr # rr"))
    assert virtual.scheduler == "rr" and virtual.reals[0].weight == 3


def test_hash_inside_quotes_in_a_block_is_an_error_not_a_truncated_value() -> None:
    assert error(cf(VIRTUAL, '\tpasswd="pa#ss"')) == (
        "2:12: '#' inside a quoted value: in a virtual block ldirectord.cf treats everything "
        "from '#' as a comment, so ldirectord would cut this value short; such a value cannot "
        "be written in ldirectord.cf")


def test_hash_glued_to_a_value_in_a_block_ends_it_with_a_warning() -> None:
    text = cf(VIRTUAL, "\tvirtualhost=www.example.com#frag")
    assert one(text).virtualhost == "www.example.com"
    assert warnings(text) == ["2:29: '#' starts a comment inside a virtual block, so the value "
                              "ends just before it (as in ldirectord); put a blank before '#' "
                              "to make that clear"]


def test_global_trailing_comment_after_a_number_is_ignored_as_ldirectord_does() -> None:
    text = cf("checkinterval=5 # seconds", "virtual=192.0.2.1:80 # the web site", REAL)
    assert load(text).checkinterval == 5 and warnings(text) == []


def test_global_trailing_comment_after_yes_no_is_an_error() -> None:
    assert error(cf("quiescent=yes # comment")) == (
        "1:15: ldirectord.cf has no end-of-line comments outside virtual blocks: ldirectord "
        "would not read this '#' as a comment, and would reject or misread the value; put the "
        "comment on a line of its own")


def test_global_trailing_comment_after_a_raw_value_is_an_error() -> None:
    assert error(cf("maintenancedir=/etc/maint # comment")).startswith(
        "1:27: ldirectord.cf has no end-of-line comments")


def test_crlf_line_ends_are_accepted_with_one_warning() -> None:
    text = "quiescent=yes\r\ncleanstop=no\r\nvirtual=192.0.2.1:80\r\n\treal=10.0.0.1:80 gate\r\n"
    config = load(text)
    assert config.cleanstop is False and config.virtuals[0].quiescent is True
    assert warnings(text) == ["1:1: CR LF (Windows) line ends: lvsd ignores the CR; ldirectord "
                              "rejects yes/no values on such lines"]


def test_trailing_blank_after_yes_is_accepted_with_a_warning() -> None:
    text = cf("quiescent=yes  ")
    assert load(text).virtuals == ()
    assert warnings(text) == ["1:14: trailing blanks after a yes/no value: ldirectord rejects "
                              "this line; lvsd accepts it"]


def test_trailing_blank_after_yes_in_a_block_is_accepted_with_a_warning() -> None:
    text = cf(VIRTUAL, REAL, "\tquiescent=yes # quiesce")
    assert one(text).quiescent is True
    assert warnings(text)[0].startswith("3:15: trailing blanks after a yes/no value")


def test_no_break_space_is_an_error_naming_the_character() -> None:
    assert error(cf("checkinterval=\u00a05")) == (
        "1:15: U+00A0 NO-BREAK SPACE is not allowed here (use a plain ' '; it often comes "
        "from copying text out of a web page)")


def test_no_break_space_indentation_is_one_error_per_line() -> None:
    text = cf(VIRTUAL, "\u00a0\u00a0\u00a0\u00a0real=10.0.0.1:80 gate")
    assert error(text).startswith("2:1: U+00A0 NO-BREAK SPACE is not allowed here")


@pytest.mark.parametrize(("char", "name"), [
    ("\u201c", "U+201C LEFT DOUBLE QUOTATION MARK"),
    ("\u201d", "U+201D RIGHT DOUBLE QUOTATION MARK"),
])
def test_typographic_quotes_are_errors_naming_the_character(char: str, name: str) -> None:
    found = errors(cf(VIRTUAL, f'\trequest={char}/health"'))
    assert found == [f"2:10: {name} is not allowed here (use a plain '\"'; it often comes from "
                     "copying text out of a web page)"]


def test_byte_order_mark_is_an_error() -> None:
    assert error("\ufeffcheckinterval=5\n").startswith(
        "1:1: U+FEFF ZERO WIDTH NO-BREAK SPACE (byte order mark) is not allowed here")


def test_lookalikes_inside_quotes_and_comments_are_kept() -> None:
    virtual = one(cf("# caf\u00e9 \u201cquoted\u201d", VIRTUAL, REAL, '\treceive="a\u00a0b\u2019"'))
    assert virtual.receive == "a\u00a0b\u2019"


def test_tabs_inside_a_block_value_become_4_spaces_as_in_ldirectord() -> None:
    assert one(cf(VIRTUAL, '\treceive="a\tb"')).receive == "a    b"


@pytest.mark.parametrize(("line", "message"), [
    ("Quiescent=yes", "1:1: unknown directive 'Quiescent' (directives are case-sensitive: "
                      "did you mean 'quiescent'?)"),
    ("quiescent=YES", "1:11: quiescent must be 'yes' or 'no' (lower case), not 'YES'"),
    ("chcktimeout=5", "1:1: unknown directive 'chcktimeout' (did you mean 'checktimeout'?)"),
    ("frobnicate=1", "1:1: unknown directive 'frobnicate'"),
    ("checkinterval 5", "1:1: expected '=' after 'checkinterval'"),
    ("=5", "1:1: expected a directive (name=value)"),
])
def test_keywords_are_case_sensitive_and_unknown_directives_are_errors(
        line: str, message: str) -> None:
    assert error(cf(line)) == message


@pytest.mark.parametrize("text", [cf("timeout=5"), cf(VIRTUAL, "\ttimeout=5")])
def test_timeout_is_deprecated(text: str) -> None:
    assert error(text).endswith(
        ": timeout directive deprecated in favour of checktimeout and negotiatetimeout")


@pytest.mark.parametrize("text", [cf("connecttimeout=5"), cf(VIRTUAL, "\tconnecttimeout=5")])
def test_connecttimeout_is_deprecated(text: str) -> None:
    assert error(text).endswith(
        ": connecttimeout directive deprecated in favour of negotiatetimeout")


def test_global_directive_inside_a_block_is_an_error() -> None:
    assert error(cf(VIRTUAL, '\tlogfile="/var/log/x"')) == (
        "2:2: 'logfile' is a global directive: write it in column 0, outside virtual blocks")


def test_virtual_directive_at_global_level_is_an_error() -> None:
    assert error(cf("real=10.0.0.1:80 gate")) == (
        "1:1: 'real' belongs in a virtual block: indent it by 4 spaces or a TAB under a "
        "virtual= line")


def test_indented_virtual_is_an_error() -> None:
    assert error(cf(VIRTUAL, "\tvirtual=192.0.2.2:80")) == (
        "2:2: virtual= must start in column 0 (it begins a new virtual block)")


def test_repeated_directive_warns_and_the_last_wins() -> None:
    text = cf("checkinterval=3", "checkinterval=4")
    assert load(text).checkinterval == 4
    assert warnings(text) == ["2:1: checkinterval given again: this value replaces the one on "
                              "line 1"]


def test_every_error_in_the_file_is_reported_at_once_in_line_order() -> None:
    text = cf("foo=1", VIRTUAL, "\tchecktype=negotiatex", "\tscheduler=xx", "quiescent=maybe")
    assert [e.split(":")[0] for e in errors(text)] == ["1", "3", "4", "5"]


def test_diagnostic_shows_file_line_column_source_and_caret() -> None:
    with pytest.raises(ConfigError) as info:
        load(cf(VIRTUAL, "\tchecktype=negotiatex"))
    assert str(info.value) == (
        "/etc/ha.d/ldirectord.cf:2:12: error: unknown checktype 'negotiatex' (expected connect, "
        "negotiate, ping, external, external-perl, on, off or a number)\n"
        "     checktype=negotiatex\n"
        "               ^")


def test_empty_file_is_a_valid_config_with_no_virtuals() -> None:
    assert load("").virtuals == ()


def test_file_without_final_newline() -> None:
    assert one(VIRTUAL + "\n\treal=10.0.0.1:80 gate").reals[0].port == 80
