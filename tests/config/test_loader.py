"""load(): the one entry point for start, reload and check-config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lvsd.config.errors import ConfigError
from lvsd.config.loader import load


def test_loads_a_file_and_makes_its_path_absolute(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ld.cf").write_text("checkinterval=4\nvirtual=192.0.2.1:80\n"
                                    "\treal=10.0.0.1:80 gate\n")
    monkeypatch.chdir(tmp_path)
    config = load("ld.cf")
    assert config.path == str(tmp_path / "ld.cf") and os.path.isabs(config.path)
    assert config.checkinterval == 4 and len(config.virtuals) == 1


def test_diagnostics_name_the_absolute_path(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ld.cf").write_text("bogus=1\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load("ld.cf")
    assert info.value.diagnostics[0].file == str(tmp_path / "ld.cf")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(str(tmp_path / "nope.cf"))
    (diag,) = info.value.diagnostics
    assert (diag.file, diag.message) == (str(tmp_path / "nope.cf"), "config file not found")


def test_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(str(tmp_path))
    assert info.value.diagnostics[0].message == "cannot read config file: it is a directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read anything")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.cf"
    path.write_text("")
    path.chmod(0)
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert info.value.diagnostics[0].message == "cannot read config file: Permission denied"


def test_undecodable_bytes_are_an_error_at_their_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "latin1.cf"
    path.write_bytes(b"checkinterval=5\n# caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load(str(path))
    (diag,) = info.value.diagnostics
    assert (diag.line, diag.col) == (2, 6)
    assert diag.message == ("invalid UTF-8: byte 0xE9 cannot be decoded (save the file as UTF-8)")
    assert diag.source == "# caf\ufffd"


def test_utf8_text_in_comments_and_values_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "utf8.cf"
    path.write_text("# café\nvirtual=192.0.2.1:80\n\treceive=\"Bienvenue à\"\n", "utf-8")
    assert load(str(path)).virtuals[0].receive == "Bienvenue à"
