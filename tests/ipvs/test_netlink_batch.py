"""NetlinkIPVS's batching and deadlines over a real socket whose other end plays the kernel.

The kernel's side is proven in the lab (tests/ipvs/test_lab_features.py, tests/daemon/test_lab_*.py);
here a datagram socket pair stands in for it, to pin what the kernel cannot be
made to do on demand: stay silent, or answer some requests of a batch with errors.
"""

import asyncio
import errno
import socket
import struct

from lvsd.ipvs import messages as m
from lvsd.ipvs.netlink import NetlinkIPVS
from lvsd.ipvs.table import Dest, Op, Service, ServiceKey

SVC = Service(key=ServiceKey.inet("tcp", "198.51.100.1", 80), scheduler="wrr")
OPS = [Op(kind="add-dest", service=SVC, dest=Dest(addr=f"203.0.113.{i}", port=80)) for i in range(1, 6)]


def fake(batch: int, deadline: float = 0.3) -> tuple[NetlinkIPVS, socket.socket]:
    mine, kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    mine.setblocking(False)
    nl = NetlinkIPVS(deadline=deadline, batch=batch)
    nl._sock, nl._family = mine, 42  # opened: the family is known
    return nl, kernel


def answer(kernel: socket.socket, fail: dict[int, int]) -> list[int]:
    """Read one write; reply like the kernel: an error for each request in ``fail`` (by position),
    and an ACK for the one that asked; return the sequence numbers seen."""
    data = kernel.recv(1 << 16)
    seqs = []
    for i, (_, flags, seq, _) in enumerate(m.split(data)):
        seqs.append(seq)
        code = fail.get(i, 0)
        if code or flags & m.NLM_F_ACK:
            body = struct.pack("=i", -code) + struct.pack("=IHHII", 16, 42, 0, seq, 0)
            kernel.send(struct.pack("=IHHII", 16 + len(body), m.NLMSG_ERROR, 0, seq, 0) + body)
    return seqs


async def test_a_refusal_is_attributed_to_its_own_op_and_the_batch_goes_on():
    nl, kernel = fake(batch=256)
    task = asyncio.create_task(nl.apply_many(OPS))
    await asyncio.sleep(0.05)
    assert len(answer(kernel, {1: errno.EEXIST, 3: errno.EINVAL})) == 5  # one write, five requests
    results = await task
    assert [r.errno if r else None for r in results] == [None, errno.EEXIST, None, errno.EINVAL, None]
    assert results[1].op == OPS[1].ipvsadm() and "EEXIST" in results[1].detail
    assert (nl.writes, nl.ops_sent) == (1, 5)
    nl.close()


async def test_a_silent_kernel_fails_the_batch_at_its_deadline_and_loses_nothing():
    nl, kernel = fake(batch=2, deadline=0.2)
    results = await asyncio.wait_for(nl.apply_many(OPS), 2)
    assert all(r is not None and r.errno == errno.ETIMEDOUT for r in results)
    assert all("outcome unknown" in r.detail for r in results[:2])  # sent, never answered
    assert all(r.detail.startswith("not sent") for r in results[2:])  # kept back, reported
    assert nl._sock is None  # a socket that missed an answer is not reused
    assert len(list(m.split(kernel.recv(1 << 16)))) == 2


async def test_a_socket_error_is_reported_per_op():
    nl, kernel = fake(batch=256)
    kernel.close()
    results = await asyncio.wait_for(nl.apply_many(OPS[:2]), 2)
    assert all(r is not None and r.errno in (errno.ECONNREFUSED, errno.ENOTCONN, errno.EPIPE) for r in results)
