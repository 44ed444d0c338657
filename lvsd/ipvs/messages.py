"""The IPVS generic-netlink messages, encoded and decoded exactly as the kernel defines them.

A small, complete codec for what lvsd says to the kernel (``include/uapi/linux/ip_vs.h``,
``net/netfilter/ipvs/ip_vs_ctl.c``): service and dest commands, the table
dumps, and the generic-netlink family lookup. It is written against the
kernel's layout directly (``struct.pack`` of TLVs) rather than a generic NLA
library because it is the hot path of a 10,000-entry table: pyroute2's
generic machinery cost about 1 ms per operation and 0.5 ms per dumped dest in
the lab, this codec about 20 µs; and because pyroute2's own IPVS map gets
three things wrong (the IPv6 netmask, the GUE port's byte order, an "update"
verb that deletes). The encodings that matter:

* ports (service, dest, GUE) are big-endian u16;
* NETMASK is read by the kernel as a raw u32: for IPv4 the mask's network
  bytes, for IPv6 a prefix length 1..128 in host order;
* FLAGS is ``struct ip_vs_flags {u32 flags; u32 mask}``; lvsd always sends
  the full mask (minus HASHED), so a SET replaces every flag;
* a LOCALNODE forwarding method (1) is read as ``"local"`` (older kernels
  stored it for dests on a local address).

The sync daemons' messages are :mod:`lvsd.ipvs.sync_messages`. This module does no I/O;
:mod:`lvsd.ipvs.netlink` owns the socket.
"""

from __future__ import annotations

import errno as errno_mod
import os
import socket
import struct
from collections.abc import Iterator

from lvsd.ipvs.table import F_HASHED, PROTOCOL_NAMES, PROTOCOLS, Dest, Forward, Op, Service, ServiceKey

GENL_NAME = b"IPVS"
GENL_VERSION = 1

# netlink (include/uapi/linux/netlink.h)
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10

# generic netlink controller
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2

# IPVS commands
CMD_NEW_SERVICE = 1
CMD_SET_SERVICE = 2
CMD_DEL_SERVICE = 3
CMD_GET_SERVICE = 4
CMD_NEW_DEST = 5
CMD_SET_DEST = 6
CMD_DEL_DEST = 7
CMD_GET_DEST = 8
CMD_GET_INFO = 15

# IPVS_CMD_ATTR_*
ATTR_SERVICE = 1
ATTR_DEST = 2

# IPVS_SVC_ATTR_*
SVC_AF = 1
SVC_PROTOCOL = 2
SVC_ADDR = 3
SVC_PORT = 4
SVC_FWMARK = 5
SVC_SCHED_NAME = 6
SVC_FLAGS = 7
SVC_TIMEOUT = 8
SVC_NETMASK = 9
SVC_PE_NAME = 11

# IPVS_DEST_ATTR_*
DEST_ADDR = 1
DEST_PORT = 2
DEST_FWD_METHOD = 3
DEST_WEIGHT = 4
DEST_U_THRESH = 5
DEST_L_THRESH = 6
DEST_ACTIVE_CONNS = 7
DEST_INACT_CONNS = 8
DEST_PERSIST_CONNS = 9
DEST_ADDR_FAMILY = 11
DEST_TUN_TYPE = 13
DEST_TUN_PORT = 14
DEST_TUN_FLAGS = 15

FWD_MASQ = 0
FWD_LOCALNODE = 1
FWD_TUNNEL = 2
FWD_DROUTE = 3
FWD_MASK = 0x7
FORWARD_CODES: dict[str, int] = {"masq": FWD_MASQ, "local": FWD_LOCALNODE, "ipip": FWD_TUNNEL, "gate": FWD_DROUTE}
FORWARD_NAMES: dict[int, Forward] = {FWD_MASQ: "masq", FWD_LOCALNODE: "local", FWD_TUNNEL: "ipip", FWD_DROUTE: "gate"}

OP_COMMANDS = {
    "add-service": CMD_NEW_SERVICE,
    "edit-service": CMD_SET_SERVICE,
    "del-service": CMD_DEL_SERVICE,
    "add-dest": CMD_NEW_DEST,
    "edit-dest": CMD_SET_DEST,
    "del-dest": CMD_DEL_DEST,
}

_HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_GENL = struct.Struct("=BBH")  # genlmsghdr: cmd, version, reserved
_NLA = struct.Struct("=HH")  # nlattr: len, type
_U16 = struct.Struct("=H")
_U32 = struct.Struct("=I")
_BE16 = struct.Struct("!H")
_FLAGS = struct.Struct("=II")
_I32 = struct.Struct("=i")

_FLAG_MASK = 0xFFFFFFFF & ~F_HASHED


def family(ipv6: bool) -> int:
    return socket.AF_INET6 if ipv6 else socket.AF_INET


def nla(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    size = _NLA.size + len(payload)
    return _NLA.pack(size, kind) + payload + b"\0" * (-size % 4)


def nest(kind: int, payload: bytes) -> bytes:
    return nla(kind | NLA_F_NESTED, payload)


def message(msg_type: int, flags: int, seq: int, cmd: int, payload: bytes, version: int = GENL_VERSION) -> bytes:
    """A whole generic-netlink request: nlmsghdr + genlmsghdr + attributes."""
    body = _GENL.pack(cmd, version, 0) + payload
    return _HDR.pack(_HDR.size + len(body), msg_type, flags, seq, 0) + body


def encode_addr(addr: str) -> bytes:
    """An address as the kernel's 16-byte ``nf_inet_addr``."""
    if ":" in addr:
        return socket.inet_pton(socket.AF_INET6, addr)
    return socket.inet_pton(socket.AF_INET, addr) + b"\0" * 12


def decode_addr(raw: bytes, af: int) -> str:
    if af == socket.AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, raw[:16])
    return socket.inet_ntop(socket.AF_INET, raw[:4])


def encode_netmask(netmask: str, ipv6: bool) -> bytes:
    """The NETMASK attribute's 4 bytes: the v4 mask in network order, or the v6 prefix length as a host u32."""
    if ipv6:
        return _U32.pack(int(netmask or "128"))
    return socket.inet_aton(netmask or "255.255.255.255")


def decode_netmask(raw: bytes, ipv6: bool) -> str:
    if ipv6:
        return str(_U32.unpack_from(raw)[0])
    return socket.inet_ntoa(raw[:4])


# -- requests -------------------------------------------------------------


def service_key_attrs(key: ServiceKey) -> bytes:
    af = _U16.pack(family(key.ipv6))
    if key.is_fwmark:
        return nla(SVC_AF, af) + nla(SVC_FWMARK, _U32.pack(key.fwmark))
    return (
        nla(SVC_AF, af)
        + nla(SVC_PROTOCOL, _U16.pack(PROTOCOLS[key.protocol]))
        + nla(SVC_ADDR, encode_addr(key.addr))
        + nla(SVC_PORT, _BE16.pack(key.port))
    )


def service_attrs(svc: Service) -> bytes:
    """A full service entry (NEW/SET_SERVICE need sched, flags, timeout and netmask)."""
    out = (
        service_key_attrs(svc.key)
        + nla(SVC_SCHED_NAME, svc.scheduler.encode() + b"\0")
        + nla(SVC_FLAGS, _FLAGS.pack(svc.flags & _FLAG_MASK, _FLAG_MASK))
        + nla(SVC_TIMEOUT, _U32.pack(svc.timeout))
        + nla(SVC_NETMASK, encode_netmask(svc.netmask, svc.key.ipv6))
    )
    if svc.pe:
        out += nla(SVC_PE_NAME, svc.pe.encode() + b"\0")
    return out


def dest_attrs(dest: Dest, full: bool) -> bytes:
    out = (
        nla(DEST_ADDR_FAMILY, _U16.pack(family(":" in dest.addr)))
        + nla(DEST_ADDR, encode_addr(dest.addr))
        + nla(DEST_PORT, _BE16.pack(dest.port))
    )
    if full:
        out += (
            nla(DEST_FWD_METHOD, _U32.pack(FORWARD_CODES[dest.forward]))
            + nla(DEST_WEIGHT, _U32.pack(dest.weight))
            + nla(DEST_U_THRESH, _U32.pack(dest.u_thresh))
            + nla(DEST_L_THRESH, _U32.pack(dest.l_thresh))
        )
        if dest.forward == "ipip":  # tunnel attributes exist since Linux 5.2; sent only where they mean something
            out += (
                nla(DEST_TUN_TYPE, bytes((dest.tun_type,)))
                + nla(DEST_TUN_PORT, _BE16.pack(dest.tun_port))
                + nla(DEST_TUN_FLAGS, _U16.pack(dest.tun_flags))
            )
    return out


def op_message(family_id: int, op: Op, seq: int, flags: int = NLM_F_REQUEST | NLM_F_ACK) -> bytes:
    """The request that performs ``op``."""
    if op.kind in ("add-service", "edit-service"):
        payload = nest(ATTR_SERVICE, service_attrs(op.service))
    else:
        payload = nest(ATTR_SERVICE, service_key_attrs(op.service.key))
    if op.dest is not None:
        payload += nest(ATTR_DEST, dest_attrs(op.dest, full=op.kind != "del-dest"))
    return message(family_id, flags, seq, OP_COMMANDS[op.kind], payload)


def dump_services(family_id: int, seq: int) -> bytes:
    return message(family_id, NLM_F_REQUEST | NLM_F_DUMP, seq, CMD_GET_SERVICE, b"")


def dump_dests(family_id: int, key: ServiceKey, seq: int) -> bytes:
    return message(family_id, NLM_F_REQUEST | NLM_F_DUMP, seq, CMD_GET_DEST, nest(ATTR_SERVICE, service_key_attrs(key)))


def get_family(seq: int) -> bytes:
    return message(GENL_ID_CTRL, NLM_F_REQUEST, seq, CTRL_CMD_GETFAMILY,
                   nla(CTRL_ATTR_FAMILY_NAME, GENL_NAME + b"\0"))


# -- replies --------------------------------------------------------------


def split(data: bytes) -> Iterator[tuple[int, int, int, memoryview]]:
    """The netlink messages of one datagram: (type, flags, seq, payload after nlmsghdr)."""
    view = memoryview(data)
    off = 0
    end = len(data)
    while off + _HDR.size <= end:
        size, kind, flags, seq, _pid = _HDR.unpack_from(data, off)
        if size < _HDR.size or off + size > end:
            break
        yield kind, flags, seq, view[off + _HDR.size : off + size]
        off += (size + 3) & ~3


def error_code(payload: memoryview) -> int:
    """The errno of an NLMSG_ERROR (0 for an ACK)."""
    return -int(_I32.unpack_from(payload)[0])


def attrs(payload: memoryview | bytes, start: int = 0) -> dict[int, memoryview]:
    """The attributes in ``payload[start:]`` by type (flags stripped)."""
    view = memoryview(payload)
    out: dict[int, memoryview] = {}
    off = start
    end = len(view)
    while off + 4 <= end:
        size, kind = _NLA.unpack_from(view, off)
        if size < 4 or off + size > end:
            break
        out[kind & NLA_TYPE_MASK] = view[off + 4 : off + size]
        off += (size + 3) & ~3
    return out


def genl_attrs(payload: memoryview) -> dict[int, memoryview]:
    """The top-level attributes of a generic-netlink message (after its genlmsghdr)."""
    return attrs(payload, _GENL.size)


def family_id(payload: memoryview) -> int:
    found = genl_attrs(payload).get(CTRL_ATTR_FAMILY_ID)
    if found is None:
        raise ValueError("the generic netlink controller sent no family id")
    return int(_U16.unpack_from(found)[0])


def u32_of(a: dict[int, memoryview], kind: int, default: int = 0) -> int:
    raw = a.get(kind)
    return default if raw is None else int(_U32.unpack_from(raw)[0])


def text_of(raw: memoryview | None) -> str:
    return "" if raw is None else bytes(raw).split(b"\0", 1)[0].decode("ascii", "replace")


def parse_service(payload: memoryview) -> Service | None:
    """A NEW_SERVICE message of a service dump, or None if it carries no service."""
    nested = genl_attrs(payload).get(ATTR_SERVICE)
    if nested is None:
        return None
    a = attrs(nested)
    af = int(_U16.unpack_from(a[SVC_AF])[0])
    ipv6 = af == socket.AF_INET6
    fwmark = u32_of(a, SVC_FWMARK)
    if fwmark:
        key = ServiceKey.mark(fwmark, ipv6)
    else:
        proto = int(_U16.unpack_from(a[SVC_PROTOCOL])[0])
        key = ServiceKey(
            protocol=PROTOCOL_NAMES.get(proto, str(proto)),
            addr=decode_addr(bytes(a[SVC_ADDR]), af),
            port=int(_BE16.unpack_from(a[SVC_PORT])[0]),
            ipv6=ipv6,
        )
    flags = _FLAGS.unpack_from(a[SVC_FLAGS])[0] if SVC_FLAGS in a else 0
    netmask = a.get(SVC_NETMASK)
    return Service(
        key=key,
        scheduler=text_of(a.get(SVC_SCHED_NAME)),
        flags=flags & ~F_HASHED,
        timeout=u32_of(a, SVC_TIMEOUT),
        netmask=decode_netmask(bytes(netmask), ipv6) if netmask is not None else "",
        pe=text_of(a.get(SVC_PE_NAME)),
    )


def parse_dest(payload: memoryview, service_af: int) -> Dest | None:
    """A NEW_DEST message of a dest dump, or None if it carries no dest."""
    nested = genl_attrs(payload).get(ATTR_DEST)
    if nested is None:
        return None
    a = attrs(nested)
    af_raw = a.get(DEST_ADDR_FAMILY)  # absent before Linux 3.18: the service's family
    af = service_af if af_raw is None else int(_U16.unpack_from(af_raw)[0])
    tun_type = a.get(DEST_TUN_TYPE)
    tun_port = a.get(DEST_TUN_PORT)
    tun_flags = a.get(DEST_TUN_FLAGS)
    return Dest(
        addr=decode_addr(bytes(a[DEST_ADDR]), af),
        port=int(_BE16.unpack_from(a[DEST_PORT])[0]),
        forward=FORWARD_NAMES.get(u32_of(a, DEST_FWD_METHOD) & FWD_MASK, "gate"),
        weight=u32_of(a, DEST_WEIGHT),
        u_thresh=u32_of(a, DEST_U_THRESH),
        l_thresh=u32_of(a, DEST_L_THRESH),
        tun_type=tun_type[0] if tun_type is not None and len(tun_type) else 0,
        tun_port=int(_BE16.unpack_from(tun_port)[0]) if tun_port is not None else 0,
        tun_flags=int(_U16.unpack_from(tun_flags)[0]) if tun_flags is not None else 0,
        active=u32_of(a, DEST_ACTIVE_CONNS),
        inactive=u32_of(a, DEST_INACT_CONNS),
        persist=u32_of(a, DEST_PERSIST_CONNS),
    )


def strerror(code: int) -> str:
    """``File exists (EEXIST)``: the text and the symbolic name of an errno."""
    name = errno_mod.errorcode.get(code, str(code))
    return f"{os.strerror(code)} ({name})"


def describe(kernel_errno: int, op: Op | None = None) -> str:
    """What an IPVS errno means for ``op``, in words an operator can act on."""
    if op is not None and kernel_errno == errno_mod.ENOENT and op.kind in ("add-service", "edit-service"):
        return (f"{strerror(kernel_errno)}: scheduler {op.service.scheduler!r} or persistence engine not "
                f"available (is module ip_vs_{op.service.scheduler} loaded?)")
    if kernel_errno == errno_mod.ESRCH:
        return f"{strerror(kernel_errno)}: the service is not in the kernel table"
    if op is not None and kernel_errno == errno_mod.ENOENT and op.dest is not None:
        return f"{strerror(kernel_errno)}: the real server is not in the kernel table"
    if kernel_errno == errno_mod.EEXIST:
        return f"{strerror(kernel_errno)}: already in the kernel table"
    return strerror(kernel_errno)


