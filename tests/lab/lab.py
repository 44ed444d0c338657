"""The lab façade: topology + controllable backends + client agent, started and stopped as one.

Inside ``tests/lab/run`` (root, IPVS kernel)::

    from lab import Lab
    with Lab(n_reals=3) as lab:
        lab.ipvsadm("-A -t 198.51.100.1:80 -s rr")
        for ip in lab.real_ips:
            lab.ipvsadm(f"-a -t 198.51.100.1:80 -r {ip}:80 -m")
        tally = lab.client.get_many(30)          # Tally(backends={'rs1': 10, ...}, ...)
        lab.backend("rs1").set_mode("refuse")
        conn = lab.client.open_persistent()
        conn.request().backend                   # 'rs2'

Every process the lab starts is its child, killed on :meth:`Lab.stop` (also at exit);
every wait is bounded. Blocking methods have ``a``-prefixed asyncio twins that do not
block the event loop (for tests that run lvsd in the same loop).
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from lab import rpc, topology
from lab.probe import Reply
from lab.topology import LabError, LinkMode, Real, Topology

HERE = Path(__file__).resolve().parent
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 5.0


@dataclass
class Tally:
    """Outcome of :meth:`Client.get_many`: answers per backend, and failures by reason."""

    backends: dict[str, int] = field(default_factory=dict)
    failures: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.backends.values()) + self.failures


class Backend:
    """Handle on one real server's backend process (see :mod:`lab.backend`)."""

    def __init__(self, real: Real, control: str, proc: subprocess.Popen[bytes]) -> None:
        self.real = real
        self.name = real.name
        self.ip = real.ip
        self.control = control
        self.proc = proc

    def set_mode(self, mode: str) -> None:
        """up | refuse | wrongpage | error500 | slow | blackhole."""
        rpc.call(self.control, "mode", mode=mode)

    async def aset_mode(self, mode: str) -> None:
        await rpc.acall(self.control, "mode", mode=mode)

    def stats(self) -> dict[str, Any]:
        """mode, served, by_status, by_peer, by_port, accepted, open, listening."""
        return rpc.call(self.control, "stats")

    async def astats(self) -> dict[str, Any]:
        return await rpc.acall(self.control, "stats")

    @property
    def mode(self) -> str:
        return str(self.stats()["mode"])

    def served(self, peer: str | None = None) -> int:
        """Requests answered so far (any status); only those from *peer* if given."""
        return _served(self.stats(), peer)

    async def aserved(self, peer: str | None = None) -> int:
        return _served(await self.astats(), peer)

    def reset(self) -> None:
        """Zero the counters."""
        rpc.call(self.control, "reset")


def _served(stats: dict[str, Any], peer: str | None) -> int:
    if peer is None:
        return int(stats["served"])
    return int(stats["by_peer"].get(peer, 0))


class Persistent:
    """A long-lived keep-alive connection held by the client agent."""

    def __init__(self, control: str, conn_id: int, local_port: int | None) -> None:
        self.control = control
        self.id = conn_id
        self.local_port = local_port

    def request(self, path: str = "/", timeout: float = 2.0) -> Reply:
        """Send one more GET on this connection; ``.ok``, ``.backend``, ``.error``."""
        return Reply.from_dict(rpc.call(self.control, "request", timeout=timeout + 5,
                                        id=self.id, path=path, req_timeout=timeout))

    async def arequest(self, path: str = "/", timeout: float = 2.0) -> Reply:
        return Reply.from_dict(await rpc.acall(self.control, "request", timeout=timeout + 5,
                                               id=self.id, path=path, req_timeout=timeout))

    def close(self) -> None:
        rpc.call(self.control, "close", id=self.id)


class Client:
    """Traffic from the client namespace (192.0.2.2), through the client agent."""

    def __init__(self, control: str, proc: subprocess.Popen[bytes]) -> None:
        self.control = control
        self.proc = proc

    def get(self, path: str = "/", *, host: str = topology.VIP, port: int = 80,
            timeout: float = 2.0) -> Reply:
        """One GET on a new connection."""
        return Reply.from_dict(rpc.call(self.control, "get", timeout=timeout + 5, host=host,
                                        port=port, path=path, req_timeout=timeout))

    def get_many(self, k: int, *, host: str = topology.VIP, port: int = 80, path: str = "/",
                 timeout: float = 2.0) -> Tally:
        """*k* GETs one after another, each on a new connection."""
        answer = rpc.call(self.control, "get_many", timeout=k * timeout + 10, host=host,
                          port=port, path=path, count=k, req_timeout=timeout)
        return _tally(answer)

    async def aget_many(self, k: int, *, host: str = topology.VIP, port: int = 80,
                        path: str = "/", timeout: float = 2.0) -> Tally:
        answer = await rpc.acall(self.control, "get_many", timeout=k * timeout + 10,
                                 host=host, port=port, path=path, count=k,
                                 req_timeout=timeout)
        return _tally(answer)

    def open_persistent(self, *, host: str = topology.VIP, port: int = 80,
                        timeout: float = 2.0) -> Persistent:
        """Open a keep-alive connection; raises :class:`LabError` if it cannot connect."""
        return _persistent(self.control, rpc.call(
            self.control, "open", timeout=timeout + 5, host=host, port=port,
            req_timeout=timeout))

    async def aopen_persistent(self, *, host: str = topology.VIP, port: int = 80,
                               timeout: float = 2.0) -> Persistent:
        return _persistent(self.control, await rpc.acall(
            self.control, "open", timeout=timeout + 5, host=host, port=port,
            req_timeout=timeout))


def _argv_text(proc: subprocess.Popen[bytes]) -> str:
    args = proc.args
    return " ".join(map(str, args)) if isinstance(args, (list, tuple)) else str(args)


def _tally(answer: dict[str, Any]) -> Tally:
    return Tally(backends=dict(answer["backends"]), failures=int(answer["failures"]),
                 errors=dict(answer["errors"]))


def _persistent(control: str, answer: dict[str, Any]) -> Persistent:
    if not answer.get("ok"):
        raise LabError(f"persistent connection failed: {answer.get('error')}")
    return Persistent(control, int(answer["id"]), answer.get("local_port"))


class Lab:
    """Director + client + N real servers with backends, inside the UML kernel."""

    VIP = topology.VIP
    CLIENT_IP = topology.CLIENT_IP
    DIRECTOR_IP = topology.DIRECTOR_REAL_IP  # the director on the reals' LAN
    DIRECTOR_CLIENT_IP = topology.DIRECTOR_CLIENT_IP

    def __init__(self, n_reals: int = 3, *, vips: Sequence[str] = (topology.VIP,),
                 ports: Sequence[int] = (80,), link: LinkMode = "auto",
                 python: str = sys.executable) -> None:
        self.topology = Topology(n_reals=n_reals, vips=tuple(vips), link=link)
        self.ports = list(ports)
        self.python = python
        self.backends: list[Backend] = []
        self._client: Client | None = None
        self.run_dir: str | None = None
        self.timings: dict[str, float] = {}
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def reals(self) -> list[Real]:
        return self.topology.reals

    @property
    def real_ips(self) -> list[str]:
        return [r.ip for r in self.reals]

    @property
    def vips(self) -> list[str]:
        return [*self.topology.vips, *sorted(self.topology.extra_vips)]

    @property
    def client(self) -> Client:
        if self._client is None:
            raise LabError("the lab is not started")
        return self._client

    def backend(self, name: str) -> Backend:
        """By name (rs1) or address (203.0.113.11)."""
        for b in self.backends:
            if name in (b.name, b.ip):
                return b
        raise KeyError(name)

    def start(self) -> Lab:
        """Build the topology and start every backend and the client agent."""
        if self._client is not None:
            return self
        if os.geteuid() != 0 or not os.path.exists("/proc/net/ip_vs"):
            raise LabError("the lab needs root and IPVS: run inside tests/lab/run")
        atexit.register(self.stop)
        t0 = time.monotonic()
        try:
            self.topology.build()
            self.timings["topology"] = time.monotonic() - t0
            base = "/run" if os.access("/run", os.W_OK) else None
            self.run_dir = tempfile.mkdtemp(prefix="lvsd-lab.", dir=base)
            for real in self.reals:
                control = os.path.join(self.run_dir, f"{real.name}.sock")
                argv = [self.python, "-S", str(HERE / "backend.py"), "--name", real.name,
                        "--control", control]
                for port in self.ports:
                    argv += ["--port", str(port)]
                self.backends.append(Backend(real, control, self._spawn(real.name, argv)))
            control = os.path.join(self.run_dir, "client.sock")
            client = Client(control, self._spawn(
                topology.CLIENT_NS,
                [self.python, "-S", str(HERE / "client.py"), "--control", control]))
            agents: list[Backend | Client] = [*self.backends, client]
            for agent in agents:
                self._wait_ready(agent.control, agent.proc)
            self._client = client
            self.timings["start"] = time.monotonic() - t0
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill every process the lab started, remove the network and the run dir."""
        atexit.unregister(self.stop)
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in self._procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        self._procs.clear()
        self.backends.clear()
        self._client = None
        self.topology.teardown()
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None

    def reset(self) -> None:
        """Back to the just-started state: every backend up with zeroed counters, every
        cable plugged, extra VIPs removed. The IPVS table is left alone."""
        for real in self.reals:
            self.topology.set_link(real.name, True)
        for vip in list(self.topology.extra_vips):
            self.topology.remove_vip(vip)
        for b in self.backends:
            b.set_mode("up")
            b.reset()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def ipvsadm(self, *args: str, check: bool = True) -> str:
        """Run ``ipvsadm`` with *args* (each split like a shell would); return stdout."""
        argv = ["ipvsadm", *(word for arg in args for word in shlex.split(arg))]
        return topology.run(argv, check=check).stdout

    def ipvs_clear(self) -> None:
        """Remove every virtual service (``ipvsadm -C``)."""
        self.ipvsadm("-C")

    def exec(self, netns: str | None, argv: Sequence[str], *, check: bool = True,
             timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run a command in a namespace (None = the director), bounded in time."""
        full = list(argv) if netns is None else topology.netns_exec(netns, argv)
        return topology.run(full, check=check, timeout=timeout)

    def add_vip(self, vip: str) -> None:
        self.topology.add_vip(vip)

    def remove_vip(self, vip: str) -> None:
        self.topology.remove_vip(vip)

    def set_link(self, name: str, up: bool) -> None:
        """Unplug (False) or replug (True) a real's cable on the director side."""
        self.topology.set_link(name, up)

    def _spawn(self, netns: str, argv: list[str]) -> subprocess.Popen[bytes]:
        assert self.run_dir is not None
        log = open(os.path.join(self.run_dir, f"{netns}.log"), "wb")
        with log:
            proc = subprocess.Popen(topology.netns_exec(netns, argv), stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT)
        self._procs.append(proc)
        return proc

    def _wait_ready(self, control: str, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LabError(f"{_argv_text(proc)} exited {proc.returncode}: "
                               f"{self._log_tail(control)}")
            if os.path.exists(control):
                try:
                    rpc.call(control, "ping", timeout=5)
                    return
                except rpc.RpcError:
                    pass
            time.sleep(0.05)
        raise LabError(f"{control}: not ready within {READY_TIMEOUT}s: {self._log_tail(control)}")

    def _log_tail(self, control: str) -> str:
        log = control.removesuffix(".sock") + ".log"
        try:
            return Path(log).read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"
