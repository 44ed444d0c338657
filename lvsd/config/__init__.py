"""Configuration: read ldirectord.cf (and later YAML, lvs.cf) into immutable values."""
