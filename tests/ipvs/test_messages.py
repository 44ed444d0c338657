"""The IPVS netlink codec: layouts checked against an independent decoder (pyroute2's) and round trips.

The kernel itself is the final judge (tests/ipvs/test_lab_features.py); these pin the bytes.
"""

import socket
import struct

from pyroute2.netlink.generic.ipvs import ipvsmsg

from lvsd.ipvs import messages as m
from lvsd.ipvs.table import F_PERSISTENT, F_SCHED1, Dest, Op, Service, ServiceKey

SVC = Service(key=ServiceKey.inet("tcp", "198.51.100.1", 80), scheduler="sh", flags=F_SCHED1 | F_PERSISTENT,
              timeout=300, netmask="255.255.255.0")
V6 = Service(key=ServiceKey.inet("udp", "2001:db8::1", 53), scheduler="wlc", flags=F_PERSISTENT, timeout=60,
             netmask="64")


def decode(data: bytes):
    msg = ipvsmsg(data)
    msg.decode()
    return msg


def test_new_service_decodes_with_an_independent_decoder():
    msg = decode(m.op_message(42, Op(kind="add-service", service=SVC), seq=7))
    assert msg["header"]["type"] == 42 and msg["header"]["sequence_number"] == 7
    assert msg["cmd"] == m.CMD_NEW_SERVICE
    svc = msg.get_attr("IPVS_CMD_ATTR_SERVICE")
    assert svc.get_attr("IPVS_SVC_ATTR_AF") == socket.AF_INET
    assert svc.get_attr("IPVS_SVC_ATTR_PROTOCOL") == 6
    assert svc.get_attr("IPVS_SVC_ATTR_PORT") == 80
    assert svc.get_attr("IPVS_SVC_ATTR_SCHED_NAME") == "sh"
    assert svc.get_attr("IPVS_SVC_ATTR_TIMEOUT") == 300
    assert svc.get_attr("IPVS_SVC_ATTR_NETMASK") == "255.255.255.0"
    assert svc.get_attr("IPVS_SVC_ATTR_FLAGS")["flags"] == F_SCHED1 | F_PERSISTENT
    assert svc.get_attr("IPVS_SVC_ATTR_FLAGS")["mask"] == 0xFFFFFFFD  # everything but HASHED


def test_ipv6_netmask_is_a_host_order_prefix_length_and_ports_are_big_endian():
    raw = m.service_attrs(V6)
    a = m.attrs(raw)
    assert struct.unpack("=I", a[m.SVC_NETMASK])[0] == 64
    assert bytes(a[m.SVC_PORT]) == b"\x00\x35"
    assert bytes(a[m.SVC_ADDR]) == socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    d = m.attrs(m.dest_attrs(Dest(addr="2001:db8::11", port=8080, forward="ipip", tun_type=1, tun_port=6080),
                             full=True))
    assert bytes(d[m.DEST_PORT]) == b"\x1f\x90" and bytes(d[m.DEST_TUN_PORT]) == b"\x17\xc0"
    assert struct.unpack("=I", d[m.DEST_FWD_METHOD])[0] == m.FWD_TUNNEL


def test_a_delete_carries_only_the_keys_and_only_the_last_of_a_batch_asks_for_an_ack():
    op = Op(kind="del-dest", service=SVC, dest=Dest(addr="203.0.113.11", port=80, forward="masq", weight=5))
    data = m.op_message(42, op, seq=1, flags=m.NLM_F_REQUEST)
    ((_, flags, seq, payload),) = list(m.split(data))
    assert (flags, seq) == (m.NLM_F_REQUEST, 1)
    top = m.genl_attrs(payload)
    assert set(m.attrs(top[m.ATTR_SERVICE])) == {m.SVC_AF, m.SVC_PROTOCOL, m.SVC_ADDR, m.SVC_PORT}
    assert set(m.attrs(top[m.ATTR_DEST])) == {m.DEST_ADDR_FAMILY, m.DEST_ADDR, m.DEST_PORT}


def _reply(cmd: int, attr: int, inner: bytes) -> memoryview:
    data = m.message(42, m.NLM_F_MULTI, 3, cmd, m.nest(attr, inner))
    ((_, _, _, payload),) = list(m.split(data))
    return payload


def test_dumped_service_and_dest_parse_back_with_counters_and_without_hashed():
    svc_payload = _reply(m.CMD_NEW_SERVICE, m.ATTR_SERVICE,
                         m.service_attrs(SVC).replace(struct.pack("=II", F_SCHED1 | F_PERSISTENT, 0xFFFFFFFD),
                                                      struct.pack("=II", F_SCHED1 | F_PERSISTENT | 2, 0xFFFFFFFF)))
    assert m.parse_service(svc_payload) == SVC
    v6 = _reply(m.CMD_NEW_SERVICE, m.ATTR_SERVICE, m.service_attrs(V6))
    assert m.parse_service(v6) == V6
    dest = Dest(addr="203.0.113.11", port=80, forward="masq", weight=3, u_thresh=100, l_thresh=10)
    inner = m.dest_attrs(dest, full=True) + m.nla(m.DEST_ACTIVE_CONNS, struct.pack("=I", 4))
    parsed = m.parse_dest(_reply(m.CMD_NEW_DEST, m.ATTR_DEST, inner), socket.AF_INET)
    assert parsed == dest and parsed.active == 4
    local = m.dest_attrs(Dest(addr="127.0.0.1", port=80, forward="local"), full=True)
    a = m.attrs(local)
    assert struct.unpack("=I", a[m.DEST_FWD_METHOD])[0] == m.FWD_LOCALNODE
    assert m.parse_dest(_reply(m.CMD_NEW_DEST, m.ATTR_DEST, local), socket.AF_INET).forward == "local"


def test_errors_are_read_with_their_sequence_number():
    err = struct.pack("=i", -17) + struct.pack("=IHHII", 16, 0, 0, 9, 0)
    data = struct.pack("=IHHII", 16 + len(err), m.NLMSG_ERROR, 0, 9, 0) + err
    ((kind, _, seq, payload),) = list(m.split(data))
    assert (kind, seq, m.error_code(payload)) == (m.NLMSG_ERROR, 9, 17)
    assert m.strerror(17) == "File exists (EEXIST)"
