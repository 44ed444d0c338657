"""ldirectord's log texts, byte for byte."""

from lvsd.config.model import RealServer, VirtualService
from lvsd.ipvs.table import Dest, Op, Service, ServiceKey
from lvsd.logtext import reset_failures, soft_failure, step_text
from lvsd.reconcile import Step

V = VirtualService(protocol="tcp", ip="192.0.2.10", port=80, failurecount=2)
R = RealServer(ip="192.0.2.11", port=80, forward="gate")
SVC = Service(key=ServiceKey.inet("tcp", "192.0.2.10", 80))


def text(kind, weight=1, role="real", real=R, port=80):
    dest = Dest(addr="192.0.2.11", port=port, weight=weight)
    return step_text(Step(Op(kind=kind, service=SVC, dest=dest, role=role), V, real))


def test_real_server_lines():
    assert text("add-dest") == "Added real server: 192.0.2.11:80 (192.0.2.10:80) (Weight set to 1)"
    assert text("edit-dest", 3) == "Restored real server: 192.0.2.11:80 (192.0.2.10:80) (Weight set to 3)"
    assert text("edit-dest", 0) == "Quiescent real server: 192.0.2.11:80 (192.0.2.10:80) (Weight set to 0)"
    assert text("del-dest") == "Deleted real server: 192.0.2.11:80 (192.0.2.10:80)"


def test_fallback_and_purge_lines():
    assert text("add-dest", role="fallback", real=None) == (
        "Added fallback server: 192.0.2.11:80 (192.0.2.10:80) (Weight set to 1)"
    )
    assert text("del-dest", role="fallback", real=None) == "Deleted fallback server: 192.0.2.11:80 (192.0.2.10:80)"
    assert text("del-dest", role="stale", real=None) == "Purged real server (start): 192.0.2.11:80 (192.0.2.10:80)"
    assert step_text(Step(Op(kind="add-service", service=SVC), V)) == "Added virtual server: 192.0.2.10:80"
    assert step_text(Step(Op(kind="del-service", service=SVC), None), "stop") == (
        "Purged virtual server (stop): 192.0.2.10:80"
    )


def test_mapped_port_lines():
    r = RealServer(ip="192.0.2.11", port=8080, forward="gate")
    assert text("del-dest", real=r) == "Deleted real server: 192.0.2.11:80 mapped from 192.0.2.11:8080 (192.0.2.10:80)"
    assert text("edit-dest", 0, real=r) == (
        "Quiescent real server: 192.0.2.11:80 mapped from 192.0.2.11:8080 (192.0.2.10:80) (Weight set to 0)"
    )


def test_soft_failure_lines():
    assert soft_failure(V, R, 1) == "Soft failure real server: 192.0.2.11:80 (tcp:192.0.2.10:80) failure 1/2"
    assert reset_failures(V, R) == "Resetting soft failure count: 192.0.2.11:80 (tcp:192.0.2.10:80)"
