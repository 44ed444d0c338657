"""Who hears of what: email alerts, their resends and ``fallbackcommand``, from typed events.

The daemon hands over what happened as values: an applied kernel edit (its
:class:`~lvsd.reconcile.Step` and ldirectord's line for it), a real going
down or up. This module decides, as ldirectord does, which of them mail whom
(per virtual ``emailalert`` and ``emailalertstatus``, else the global ones),
when an "Inaccessible real server" mail is sent again, and when a virtual's
``fallbackcommand`` runs (``start`` once no real is up, ``stop`` once one is).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from lvsd.config.model import MemberKey, VirtualService
from lvsd.daemon import alerts
from lvsd.health import Health, TransitionKind
from lvsd.ipvs.table import ServiceKey
from lvsd.loaded import LoadedConfig
from lvsd.logtext import service_label
from lvsd.reconcile import Step


def alerts_on(step: Step) -> bool:
    """ldirectord mails every real and fallback server edit and every service purge.

    Not: a service added or changed, nor the start of a drain (lvsd's own line).
    """
    op = step.op
    if op.dest is None:
        return op.kind == "del-service"
    return op.role != "drain" or op.kind == "del-dest"


class AlertRouter:
    def __init__(self, loaded: LoadedConfig, status: Callable[[], str], clock: Callable[[], float]) -> None:
        self.loaded = loaded  # the daemon swaps in the new one on reload
        self.status = status  # the daemon's state: starting, running, reloading, stopping
        self.now = clock
        self.jobs = alerts.AlertJobs()
        self.resend: dict[MemberKey, float] = {}  # "Inaccessible real server" email due times
        self._fallback_active: dict[ServiceKey, bool] = {}

    # -- email ----------------------------------------------------------------

    def kernel_edit(self, step: Step, text: str) -> None:
        """An applied edit: mail its line to the virtual the line names (a service edit names none)."""
        if not alerts_on(step):
            return
        v = self.loaded.by_label.get(service_label(step.op.service.key)) if step.op.dest is not None else None
        self.email(text, v)

    def email(self, subject: str, v: VirtualService | None) -> None:
        cfg = self.loaded.config
        to = v.emailalert if v is not None else cfg.emailalert
        statuses = v.emailalertstatus if v is not None else cfg.emailalertstatus
        status = self.status()
        if not to or status not in statuses:
            return
        msg = alerts.alert_message(
            to=to, sender=cfg.emailalertfrom or alerts.default_sender(), subject=subject, status=status,
            servicename=v.servicename if v else None, comment=v.comment if v else None,
        )
        self.jobs.email(msg, v.smtp if v is not None else cfg.smtp)

    def transition(self, key: MemberKey, v: VirtualService, kind: TransitionKind) -> None:
        """A real went down (resends start, if asked for) or up (they stop)."""
        if kind is TransitionKind.DOWN and v.emailalert and v.emailalertfreq > 0:
            self.resend[key] = self.now() + v.emailalertfreq
        else:
            self.resend.pop(key, None)

    def send_due(self) -> None:
        """Mail "Inaccessible real server" again for every down real whose resend is due."""
        now = self.now()
        members = self.loaded.members
        for key, due in list(self.resend.items()):
            if now >= due and key in members:
                v, r = members[key]
                self.resend[key] = now + max(v.emailalertfreq, 1)
                self.email(f"Inaccessible real server: {r} ({v.label})", v)

    def keep(self, members: Mapping[MemberKey, object]) -> None:
        """After a reload: forget the resends of reals it removed."""
        self.resend = {k: t for k, t in self.resend.items() if k in members}

    # -- fallbackcommand ------------------------------------------------------

    def fallback_commands(self, health: Mapping[MemberKey, Health], stopping: bool = False) -> None:
        """Run ``fallbackcommand start|stop`` when a virtual's "no real up" state changes."""
        for v in self.loaded.config.virtuals:
            if not v.fallbackcommand:
                continue
            vkey = v.key
            active = not stopping and not any(
                (h := health.get(MemberKey(vkey, r.key))) is not None and h.up for r in v.reals)
            if self._fallback_active.get(vkey, False) == active:  # never started: no "stop" at start-up
                continue
            self._fallback_active[vkey] = active
            target = alerts.fallback_argument(v.label, v.fwmark)
            self.jobs.fallback_command(v.fallbackcommand, "start" if active else "stop", target, v.protocol)

    def callback(self, command: str, path: str) -> None:
        """The config file changed: run ``callback`` as "PATH CONFIGFILE" through the shell."""
        self.jobs.fallback_command(command, "", path, "")

    async def close(self) -> None:
        await self.jobs.close()
