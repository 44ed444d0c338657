"""Load a config for a command: the loaded config, or its errors on stderr and None (the caller exits 2)."""

from __future__ import annotations

import sys

from lvsd.config.errors import ConfigError
from lvsd.loaded import LoadedConfig, load


def load_or_report(path: str, *, warnings: bool = True) -> LoadedConfig | None:
    """``path`` loaded as the daemon loads it; on an error every diagnostic goes to stderr and None comes back.

    With ``warnings``, the config's warnings go to stderr too (the daemon logs its own instead).
    """
    try:
        loaded = load(path)
    except ConfigError as exc:
        sys.stderr.write(exc.format() + "\n")
        return None
    if warnings:
        for warning in loaded.config.warnings:
            sys.stderr.write(warning.format() + "\n")
    return loaded
