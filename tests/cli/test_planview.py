"""planview's text is ipvsadm-save -n's, as observed from ipvsadm 1.31 in the kernel lab."""

from __future__ import annotations

import pytest

from lvsd.cli import planview
from lvsd.ipvs.table import F_ONEPACKET, F_PERSISTENT, F_SCHED1, F_SCHED2, Dest, Service, ServiceKey


def test_service_flags_in_ipvsadm_save_order() -> None:
    svc = Service(key=ServiceKey.inet("udp", "198.51.100.1", 53), scheduler="sh",
                  flags=F_PERSISTENT | F_ONEPACKET | F_SCHED2, timeout=30, netmask="255.255.0.0")
    assert planview.service_line(svc) == "-A -u 198.51.100.1:53 -s sh -p 30 -M 255.255.0.0 -o -b sh-port"
    both = Service(key=ServiceKey.inet("tcp", "198.51.100.1", 80), scheduler="sh", flags=F_SCHED1 | F_SCHED2)
    assert planview.service_line(both) == "-A -t 198.51.100.1:80 -s sh -b sh-fallback,sh-port"


def test_host_mask_is_not_printed() -> None:
    v4 = Service(key=ServiceKey.inet("tcp", "198.51.100.1", 80), scheduler="wrr", flags=F_PERSISTENT,
                 timeout=30, netmask="255.255.255.255")
    v6 = Service(key=ServiceKey.mark(8, True), scheduler="wrr", flags=F_PERSISTENT, timeout=60, netmask="64")
    assert planview.service_line(v4) == "-A -t 198.51.100.1:80 -s wrr -p 30"
    assert planview.service_line(v6) == "-A -f 8 -6 -s wrr -p 60 -M 64"


def test_dest_lines_have_no_thresholds_and_name_the_tunnel() -> None:
    svc = Service(key=ServiceKey.inet("tcp", "2001:db8::1", 80))
    ipip = Dest(addr="2001:db8::11", port=80, forward="ipip", weight=3, u_thresh=100, l_thresh=10)
    assert planview.dest_line(svc, ipip) == "-a -t [2001:db8::1]:80 -r [2001:db8::11]:80 -i -w 3 --tun-type ipip"


def test_canonical_sorts_numerically_and_groups() -> None:
    lines = ["-a -f 7 -r 203.0.113.11:0 -g -w 1", "-A -f 7 -s wrr",
             "-a -t 198.51.100.10:80 -r 203.0.113.9:80 -m -w 1", "-A -t 198.51.100.10:80 -s wrr",
             "-A -t 198.51.100.2:80 -s wrr", "-A -t [2001:db8::1]:80 -s wrr"]
    assert planview.canonical(lines) == [
        "-A -t 198.51.100.2:80 -s wrr", "-A -t 198.51.100.10:80 -s wrr",
        "-a -t 198.51.100.10:80 -r 203.0.113.9:80 -m -w 1", "-A -t [2001:db8::1]:80 -s wrr",
        "-A -f 7 -s wrr", "-a -f 7 -r 203.0.113.11:0 -g -w 1"]


def test_canonical_refuses_what_is_not_ipvsadm_save() -> None:
    with pytest.raises(ValueError, match="not an ipvsadm-save line"):
        planview.canonical(["ipvsadm -A -t 198.51.100.1:80"])
    with pytest.raises(ValueError, match="without a service line"):
        planview.canonical(["-a -t 198.51.100.1:80 -r 203.0.113.11:80 -m -w 1"])
