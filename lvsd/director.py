"""Old name of :mod:`lvsd.loaded` (the loaded config and its check jobs).

Kept only while the command line and ``lvsd.checks.probe`` still import it
(both are being moved); delete once nothing does.
"""

from lvsd.loaded import LoadedConfig as Director
from lvsd.loaded import build, load

__all__ = ["Director", "build", "load"]
