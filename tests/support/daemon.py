"""The daemon in the test's own event loop, with the in-memory table: its config, start and stop.

The config is the one the in-process tests share: checks every second with a
one-second timeout, the log in the test's folder, and virtuals on
198.51.100.1:80 (or another VIP) whose masq reals are servers on 127.0.0.1,
checked with http for "OK".
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lvsd.daemon import Daemon
from lvsd.ipvs.backend import Backend
from lvsd.ipvs.memory import MemoryIPVS

VIP = "198.51.100.1"


def http_virtual(ports: Sequence[int], *, vip: str = VIP, weights: Sequence[int] = (),
                 fallback: str | None = None, lines: str = "") -> str:
    """``virtual=VIP:80`` with a masq real on 127.0.0.1 at each port (weight 1 unless ``weights`` says),
    an optional masq fallback, ``service=http`` and ``receive="OK"``, then ``lines`` (each ``\\t...\\n``)."""
    reals = "".join(f"\treal=127.0.0.1:{port} masq {weights[i] if i < len(weights) else 1}\n"
                    for i, port in enumerate(ports))
    fb = f"\tfallback={fallback} masq\n" if fallback else ""
    return f'virtual={vip}:80\n{reals}{fb}\tservice=http\n\treceive="OK"\n{lines}'


def daemon_config(folder: Path, *virtuals: str, globals_: str = "") -> str:
    """checktimeout=1, checkinterval=1, the log at FOLDER/lvsd.log, ``globals_``, then the virtuals."""
    return f'checktimeout=1\ncheckinterval=1\nlogfile="{folder}/lvsd.log"\n{globals_}\n' + "".join(virtuals)


async def start_daemon(cfg: Path | str, backend: Backend | None = None,
                       **kw: Any) -> tuple[Daemon, asyncio.Task[int]]:
    """A running daemon for ``cfg`` (in-memory table unless ``backend``), once its first pass is done."""
    ready = asyncio.Event()
    d = Daemon(str(cfg), MemoryIPVS() if backend is None else backend, on_ready=ready.set, **kw)
    task = asyncio.get_running_loop().create_task(d.run())
    async with asyncio.timeout(5):
        await ready.wait()
    return d, task


async def stop_daemon(d: Daemon, task: asyncio.Task[int], *, clean: bool = True, limit: float = 5.0) -> int:
    """Stop as on SIGTERM (``clean``) or SIGUSR2; its exit status, within ``limit`` seconds."""
    d.request_stop(clean=clean)
    async with asyncio.timeout(limit):
        return await task
