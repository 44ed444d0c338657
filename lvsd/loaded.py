"""The loaded config and its check jobs, as one validated unit.

Start, reload and ``check-config`` all go through :func:`load`, so a config
that passes ``check-config`` is exactly a config the daemon will run, and a
config that asks for something this lvsd cannot do is refused up front with
``file:line`` instead of failing later at run time.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from lvsd.checks.base import spec_for
from lvsd.checks.run import UnsupportedCheck, validate
from lvsd.checks.scheduler import Job
from lvsd.config import loader
from lvsd.config.errors import ConfigError, Diagnostic
from lvsd.config.model import Config, MemberKey, RealServer, VirtualService


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    config: Config
    members: dict[MemberKey, tuple[VirtualService, RealServer]]
    jobs: dict[Hashable, Job]  # by MemberKey; the scheduler takes any key
    by_label: dict[str, VirtualService]  # "VIP:PORT" or the mark, as log lines name a virtual


def build(config: Config) -> LoadedConfig:
    members: dict[MemberKey, tuple[VirtualService, RealServer]] = {}
    jobs: dict[Hashable, Job] = {}
    problems: list[Diagnostic] = []
    for v in config.virtuals:
        for r in v.reals:
            key = MemberKey(v.key, r.key)
            members[key] = (v, r)
            spec = spec_for(v, r)
            try:
                validate(spec)
            except UnsupportedCheck as exc:
                where = v.where
                if not any(d.message == str(exc) and where and d.line == where.line for d in problems):
                    problems.append(
                        Diagnostic(
                            file=where.file if where else config.path,
                            line=where.line if where else 1,
                            col=where.col if where else 1,
                            message=str(exc),
                        )
                    )
                continue
            if spec.kind != "off":
                jobs[key] = Job(spec, v.checkinterval, config.maintenancedir, r.port)
    if problems:
        raise ConfigError(problems)
    return LoadedConfig(config, members, jobs, {v.label: v for v in config.virtuals})


def load(path: str) -> LoadedConfig:
    """Read, validate and prepare a config file; raise ConfigError with every problem."""
    return build(loader.load(path))
