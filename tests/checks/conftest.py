"""Fixtures for the check tests: TLS certificates, the real daemons, and a spec builder."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lvsd.checks.base import CheckSpec
from tests.support.servers import Certs, make_certs

from . import daemons


def spec(service: str = "http", port: int = 80, kind: str = "negotiate", timeout: float = 5.0,
         **kw: Any) -> CheckSpec:
    return CheckSpec(kind=kind, service=service if kind == "negotiate" else "none", host="127.0.0.1", port=port,
                     timeout=timeout, **kw)


@pytest.fixture(scope="session")
def certs() -> Iterator[Certs]:
    with tempfile.TemporaryDirectory(prefix="lvsd-certs-") as d:
        Path(d).chmod(0o755)
        yield make_certs(Path(d))


@pytest.fixture(scope="session")
def dns_port() -> Iterator[int]:
    with daemons.dnsmasq() as port:
        yield port


@pytest.fixture(scope="session")
def pg_port() -> Iterator[int]:
    with daemons.postgres() as port:
        yield port


@pytest.fixture(scope="session")
def mysql_port() -> Iterator[int]:
    with daemons.mariadb() as port:
        yield port


@pytest.fixture(scope="session")
def ldap_ports(certs: Certs) -> Iterator[tuple[int, int]]:
    with daemons.slapd(certs) as ports:
        yield ports


@pytest.fixture(scope="session")
def radius_port() -> Iterator[int]:
    with daemons.freeradius() as port:
        yield port


@pytest.fixture(scope="session")
def ftp_port() -> Iterator[int]:
    with daemons.vsftpd() as port:
        yield port


@pytest.fixture(scope="session")
def mail_ports(certs: Certs) -> Iterator[dict[str, int]]:
    with daemons.dovecot(certs) as ports:
        yield ports


@pytest.fixture
def fresh_mail_ports(certs: Certs) -> Iterator[dict[str, int]]:
    """A Dovecot of its own: a failed login makes Dovecot slow down every later login from the address."""
    with daemons.dovecot(certs) as ports:
        yield ports
