"""The kernel's IPVS table over generic netlink (pyroute2's async socket).

:class:`NetlinkIPVS` reads the whole table (:meth:`dump`) and applies one
:class:`~lvsd.ipvs.table.Op` at a time (:meth:`apply`). Every call has a
deadline; a kernel refusal becomes :class:`IPVSError` carrying the errno and
the operation, never a crash. Editing uses SET, never pyroute2's "update"
(which deletes).
"""

from __future__ import annotations

import asyncio
import errno as errno_mod
import socket
from typing import Any

from pyroute2.netlink import NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.generic import AsyncGenericNetlinkSocket

from lvsd.errors import IPVSError
from lvsd.ipvs import messages as m
from lvsd.ipvs.table import F_HASHED, PROTOCOL_NAMES, PROTOCOLS, Dest, Op, Service, ServiceKey, Table

_OP_COMMANDS = {
    "add-service": m.CMD_NEW_SERVICE,
    "edit-service": m.CMD_SET_SERVICE,
    "del-service": m.CMD_DEL_SERVICE,
    "add-dest": m.CMD_NEW_DEST,
    "edit-dest": m.CMD_SET_DEST,
    "del-dest": m.CMD_DEL_DEST,
}


class _Socket(AsyncGenericNetlinkSocket):  # type: ignore[misc]  # pyroute2 is untyped
    async def setup_endpoint(self) -> None:
        if getattr(self.local, "transport", None) is not None:
            return
        await super().setup_endpoint()
        await self.bind(m.GENL_NAME, m.ipvs_msg)


def _service_key_attrs(key: ServiceKey) -> list[tuple[str, Any]]:
    af = m.family(key.ipv6)
    if key.is_fwmark:
        return [("IPVS_SVC_ATTR_AF", af), ("IPVS_SVC_ATTR_FWMARK", key.fwmark)]
    return [
        ("IPVS_SVC_ATTR_AF", af),
        ("IPVS_SVC_ATTR_PROTOCOL", PROTOCOLS[key.protocol]),
        ("IPVS_SVC_ATTR_ADDR", m.encode_addr(key.addr)),
        ("IPVS_SVC_ATTR_PORT", key.port),
    ]


def _service_attrs(svc: Service) -> list[tuple[str, Any]]:
    return [
        *_service_key_attrs(svc.key),
        ("IPVS_SVC_ATTR_SCHED_NAME", svc.scheduler),
        ("IPVS_SVC_ATTR_FLAGS", {"flags": svc.flags, "mask": 0xFFFFFFFF & ~F_HASHED}),
        ("IPVS_SVC_ATTR_TIMEOUT", svc.timeout),
        ("IPVS_SVC_ATTR_NETMASK", m.encode_netmask(svc.netmask, svc.key.ipv6)),
    ]


def _dest_attrs(dest: Dest, full: bool) -> list[tuple[str, Any]]:
    attrs: list[tuple[str, Any]] = [
        ("IPVS_DEST_ATTR_ADDR_FAMILY", m.family(":" in dest.addr)),
        ("IPVS_DEST_ATTR_ADDR", m.encode_addr(dest.addr)),
        ("IPVS_DEST_ATTR_PORT", dest.port),
    ]
    if full:
        attrs += [
            ("IPVS_DEST_ATTR_FWD_METHOD", m.FORWARD_CODES[dest.forward]),
            ("IPVS_DEST_ATTR_WEIGHT", dest.weight),
            ("IPVS_DEST_ATTR_U_THRESH", dest.u_thresh),
            ("IPVS_DEST_ATTR_L_THRESH", dest.l_thresh),
        ]
    return attrs


def _parse_service(attrs: dict[str, Any]) -> Service:
    af = attrs["IPVS_SVC_ATTR_AF"]
    ipv6 = af == socket.AF_INET6
    if attrs.get("IPVS_SVC_ATTR_FWMARK"):
        key = ServiceKey.mark(attrs["IPVS_SVC_ATTR_FWMARK"], ipv6)
    else:
        key = ServiceKey(
            protocol=PROTOCOL_NAMES.get(attrs["IPVS_SVC_ATTR_PROTOCOL"], str(attrs["IPVS_SVC_ATTR_PROTOCOL"])),
            addr=m.decode_addr(attrs["IPVS_SVC_ATTR_ADDR"], af),
            port=attrs["IPVS_SVC_ATTR_PORT"],
            ipv6=ipv6,
        )
    flags = attrs.get("IPVS_SVC_ATTR_FLAGS", {}).get("flags", 0)
    return Service(
        key=key,
        scheduler=attrs.get("IPVS_SVC_ATTR_SCHED_NAME", ""),
        flags=flags & ~F_HASHED,
        timeout=attrs.get("IPVS_SVC_ATTR_TIMEOUT", 0),
        netmask=m.decode_netmask(attrs.get("IPVS_SVC_ATTR_NETMASK", 0), ipv6),
    )


def _parse_dest(attrs: dict[str, Any], service_af: int) -> Dest:
    af = attrs.get("IPVS_DEST_ATTR_ADDR_FAMILY", service_af)
    fwd = attrs.get("IPVS_DEST_ATTR_FWD_METHOD", 0) & 0x7
    return Dest(
        addr=m.decode_addr(attrs["IPVS_DEST_ATTR_ADDR"], af),
        port=attrs["IPVS_DEST_ATTR_PORT"],
        forward=m.FORWARD_NAMES.get(fwd, "gate"),  # type: ignore[arg-type]
        weight=attrs.get("IPVS_DEST_ATTR_WEIGHT", 0),
        u_thresh=attrs.get("IPVS_DEST_ATTR_U_THRESH", 0),
        l_thresh=attrs.get("IPVS_DEST_ATTR_L_THRESH", 0),
        active=attrs.get("IPVS_DEST_ATTR_ACTIVE_CONNS", 0),
        inactive=attrs.get("IPVS_DEST_ATTR_INACT_CONNS", 0),
        persist=attrs.get("IPVS_DEST_ATTR_PERSIST_CONNS", 0),
    )


def _nla_dict(msg: Any, name: str) -> dict[str, Any]:
    inner = msg.get_attr(name)
    return {k: v for k, v in inner["attrs"]} if inner is not None else {}


class NetlinkIPVS:
    """The kernel's IPVS table. Use as ``async with NetlinkIPVS() as ipvs``."""

    def __init__(self, deadline: float = 2.0) -> None:
        self.deadline = deadline
        self._sock: _Socket | None = None

    async def __aenter__(self) -> NetlinkIPVS:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def open(self) -> None:
        if self._sock is not None:
            return
        sock = _Socket()
        try:
            async with asyncio.timeout(self.deadline):
                await sock.setup_endpoint()
        except (NetlinkError, OSError, TimeoutError) as exc:
            sock.close()
            code = getattr(exc, "code", None) or getattr(exc, "errno", None) or errno_mod.EIO
            if code == errno_mod.ENOENT:
                raise IPVSError("open", errno_mod.ENOENT, "the kernel has no IPVS (module ip_vs not loaded?)") from exc
            raise IPVSError("open", code, str(exc)) from exc
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def _request(self, what: str, cmd: int, attrs: list[tuple[str, Any]], flags: int) -> list[Any]:
        if self._sock is None:
            await self.open()
        assert self._sock is not None
        msg = m.ipvs_msg()
        msg["cmd"] = cmd
        msg["version"] = m.GENL_VERSION
        msg["attrs"] = attrs
        try:
            async with asyncio.timeout(self.deadline):
                return await self._sock._do_request(msg, msg_flags=flags)  # type: ignore[no-any-return]
        except NetlinkError as exc:
            raise IPVSError(what, exc.code, errno_mod.errorcode.get(exc.code, str(exc))) from exc
        except TimeoutError as exc:
            self.close()  # a socket that missed a reply cannot be trusted with the next one
            raise IPVSError(what, errno_mod.ETIMEDOUT, f"no answer within {self.deadline}s") from exc
        except OSError as exc:
            self.close()
            raise IPVSError(what, exc.errno or errno_mod.EIO, str(exc)) from exc

    async def dump(self) -> Table:
        """Read the whole table: every service, then each service's dests."""
        table = Table()
        for msg in await self._request("dump services", m.CMD_GET_SERVICE, [], NLM_F_REQUEST | NLM_F_DUMP):
            attrs = _nla_dict(msg, "IPVS_CMD_ATTR_SERVICE")
            if not attrs:
                continue
            svc = _parse_service(attrs)
            table.services[svc.key] = svc
            table.dests[svc.key] = {}
        for key in list(table.services):
            af = m.family(key.ipv6)
            try:
                replies = await self._request(
                    f"dump dests of {key}",
                    m.CMD_GET_DEST,
                    [("IPVS_CMD_ATTR_SERVICE", {"attrs": _service_key_attrs(key)})],
                    NLM_F_REQUEST | NLM_F_DUMP,
                )
            except IPVSError as exc:
                if exc.errno == errno_mod.ESRCH:  # deleted between the two reads
                    table.services.pop(key, None)
                    table.dests.pop(key, None)
                    continue
                raise
            for msg in replies:
                attrs = _nla_dict(msg, "IPVS_CMD_ATTR_DEST")
                if attrs:
                    dest = _parse_dest(attrs, af)
                    table.dests[key][dest.key] = dest
        return table

    async def apply(self, op: Op) -> None:
        """Apply one edit; raise :class:`IPVSError` if the kernel refuses it."""
        cmd = _OP_COMMANDS[op.kind]
        if op.kind in ("add-service", "edit-service"):
            svc_attrs = _service_attrs(op.service)
        else:
            svc_attrs = _service_key_attrs(op.service.key)
        attrs: list[tuple[str, Any]] = [("IPVS_CMD_ATTR_SERVICE", {"attrs": svc_attrs})]
        if op.dest is not None:
            attrs.append(("IPVS_CMD_ATTR_DEST", {"attrs": _dest_attrs(op.dest, full=op.kind != "del-dest")}))
        await self._request(op.ipvsadm(), cmd, attrs, NLM_F_REQUEST | NLM_F_ACK)
