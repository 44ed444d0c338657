"""The kernel lab: real IPVS in User-Mode Linux, with a client and controllable real servers.

``tests/lab/run -- CMD`` boots the kernel and runs CMD inside it; :class:`lab.lab.Lab`
(also importable as ``lab.Lab``) builds the network and starts the agents. Importing this
package is cheap: the façade is loaded only when ``Lab`` is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lab.lab import Lab

__all__ = ["Lab"]


def __getattr__(name: str) -> Any:
    if name == "Lab":
        from lab.lab import Lab

        return Lab
    raise AttributeError(name)
