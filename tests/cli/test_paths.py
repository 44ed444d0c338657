"""The config is looked up as ldirectord does, and made absolute."""

import os

from lvsd.cli import paths


def test_lookup_order_etc_ha_d_then_conf_then_as_given(tmp_path, monkeypatch):
    ha, conf, cwd = tmp_path / "ha.d", tmp_path / "ha.d" / "conf", tmp_path / "cwd"
    for d in (ha, conf, cwd):
        d.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(paths, "CONFIG_DIRS", (str(ha), str(conf)))
    monkeypatch.chdir(cwd)
    (cwd / "x.cf").write_text("")
    assert paths.find_config("x.cf") == str(cwd / "x.cf")  # relative, made absolute
    (conf / "x.cf").write_text("")
    assert paths.find_config("x.cf") == str(conf / "x.cf")
    (ha / "x.cf").write_text("")
    assert paths.find_config("x.cf") == str(ha / "x.cf")
    assert paths.find_config(str(cwd / "x.cf")) == str(cwd / "x.cf")  # absolute: as given
    assert os.path.isabs(paths.find_config("missing.cf"))


def test_pid_and_socket_paths_are_named_after_the_config(monkeypatch):
    monkeypatch.setenv("LVSD_RUNDIR", "/run")
    p = paths.Paths("/etc/lvsd/web.cf")
    assert p.pidfile == "/run/lvsd.web.cf.pid" and p.socket == "/run/lvsd.web.cf.sock"
