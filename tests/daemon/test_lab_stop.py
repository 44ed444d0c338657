"""Issue 5, point 5: stop removes exactly the services whose (per-virtual) cleanstop says so.

cleanstop=yes removes a managed service with its reals; cleanstop=no leaves it
exactly as it is (quiesced entries and the fallback included); a per-virtual
value beats the global one; a service lvsd does not manage is never touched.
"""

from __future__ import annotations

import pytest
from lab.lab import Lab

from tests.support.director import VIP, Director
from tests.support.kernel import ipvsadm_save, service_of

pytestmark = pytest.mark.lab

CONFIG = """\
logfile="@LOG@"
checkinterval=1
cleanstop={cleanstop}
quiescent=yes

virtual={vip}:80
	real=203.0.113.11:80 masq
	real=203.0.113.12:80 masq 2
	fallback=203.0.113.14:80 masq
	checktype=on
	cleanstop={v80}

virtual={vip}:81
	real=203.0.113.11:80 masq
	real=203.0.113.13:80 masq
	checktype=off
	fallback=203.0.113.14:80 masq
"""


@pytest.mark.parametrize(("cleanstop", "v80"), [("yes", "no"), ("no", "yes")])
def test_per_virtual_cleanstop(lab4: Lab, director: Director, cleanstop: str, v80: str) -> None:
    lab4.ipvsadm(f"-A -t {VIP}:9090 -s rr")  # not lvsd's
    director.write(CONFIG.format(vip=VIP, cleanstop=cleanstop, v80=v80))
    res = director.cli("start")
    assert res.returncode == 0, res.stderr + director.log()
    before = ipvsadm_save()
    # :81 has every real down (checktype=off): quiesced entries plus the fallback
    assert service_of(before, f"-t {VIP}:81") == (f"-A -t {VIP}:81 -s wrr", [
        f"-a -t {VIP}:81 -r 203.0.113.11:80 -m -w 0", f"-a -t {VIP}:81 -r 203.0.113.13:80 -m -w 0",
        f"-a -t {VIP}:81 -r 203.0.113.14:80 -m -w 1"])
    assert director.cli("stop").returncode == 0
    after = ipvsadm_save()
    kept, gone = (f"-t {VIP}:80", f"-t {VIP}:81") if v80 == "no" else (f"-t {VIP}:81", f"-t {VIP}:80")
    assert service_of(after, kept) == service_of(before, kept)  # exactly as it was
    assert service_of(after, gone) is None
    assert service_of(after, f"-t {VIP}:9090") == service_of(before, f"-t {VIP}:9090")
    log = director.log()
    assert f"Purged virtual server (stop): {gone.split()[1]}" in log
    assert f"Purged virtual server (stop): {kept.split()[1]}" not in log
    assert "Linux Director Daemon terminated on signal: TERM" in log
