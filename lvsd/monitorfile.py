"""ldirectord's ``monitorfile``: one line per check result, in its format.

``[ctime] [pid] <real id> [up|down] <message>``, where the real id is
ldirectord's ``check:protocol:ip:port:virtualhost:checkport:weight:forward:
request:receive`` with runs of ``:`` squeezed to one space; ``%``, ``|``, CR
and LF in the message are percent-encoded (``%7c``, as Perl's ``%.2x``); an
empty message is ``-``. ldirectord writes a line for every check result
except ping (and a connect on a UDP service, which is a ping), external-perl
and ``on``; the daemon follows that, maintenance lines included.
"""

from __future__ import annotations

import os
import re
import time

from lvsd.addr import bracketed
from lvsd.config.model import RealServer, VirtualService
from lvsd.log import ctime

_ENCODE = {"%": "%25", "|": "%7c", "\r": "%0d", "\n": "%0a"}  # Perl's sprintf("%%%.2x"): lower case


def real_id(v: VirtualService, r: RealServer) -> str:
    if v.checktype == "negotiate":
        check = f"{'combined' if v.connects_per_negotiate is not None else 'negotiate'}:{v.service}"
    elif v.checktype in ("external", "external-perl"):
        check = f"{v.checktype}:{v.checkcommand}"
    else:
        check = v.checktype
    request = r.request if r.request is not None else v.request
    receive = r.receive if r.receive is not None else v.receive
    host = bracketed(r.ip)
    fields = [check, v.protocol, host, str(r.port), v.virtualhost or "", str(v.checkport or ""),
              str(r.weight), r.forward, request, receive]
    return re.sub(":+", " ", ":".join(fields).replace("\\", ""))


def line(v: VirtualService, r: RealServer, up: bool, message: str, now: float | None = None) -> str:
    text = "".join(_ENCODE.get(c, c) for c in message) or "-"
    return f"[{ctime(now or time.time())}] [{os.getpid()}] {real_id(v, r)} [{'up' if up else 'down'}] {text}\n"


def append(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, text.encode("utf-8", "replace"))
    finally:
        os.close(fd)
