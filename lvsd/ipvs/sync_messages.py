"""The IPVS sync daemons' generic-netlink messages: start, stop and the dump of the running ones.

The same family and framing as :mod:`lvsd.ipvs.messages`. One nested ``IPVS_CMD_ATTR_DAEMON``
holds the daemon's state (master 1, backup 2), interface and sync id, and since Linux 4.3
its maximum message length, multicast group (v4 or v6), port and TTL. The multicast port is
a host-order u16, unlike the service ports (as ipvsadm sends it and reads it back). Settings
left at 0 / "" are not sent, so the kernel applies its defaults; a dump reports them filled in.
"""

from __future__ import annotations

import errno as errno_mod
import socket
import struct

from lvsd.ipvs.messages import (
    NLM_F_ACK,
    NLM_F_DUMP,
    NLM_F_REQUEST,
    attrs,
    genl_attrs,
    message,
    nest,
    nla,
    strerror,
    text_of,
    u32_of,
)
from lvsd.ipvs.sync import STATE_CODES, STATE_NAMES, SyncDaemon, SyncState, SyncStep

_U16 = struct.Struct("=H")
_U32 = struct.Struct("=I")

# IPVS commands and attributes (include/uapi/linux/ip_vs.h)
CMD_NEW_DAEMON = 9
CMD_DEL_DAEMON = 10
CMD_GET_DAEMON = 11

ATTR_DAEMON = 3

# IPVS_DAEMON_ATTR_* (SYNC_MAXLEN and the MCAST_* beyond the interface exist since Linux 4.3)
DAEMON_STATE = 1
DAEMON_MCAST_IFN = 2
DAEMON_SYNC_ID = 3
DAEMON_SYNC_MAXLEN = 4
DAEMON_MCAST_GROUP = 5
DAEMON_MCAST_GROUP6 = 6
DAEMON_MCAST_PORT = 7
DAEMON_MCAST_TTL = 8


def start_daemon(family_id: int, daemon: SyncDaemon, seq: int) -> bytes:
    """NEW_DAEMON: the settings left at 0 / "" are not sent, so the kernel applies its defaults."""
    body = (nla(DAEMON_STATE, _U32.pack(STATE_CODES[daemon.state]))
            + nla(DAEMON_MCAST_IFN, daemon.interface.encode() + b"\0")
            + nla(DAEMON_SYNC_ID, _U32.pack(daemon.syncid)))
    if daemon.maxlen:
        body += nla(DAEMON_SYNC_MAXLEN, _U16.pack(daemon.maxlen))
    if daemon.group:
        if ":" in daemon.group:
            body += nla(DAEMON_MCAST_GROUP6, socket.inet_pton(socket.AF_INET6, daemon.group))
        else:
            body += nla(DAEMON_MCAST_GROUP, socket.inet_aton(daemon.group))
    if daemon.port:
        body += nla(DAEMON_MCAST_PORT, _U16.pack(daemon.port))  # host order, unlike the service ports
    if daemon.ttl:
        body += nla(DAEMON_MCAST_TTL, bytes((daemon.ttl,)))
    return message(family_id, NLM_F_REQUEST | NLM_F_ACK, seq, CMD_NEW_DAEMON, nest(ATTR_DAEMON, body))


def stop_daemon(family_id: int, state: SyncState, seq: int) -> bytes:
    return message(family_id, NLM_F_REQUEST | NLM_F_ACK, seq, CMD_DEL_DAEMON,
                   nest(ATTR_DAEMON, nla(DAEMON_STATE, _U32.pack(STATE_CODES[state]))))


def dump_daemons(family_id: int, seq: int) -> bytes:
    return message(family_id, NLM_F_REQUEST | NLM_F_DUMP, seq, CMD_GET_DAEMON, b"")


def parse_daemon(payload: memoryview) -> SyncDaemon | None:
    """One running sync daemon of a daemon dump (None if the message carries none, or a state lvsd does not know)."""
    nested = genl_attrs(payload).get(ATTR_DAEMON)
    if nested is None:
        return None
    a = attrs(nested)
    state = STATE_NAMES.get(u32_of(a, DAEMON_STATE))
    if state is None:
        return None
    group = ""
    if DAEMON_MCAST_GROUP6 in a:
        group = socket.inet_ntop(socket.AF_INET6, bytes(a[DAEMON_MCAST_GROUP6])[:16])
    elif DAEMON_MCAST_GROUP in a:
        group = socket.inet_ntoa(bytes(a[DAEMON_MCAST_GROUP])[:4])
    maxlen = a.get(DAEMON_SYNC_MAXLEN)
    port = a.get(DAEMON_MCAST_PORT)
    ttl = a.get(DAEMON_MCAST_TTL)
    return SyncDaemon(
        state=state,
        interface=text_of(a.get(DAEMON_MCAST_IFN)),
        syncid=u32_of(a, DAEMON_SYNC_ID),
        maxlen=int(_U16.unpack_from(maxlen)[0]) if maxlen is not None else 0,
        group=group,
        port=int(_U16.unpack_from(port)[0]) if port is not None else 0,
        ttl=ttl[0] if ttl is not None and len(ttl) else 0,
    )


def describe_sync(kernel_errno: int, step: SyncStep) -> str:
    """What an errno means for starting or stopping a sync daemon."""
    d = step.daemon
    if step.kind == "stop":
        if kernel_errno == errno_mod.ESRCH:
            return f"{strerror(kernel_errno)}: no {d.state} sync daemon runs"
        return strerror(kernel_errno)
    if kernel_errno == errno_mod.ENODEV:
        return f"{strerror(kernel_errno)}: no interface {d.interface!r} in this network namespace"
    if kernel_errno == errno_mod.EEXIST:
        return f"{strerror(kernel_errno)}: a {d.state} sync daemon already runs"
    if kernel_errno == errno_mod.EINVAL:
        return (f"{strerror(kernel_errno)}: the kernel refused the settings (a group that is not multicast, "
                "a maxlen the interface's MTU cannot carry, or real servers of another address family than "
                "their virtual service, which the sync protocol cannot carry)")
    return strerror(kernel_errno)
