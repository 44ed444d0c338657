"""The hot checks' sockets on an epoll of their own, drained by one reader callback of the asyncio loop.

Each ``add_reader``/``remove_reader`` of the asyncio loop walks a dozen
Python-level selector and transport-bookkeeping calls; for a check that
lives a fraction of a millisecond that bookkeeping is a good part of its
cost. The plain HTTP and connect checks register their socket here instead:
one C call to watch it, none to forget it (closing the socket removes it from
the epoll set), and one asyncio reader (this epoll's descriptor) that hands
each ready socket to its handler. Linux only, as lvsd is.

A :class:`SocketWatch` belongs to the :class:`~lvsd.checks.context.CheckContext`
that made it, which closes it when its checks are over.
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import Callable

IN, OUT = select.EPOLLIN, select.EPOLLOUT
BATCH = 1024


class SocketWatch:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ep = select.epoll()
        self.handlers: dict[int, Callable[[], None]] = {}
        loop.add_reader(self.ep.fileno(), self._ready)

    def watch(self, fd: int, events: int, handler: Callable[[], None]) -> None:
        """Call ``handler`` whenever ``fd`` is ready for ``events`` (IN or OUT), until :meth:`forget`."""
        if fd in self.handlers:
            self.ep.modify(fd, events)
        else:
            self.ep.register(fd, events)
        self.handlers[fd] = handler

    def forget(self, fd: int) -> None:
        """Stop calling the handler. The caller closes ``fd`` at once, which takes it out of the epoll set."""
        self.handlers.pop(fd, None)

    def close(self) -> None:
        """Stop watching: the loop's reader is removed and the epoll closed (its sockets are the checks' own)."""
        if not self.ep.closed:
            self.loop.remove_reader(self.ep.fileno())
            self.ep.close()
            self.handlers.clear()

    def _ready(self) -> None:
        handlers = self.handlers
        for fd, _ in self.ep.poll(0, BATCH):
            handler = handlers.get(fd)
            if handler is not None:
                handler()
