"""The daemon, split by job.

* :mod:`~lvsd.daemon.loop` the owner loop: events in, decisions out;
* :mod:`~lvsd.daemon.events` what reaches it (check results, reload, stop);
* :mod:`~lvsd.daemon.kernel` the cached kernel table: apply, resync, purge;
  :mod:`~lvsd.daemon.resync` when it is re-read;
* :mod:`~lvsd.daemon.reloading` a reload as a transaction;
* :mod:`~lvsd.daemon.status` the snapshot ``lvsd status`` shows;
* :mod:`~lvsd.daemon.alert_routing` who is mailed of what, when
  ``fallbackcommand`` runs; :mod:`~lvsd.daemon.alerts` sending and running them;
* :mod:`~lvsd.daemon.telemetry` metrics and systemd's status line;
  :mod:`~lvsd.daemon.systemd` systemd's notify protocol;
* :mod:`~lvsd.daemon.clock` the clock it reads and sleeps on.
"""

from lvsd.daemon.clock import Clock, SystemClock
from lvsd.daemon.events import Event, EventKind
from lvsd.daemon.loop import Daemon

__all__ = ["Clock", "Daemon", "Event", "EventKind", "SystemClock"]
