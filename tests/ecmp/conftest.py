"""The in-process daemon tests' web servers (tests/daemon/conftest.py), here too."""

from tests.daemon.conftest import server, servers

__all__ = ["server", "servers"]
