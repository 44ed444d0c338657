"""Logging: structured events that also read as ldirectord's log lines.

Every event has a name and fields (``log.info("real.down", real=..., ...)``).
An event that has an ldirectord equivalent carries its exact text in the
``msg`` field, and that text is what the log line shows, so existing greps and
log watchers keep working. The sinks follow ldirectord's ``logfile``:

* a path (``/var/log/ldirectord.log``): ``[ctime|CFGNAME|pid] message``; the
  file is opened and closed for every line, so logrotate needs no signal;
* a syslog facility name (``local0``, ``daemon``): ident ``lvsd``, priority info;
* ``-d`` (foreground debug): the message on stderr.

Fields other than ``msg`` are appended as ``key=value`` when there is no
ldirectord text; ``json=True`` writes one JSON object per line instead.
"""

from __future__ import annotations

import json
import os
import sys
import syslog
import time
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

SYSLOG_FACILITIES = {
    name: getattr(syslog, f"LOG_{name.upper()}")
    for name in (
        "auth authpriv cron daemon ftp kern lpr mail news syslog user uucp "
        "local0 local1 local2 local3 local4 local5 local6 local7"
    ).split()
    if hasattr(syslog, f"LOG_{name.upper()}")
}


def ctime(ts: float) -> str:
    """ldirectord's timestamp: ``Sun Nov 22 04:14:51 2026`` (day space-padded)."""
    return time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(ts))


def render_text(event_dict: MutableMapping[str, Any]) -> str:
    fields = dict(event_dict)
    fields.pop("level", None)
    fields.pop("timestamp", None)
    msg = fields.pop("msg", None)
    event = fields.pop("event", "")
    if msg is not None:
        return str(msg)
    parts = [str(event)] + [f"{k}={_quote(v)}" for k, v in fields.items()]
    return " ".join(parts)


def _quote(v: Any) -> str:
    s = str(v)
    return json.dumps(s) if (not s or any(c in s for c in ' "=')) else s


class Sink:
    """Where log lines go. Replaced as a whole on reload when ``logfile`` changes."""

    def __init__(self, logfile: str, cfgname: str, *, stderr: TextIO | None = None, as_json: bool = False) -> None:
        self.logfile = logfile
        self.cfgname = cfgname
        self.stderr = stderr
        self.as_json = as_json
        if not logfile.startswith("/") and stderr is None:
            syslog.openlog("lvsd", syslog.LOG_PID, SYSLOG_FACILITIES.get(logfile, syslog.LOG_DAEMON))

    def write(self, event_dict: MutableMapping[str, Any]) -> None:
        now = time.time()
        text = render_text(event_dict)
        if self.stderr is not None:
            self.stderr.write(text + "\n")
            self.stderr.flush()
            return
        if self.as_json:
            line = json.dumps({"time": now, "config": self.cfgname, "pid": os.getpid(), **event_dict}, default=str)
        else:
            line = f"[{ctime(now)}|{self.cfgname}|{os.getpid()}] {text}"
        if self.logfile.startswith("/"):
            try:
                fd = os.open(self.logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
                try:
                    os.write(fd, (line + "\n").encode("utf-8", "replace"))
                finally:
                    os.close(fd)
            except OSError as exc:  # a log we cannot write must not stop the director
                sys.stderr.write(f"lvsd: cannot write {self.logfile}: {exc}\n{line}\n")
        else:
            syslog.syslog(syslog.LOG_INFO, line if self.as_json else text)


_sink: Sink | None = None
def _emit(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> str:
    if _sink is not None:
        _sink.write(event_dict)
    else:
        sys.stderr.write(render_text(event_dict) + "\n")
    raise structlog.DropEvent


def configure(sink: Sink) -> None:
    """Route every lvsd event to ``sink`` (called at start and on reload)."""
    global _sink
    _sink = sink
    structlog.configure(
        processors=[structlog.processors.add_log_level, _emit],
        cache_logger_on_first_use=False,
    )


def get() -> Any:
    return structlog.get_logger()
