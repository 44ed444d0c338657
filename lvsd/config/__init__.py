"""Configuration: read ldirectord.cf, lvsd YAML and piranha lvs.cf into immutable values."""
