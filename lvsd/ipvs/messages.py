"""IPVS generic-netlink messages, with the attribute types the kernel really uses.

pyroute2's own IPVS map types the service netmask as an IPv4 address (so an
IPv6 service, whose netmask is a prefix length, cannot be expressed) and the
GUE tunnel port in host order; its ``"update"`` verb is mapped to a delete.
This module declares the message layout afresh on pyroute2's NLA machinery:
the netmask is a raw 32-bit value (see :func:`encode_netmask`) and ports are
big-endian. Only this module and :mod:`lvsd.ipvs.netlink` import pyroute2.
"""

from __future__ import annotations

import socket
import struct

from pyroute2.netlink import genlmsg, nla

GENL_NAME = "IPVS"
GENL_VERSION = 1

CMD_NEW_SERVICE = 1
CMD_SET_SERVICE = 2
CMD_DEL_SERVICE = 3
CMD_GET_SERVICE = 4
CMD_NEW_DEST = 5
CMD_SET_DEST = 6
CMD_DEL_DEST = 7
CMD_GET_DEST = 8
CMD_GET_INFO = 15

FWD_MASQ = 0
FWD_TUNNEL = 2
FWD_DROUTE = 3
FORWARD_CODES = {"masq": FWD_MASQ, "ipip": FWD_TUNNEL, "gate": FWD_DROUTE}
FORWARD_NAMES = {v: k for k, v in FORWARD_CODES.items()}


class _stats(nla):  # type: ignore[misc]  # pyroute2 is untyped
    nla_map = (
        ("IPVS_STATS_ATTR_UNSPEC", "none"),
        ("IPVS_STATS_ATTR_CONNS", "uint32"),
        ("IPVS_STATS_ATTR_INPKTS", "uint32"),
        ("IPVS_STATS_ATTR_OUTPKTS", "uint32"),
        ("IPVS_STATS_ATTR_INBYTES", "uint64"),
        ("IPVS_STATS_ATTR_OUTBYTES", "uint64"),
        ("IPVS_STATS_ATTR_CPS", "uint32"),
        ("IPVS_STATS_ATTR_INPPS", "uint32"),
        ("IPVS_STATS_ATTR_OUTPPS", "uint32"),
        ("IPVS_STATS_ATTR_INBPS", "uint32"),
        ("IPVS_STATS_ATTR_OUTBPS", "uint32"),
    )


class ipvs_msg(genlmsg):  # type: ignore[misc]  # pyroute2 is untyped
    """A message of the kernel's "IPVS" generic-netlink family."""

    prefix = "IPVS_CMD_ATTR_"
    nla_map = (
        ("IPVS_CMD_ATTR_UNSPEC", "none"),
        ("IPVS_CMD_ATTR_SERVICE", "service"),
        ("IPVS_CMD_ATTR_DEST", "dest"),
        ("IPVS_CMD_ATTR_DAEMON", "hex"),
        ("IPVS_CMD_ATTR_TIMEOUT_TCP", "uint32"),
        ("IPVS_CMD_ATTR_TIMEOUT_TCP_FIN", "uint32"),
        ("IPVS_CMD_ATTR_TIMEOUT_UDP", "uint32"),
    )

    class service(nla):  # type: ignore[misc]  # pyroute2 is untyped
        prefix = "IPVS_SVC_ATTR_"
        nla_map = (
            ("IPVS_SVC_ATTR_UNSPEC", "none"),
            ("IPVS_SVC_ATTR_AF", "uint16"),
            ("IPVS_SVC_ATTR_PROTOCOL", "uint16"),
            ("IPVS_SVC_ATTR_ADDR", "cdata"),
            ("IPVS_SVC_ATTR_PORT", "be16"),
            ("IPVS_SVC_ATTR_FWMARK", "uint32"),
            ("IPVS_SVC_ATTR_SCHED_NAME", "asciiz"),
            ("IPVS_SVC_ATTR_FLAGS", "flags"),
            ("IPVS_SVC_ATTR_TIMEOUT", "uint32"),
            ("IPVS_SVC_ATTR_NETMASK", "uint32"),
            ("IPVS_SVC_ATTR_STATS", "stats"),
            ("IPVS_SVC_ATTR_PE_NAME", "asciiz"),
            ("IPVS_SVC_ATTR_STATS64", "hex"),
        )

        class flags(nla):  # type: ignore[misc]  # pyroute2 is untyped
            fields = (("flags", "I"), ("mask", "I"))

        class stats(_stats):
            pass

    class dest(nla):  # type: ignore[misc]  # pyroute2 is untyped
        prefix = "IPVS_DEST_ATTR_"
        nla_map = (
            ("IPVS_DEST_ATTR_UNSPEC", "none"),
            ("IPVS_DEST_ATTR_ADDR", "cdata"),
            ("IPVS_DEST_ATTR_PORT", "be16"),
            ("IPVS_DEST_ATTR_FWD_METHOD", "uint32"),
            ("IPVS_DEST_ATTR_WEIGHT", "uint32"),
            ("IPVS_DEST_ATTR_U_THRESH", "uint32"),
            ("IPVS_DEST_ATTR_L_THRESH", "uint32"),
            ("IPVS_DEST_ATTR_ACTIVE_CONNS", "uint32"),
            ("IPVS_DEST_ATTR_INACT_CONNS", "uint32"),
            ("IPVS_DEST_ATTR_PERSIST_CONNS", "uint32"),
            ("IPVS_DEST_ATTR_STATS", "stats"),
            ("IPVS_DEST_ATTR_ADDR_FAMILY", "uint16"),
            ("IPVS_DEST_ATTR_STATS64", "hex"),
            ("IPVS_DEST_ATTR_TUN_TYPE", "uint8"),
            ("IPVS_DEST_ATTR_TUN_PORT", "be16"),
            ("IPVS_DEST_ATTR_TUN_FLAGS", "uint16"),
        )

        class stats(_stats):
            pass


def family(ipv6: bool) -> int:
    return socket.AF_INET6 if ipv6 else socket.AF_INET


def encode_addr(addr: str) -> bytes:
    """An address as the kernel's 16-byte ``nf_inet_addr``."""
    if ":" in addr:
        return socket.inet_pton(socket.AF_INET6, addr)
    return socket.inet_pton(socket.AF_INET, addr).ljust(16, b"\0")


def decode_addr(raw: bytes, af: int) -> str:
    if af == socket.AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, raw[:16])
    return socket.inet_ntop(socket.AF_INET, raw[:4])


def encode_netmask(netmask: str, ipv6: bool) -> int:
    """The NETMASK attribute as a native u32 carrying the kernel's raw bytes.

    The kernel reads the attribute with ``nla_get_be32`` into a plain u32:
    for IPv4 it is a network-order mask; for IPv6 the stored value is compared
    with 1..128 as a host integer, i.e. a prefix length in host order.
    """
    if ipv6:
        return int(netmask or "128")
    raw = socket.inet_aton(netmask or "255.255.255.255")
    return int(struct.unpack("=I", raw)[0])


def decode_netmask(value: int, ipv6: bool) -> str:
    if ipv6:
        return str(value)
    return socket.inet_ntoa(struct.pack("=I", value))
