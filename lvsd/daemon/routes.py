"""The daemon's side of active-active: the VIPs announced to the routers, kept as health says.

:class:`RouteKeeper` folds the kernel table into :class:`~lvsd.ecmp.announce.Announcer` after
every change, logs each announce and withdraw, and carries it out by the configured mode:

* ``exabgp``: nothing to do here; ``lvsd exabgp`` (the process ExaBGP runs) asks for
  :meth:`RouteKeeper.view` over the control socket and prints the lines;
* ``interface``: the VIP's host address is added to or removed from ``announceinterface``
  with ``ip address``, for BIRD or FRR to export; at every full pass the interface is checked
  again, so a failed or undone edit is repaired (a failure is logged and marks the keeper
  degraded, never stops the checks).

:meth:`RouteKeeper.leave` (``lvsd leave``, and a clean stop) withdraws everything and waits
``withdrawwait`` for the routers; :meth:`RouteKeeper.join` ends the hold. It also reads the
sysctls ECMP needs (:mod:`lvsd.ecmp.sysctls`) at every full pass.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lvsd import log
from lvsd.config.model import AnnounceSettings, Config
from lvsd.daemon.clock import Clock, SystemClock
from lvsd.ecmp import sysctls
from lvsd.ecmp.announce import Announcer, RouteChange, exabgp_line, servable
from lvsd.ipvs.table import Table

SYSCTL_ROOT = Path("/proc/sys/net/ipv4/vs")
IP_TIMEOUT = 5.0


State = Callable[[], tuple[Config, Table]]  # the running config and the kernel table as cached


class RouteKeeper:
    def __init__(self, state: State | None = None, clock: Clock | None = None, *,
                 on_update: Callable[[RouteKeeper], None] | None = None, sysctl_root: Path | None = None,
                 ip: str = "ip") -> None:
        self.state = state or (lambda: (Config(path="/"), Table()))
        self.clock: Clock = clock or SystemClock()
        self.on_update = on_update or (lambda keeper: None)
        self.settings: AnnounceSettings | None = None
        self.announcer = Announcer()
        self.sysctl_root = sysctl_root or SYSCTL_ROOT
        self.ip = ip
        self.degraded = False
        self.warnings: list[str] = []
        self.changes = 0
        self.seen: set[str] = set()  # every VIP prefix this keeper has known (see converge)
        self.log = log.get()

    def configure(self, config: Config) -> None:
        old = self.settings
        self.settings = config.announce
        if self.settings is not None:
            self.announcer.configure(self.settings.rise, self.settings.fall)
        if old is not None and old.mode == "interface" and (self.settings is None or self.settings != old):
            self._old_interface = old.interface  # withdrawn from there by the next update
        self._check_sysctls(config)

    _old_interface = ""

    # -- what others ask ------------------------------------------------------

    def view(self, now: float) -> dict[str, object]:
        s = self.settings
        return {
            "mode": s.mode if s is not None else None, "interface": s.interface if s is not None else "",
            "attributes": s.attributes if s is not None else "", "held": self.announcer.held,
            "degraded": self.degraded, "warnings": list(self.warnings),
            "routes": [r.as_json(now) for r in self.announcer.routes.values()],
            "lines": [exabgp_line(RouteChange("announce", p, ""), s.attributes if s is not None else "")
                      for p in self.announcer.announced()],
        }

    def next_due(self) -> float | None:
        return self.announcer.next_due() if self.settings is not None else None

    # -- what the owner loop and the control socket ask ----------------------

    async def announce(self, *, repair: bool = False) -> None:
        """Announce or withdraw the VIPs as the table serves them (on a full pass, also repair the speaker's side)."""
        config, table = self.state()
        await self.update(config, table, self.clock.monotonic())
        if repair:
            await self.converge()
        self.on_update(self)

    async def leave(self, reason: str = "leave") -> dict[str, Any]:
        """A planned leave: withdraw every VIP, wait ``withdrawwait`` for the routers to move the flows, answer."""
        s = self.settings
        if s is None:
            return {"ok": False, "error": "this director announces nothing (no announce= in its config)"}
        was = self.announcer.announced()
        self.announcer.hold(reason)
        await self.announce()
        if was:
            self.log.info("route.leave", msg=f"Withdrew {', '.join(was)}; waiting {s.withdrawwait:g} s for the routers")
            await self.clock.sleep(s.withdrawwait)
        return {"ok": True, "withdrawn": was, "waited": s.withdrawwait if was else 0.0}

    async def join(self) -> dict[str, Any]:
        if self.settings is None:
            return {"ok": False, "error": "this director announces nothing (no announce= in its config)"}
        self.announcer.release()
        await self.announce()
        return {"ok": True, "announced": self.announcer.announced()}

    # -- changes --------------------------------------------------------------

    async def update(self, config: Config, table: Table, now: float) -> list[RouteChange]:
        """Fold the table in; carry out and log what changed."""
        s = self.settings
        if s is None:
            if not self.announcer.routes:
                return []
            state = {}  # announce was dropped from the config: withdraw everything
        else:
            state = servable(config, table, fallback=s.fallback)
        changes = self.announcer.observe(state, now)
        if s is None:
            self.announcer = Announcer()
        for c in changes:
            self.changes += 1
            self.log.info(f"route.{c.kind}", msg=f"{c.kind.capitalize()} {c.prefix}: {c.reason}", prefix=c.prefix,
                          mode=s.mode if s is not None else "off")
        if changes or self._old_interface:
            await self.converge()
        return changes

    async def converge(self) -> None:
        """Make the announce interface hold exactly the announced VIPs (interface mode); repair drift.

        lvsd owns, on that interface, the host addresses of every VIP it has known (so one a
        reload removed is withdrawn too); other addresses there are left alone.
        """
        self.seen.update(self.announcer.routes)
        old, self._old_interface = self._old_interface, ""
        current = self._interface()
        ok = True
        if old and old != current:
            ok = await self._sync_interface(old, set()) and ok
        if current:
            ok = await self._sync_interface(current, set(self.announcer.announced())) and ok
        self.degraded = not ok

    async def _sync_interface(self, ifname: str, want: set[str]) -> bool:
        have = await self._addresses(ifname)
        if have is None:
            return False
        ok = True
        for prefix in sorted(want - have):
            ok = await self._ip("add", prefix, ifname) and ok
        for prefix in sorted((have & self.seen) - want):
            ok = await self._ip("del", prefix, ifname) and ok
        return ok

    def _interface(self) -> str:
        s = self.settings
        return s.interface if s is not None and s.mode == "interface" else ""

    async def _run(self, *argv: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(self.ip, *argv, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), IP_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return -1, "", f"ip {' '.join(argv)}: no answer in {IP_TIMEOUT:g} s"
        return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace").strip()

    async def _addresses(self, ifname: str) -> set[str] | None:
        """The host addresses (/32, /128) on ``ifname``, as prefixes; None if it cannot be read."""
        try:
            rc, out, err = await self._run("-o", "address", "show", "dev", ifname)
        except OSError as exc:
            rc, out, err = -1, "", str(exc)
        if rc != 0:
            self.log.error("route.error", msg=f"Cannot read the addresses of announce interface {ifname}: {err}",
                           interface=ifname)
            return None
        found = set()
        for line in out.splitlines():
            words = line.split()
            for i, w in enumerate(words[:-1]):
                if w in ("inet", "inet6"):
                    iface = ipaddress.ip_interface(words[i + 1])
                    if iface.network.prefixlen == iface.max_prefixlen:
                        found.add(f"{iface.ip}/{iface.max_prefixlen}")
        return found

    async def _ip(self, verb: str, prefix: str, ifname: str) -> bool:
        try:
            rc, _, err = await self._run("address", verb, prefix, "dev", ifname)
        except OSError as exc:
            rc, err = -1, str(exc)
        if rc != 0:
            self.log.error("route.error", msg=f"ip address {verb} {prefix} dev {ifname} failed: {err}",
                           prefix=prefix, interface=ifname)
            return False
        return True

    def _check_sysctls(self, config: Config) -> None:
        def read(name: str) -> str | None:
            try:
                return (self.sysctl_root / name).read_text()
            except OSError:
                return None

        found = sysctls.problems(config, read)
        for w in found:
            if w not in self.warnings:
                self.log.warning("sysctl.needed", msg=w)
        self.warnings = found

    def recheck(self, config: Config) -> None:
        self._check_sysctls(config)
