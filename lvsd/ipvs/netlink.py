"""The kernel's IPVS table over generic netlink: read it whole, edit it in batches.

:class:`NetlinkIPVS` reads the table (:meth:`~NetlinkIPVS.dump`, or one
service's dests with fresh counters: :meth:`~NetlinkIPVS.dests`) and applies
edits (:meth:`~NetlinkIPVS.apply_many`, :meth:`~NetlinkIPVS.apply`). Editing
uses the kernel's SET commands, never delete-and-add.

Batching: up to ``batch`` requests go to the kernel in one write. Only the
last asks for an acknowledgement; the kernel answers every failed request
with an error carrying its sequence number, whether or not it asked, and
handles a write's requests in order, so the last one's ACK means every
earlier one is done and every failure has been reported. A failure is thus
attributed to its own operation and the rest of the batch still applies. The
socket's receive buffer is raised (as root, SO_RCVBUFFORCE) so a batch whose
every request fails cannot overrun it; acknowledgements carry only headers
(NETLINK_CAP_ACK).

Every exchange has a deadline. When it passes (or the socket fails) the
socket is closed, since a late answer could be mistaken for the next one;
operations whose outcome is unknown, and the ones not sent yet, come back as
errors, never silently dropped, and the caller re-reads the table.
"""

from __future__ import annotations

import asyncio
import errno as errno_mod
import itertools
import socket
from collections.abc import Callable, Sequence
from typing import TypeVar

from lvsd.errors import IPVSError
from lvsd.ipvs import messages as m
from lvsd.ipvs import sync_messages as sm
from lvsd.ipvs.sync import SyncDaemon, SyncStep
from lvsd.ipvs.table import Dest, Op, Service, ServiceKey, Table

NETLINK_GENERIC = 16
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
BUFFER = 4 << 20  # socket buffers: a full batch of error replies fits many times over
RECV_SIZE = 1 << 16  # netlink datagrams are at most 32 KiB
DEFAULT_BATCH = 256

T = TypeVar("T")


def _open_socket() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    try:
        sock.setblocking(False)
        for force, plain in ((SO_RCVBUFFORCE, socket.SO_RCVBUF), (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
            try:
                sock.setsockopt(socket.SOL_SOCKET, force, BUFFER)
            except OSError:  # not root: as large as net.core.[rw]mem_max allows
                sock.setsockopt(socket.SOL_SOCKET, plain, BUFFER)
        try:
            sock.setsockopt(m.SOL_NETLINK, m.NETLINK_CAP_ACK, 1)
        except OSError:  # before Linux 4.2 an ACK echoes the request: larger, still correct
            pass
        sock.bind((0, 0))
    except BaseException:
        sock.close()
        raise
    return sock


class NetlinkIPVS:
    """The kernel's IPVS table. Use as ``async with NetlinkIPVS() as ipvs``.

    ``deadline`` bounds every exchange with the kernel (one request, one
    batch, or one dump chunk); ``batch`` is how many requests share a write
    (1 = one request and one acknowledgement at a time).
    """

    def __init__(self, deadline: float = 2.0, batch: int = DEFAULT_BATCH) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.deadline = deadline
        self.batch = batch
        self.ops_sent = 0  # edits sent to the kernel (for metrics and benchmarks)
        self.writes = 0  # datagrams written
        self._sock: socket.socket | None = None
        self._family = 0
        self._seq = itertools.count(1)
        self._lock: asyncio.Lock | None = None

    async def __aenter__(self) -> NetlinkIPVS:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    # -- socket -------------------------------------------------------------

    async def open(self) -> None:
        if self._sock is not None:
            return
        try:
            sock = _open_socket()
        except OSError as exc:
            raise IPVSError("open", exc.errno or errno_mod.EIO, f"cannot open a netlink socket: {exc}") from exc
        self._sock = sock
        seq = next(self._seq)
        try:
            replies = await self._exchange("open", m.get_family(seq), seq, dump=False)
        except IPVSError as exc:
            self.close()
            if exc.errno == errno_mod.ENOENT:
                raise IPVSError("open", errno_mod.ENOENT, "the kernel has no IPVS (module ip_vs not loaded?)") from exc
            raise
        try:
            self._family = m.family_id(replies[0])
        except (IndexError, ValueError) as exc:
            self.close()
            raise IPVSError("open", errno_mod.EPROTO, f"generic netlink family lookup failed: {exc}") from exc

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _guard(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _exchange(self, what: str, request: bytes, seq: int, *, dump: bool) -> list[memoryview]:
        """Send one request; return the payloads of its answer (a dump's entries, or a GET's reply).

        Raises IPVSError with the kernel's errno, or ETIMEDOUT / the socket's
        errno (after closing the socket) when the exchange cannot complete.
        """
        if self._sock is None:
            await self.open()
        sock = self._sock
        assert sock is not None
        loop = asyncio.get_running_loop()
        out: list[memoryview] = []
        try:
            async with asyncio.timeout(self.deadline):
                await loop.sock_sendall(sock, request)
                while True:
                    data = await loop.sock_recv(sock, RECV_SIZE)
                    for kind, _flags, got, payload in m.split(data):
                        if got != seq:
                            continue  # not ours (cannot happen on a private socket; harmless)
                        if kind == m.NLMSG_ERROR:
                            code = m.error_code(payload)
                            if code:
                                raise IPVSError(what, code, m.describe(code))
                            return out
                        if kind == m.NLMSG_DONE:
                            code = m.error_code(payload) if len(payload) >= 4 else 0
                            if code:
                                raise IPVSError(what, code, m.describe(code))
                            return out
                        out.append(payload)
                        if not dump:
                            return out
        except TimeoutError as exc:
            self.close()
            raise IPVSError(what, errno_mod.ETIMEDOUT, f"no answer within {self.deadline:g}s") from exc
        except OSError as exc:
            self.close()
            code = exc.errno or errno_mod.EIO
            detail = ("not permitted: IPVS needs CAP_NET_ADMIN" if code == errno_mod.EPERM
                      else f"netlink socket error: {m.strerror(code)}")
            raise IPVSError(what, code, detail) from exc

    async def _dump(self, what: str, build: Callable[[int, int], bytes], parse: Callable[[memoryview], T | None]
                    ) -> list[T]:
        seq = next(self._seq)
        if self._sock is None:
            await self.open()
        payloads = await self._exchange(what, build(self._family, seq), seq, dump=True)
        return [x for x in map(parse, payloads) if x is not None]

    # -- reading ------------------------------------------------------------

    async def dump(self) -> Table:
        """Read the whole table: every service, then each service's dests."""
        async with self._guard():
            table = Table()
            services: list[Service] = await self._dump("dump services", m.dump_services, m.parse_service)
            for svc in services:
                table.services[svc.key] = svc
            for svc in services:
                table.dests[svc.key] = await self._dests(svc.key)
            return table

    async def dests(self, key: ServiceKey) -> dict[tuple[str, int], Dest]:
        """One service's dests, with the kernel's current connection counters."""
        async with self._guard():
            return await self._dests(key)

    async def _dests(self, key: ServiceKey) -> dict[tuple[str, int], Dest]:
        af = m.family(key.ipv6)
        found = await self._dump(
            f"dump dests of {key}",
            lambda family, seq: m.dump_dests(family, key, seq),
            lambda payload: m.parse_dest(payload, af),
        )
        return {d.key: d for d in found}

    # -- sync daemons -------------------------------------------------------

    async def daemons(self) -> list[SyncDaemon]:
        """The connection sync daemons running in this namespace (at most a master and a backup)."""
        async with self._guard():
            return await self._dump("dump sync daemons", sm.dump_daemons, sm.parse_daemon)

    async def sync_step(self, step: SyncStep) -> None:
        """Start or stop one sync daemon; raise :class:`IPVSError` (with what the errno means) if the kernel refuses.

        A stop that meets a daemon whose thread has not run yet ends in EINTR inside the kernel, and
        netlink sends no answer at all for EINTR: the stop is done but unacknowledged. So when no answer
        comes, the daemons are read back and the step counts as done if they show it done.
        """
        async with self._guard():
            seq = next(self._seq)
            if self._sock is None:
                await self.open()
            request = (sm.start_daemon(self._family, step.daemon, seq) if step.kind == "start"
                       else sm.stop_daemon(self._family, step.daemon.state, seq))
            try:
                await self._exchange(step.ipvsadm(), request, seq, dump=False)
            except IPVSError as exc:
                if exc.errno == errno_mod.ETIMEDOUT and await self._took_effect(step):
                    return
                raise IPVSError(exc.op, exc.errno, sm.describe_sync(exc.errno, step)) from exc

    async def _took_effect(self, step: SyncStep) -> bool:
        try:
            running = {d.state: d for d in await self._dump("dump sync daemons", sm.dump_daemons, sm.parse_daemon)}
        except IPVSError:
            return False
        now = running.get(step.daemon.state)
        return now is None if step.kind == "stop" else now is not None and now.satisfies(step.daemon)

    # -- editing ------------------------------------------------------------

    async def apply(self, op: Op) -> None:
        """Apply one edit; raise :class:`IPVSError` if the kernel refuses it."""
        (result,) = await self.apply_many([op])
        if result is not None:
            raise result

    async def apply_many(self, ops: Sequence[Op]) -> list[IPVSError | None]:
        """Apply edits in order, in batches; one result per edit (None = done).

        A refused edit never stops the others. If the kernel stops answering
        or the socket fails, the edits whose outcome is unknown and the ones
        not sent yet are reported as failed (the caller re-reads the table).
        """
        results: list[IPVSError | None] = [None] * len(ops)
        async with self._guard():
            start = 0
            while start < len(ops):
                chunk = range(start, min(start + self.batch, len(ops)))
                broken = await self._apply_chunk(ops, chunk, results)
                start = chunk.stop
                if broken is not None:
                    for i in range(start, len(ops)):
                        results[i] = IPVSError(ops[i].ipvsadm(), broken.errno, f"not sent: {broken.detail}")
                    break
        return results

    async def _apply_chunk(self, ops: Sequence[Op], chunk: range, results: list[IPVSError | None]
                           ) -> IPVSError | None:
        """Send ``ops[chunk]`` in one write; fill ``results``; return the error that broke the socket, if any."""
        try:
            if self._sock is None:
                await self.open()
        except IPVSError as exc:
            for i in chunk:
                results[i] = IPVSError(ops[i].ipvsadm(), exc.errno, exc.detail)
            return exc
        sock = self._sock
        assert sock is not None
        by_seq: dict[int, int] = {}
        parts: list[bytes] = []
        last = chunk[-1]
        seq = 0
        for i in chunk:
            seq = next(self._seq)
            by_seq[seq] = i
            flags = m.NLM_F_REQUEST | (m.NLM_F_ACK if i == last else 0)
            parts.append(m.op_message(self._family, ops[i], seq, flags))
        last_seq = seq
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.deadline):
                await loop.sock_sendall(sock, b"".join(parts))
                self.writes += 1
                self.ops_sent += len(chunk)
                while True:
                    data = await loop.sock_recv(sock, RECV_SIZE)
                    done = False
                    for kind, _flags, got, payload in m.split(data):
                        idx = by_seq.get(got)
                        if idx is None or kind != m.NLMSG_ERROR:
                            continue
                        code = m.error_code(payload)
                        if code:
                            results[idx] = IPVSError(ops[idx].ipvsadm(), code, m.describe(code, ops[idx]))
                        done = done or got == last_seq
                    if done:
                        return None
        except TimeoutError:
            self.close()
            broken = IPVSError("batch", errno_mod.ETIMEDOUT, f"the kernel did not answer within {self.deadline:g}s")
        except OSError as exc:
            self.close()
            failed: int = exc.errno if exc.errno else errno_mod.EIO
            what = ("replies lost (receive buffer overrun)" if failed == errno_mod.ENOBUFS
                    else "not permitted: IPVS needs CAP_NET_ADMIN" if failed == errno_mod.EPERM
                    else f"netlink socket error: {m.strerror(failed)}")
            broken = IPVSError("batch", failed, what)
        for i in chunk:
            if results[i] is None:
                results[i] = IPVSError(ops[i].ipvsadm(), broken.errno, f"{broken.detail}; outcome unknown")
        return broken
