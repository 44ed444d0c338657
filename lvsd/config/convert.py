"""``lvsd convert``: a loaded config written in another format (ldirectord.cf or YAML)."""

from __future__ import annotations

from lvsd.config import writer
from lvsd.config.errors import Diagnostic
from lvsd.config.model import Config

FORMATS = ("yaml", "ldirectord")


def convert(config: Config, to: str) -> tuple[str, list[Diagnostic]]:
    """The text of ``config`` in format ``to`` and warnings about what was dropped.

    Raises ConfigError when the config holds a value the format cannot express.
    """
    if to == "yaml":
        return writer.to_yaml(config)
    if to == "ldirectord":
        return writer.to_ldirectord(config)
    raise ValueError(f"unknown format {to!r} (expected {' or '.join(FORMATS)})")
