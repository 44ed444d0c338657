"""Read lvsd's YAML config: ldirectord.cf's model and names, for configuration-management tools.

The schema mirrors ldirectord.cf. Global directives are top-level keys;
``virtuals`` is a list, each item a virtual block with the same keys as
ldirectord.cf's members, plus ``reals``, a list of real servers::

    checkinterval: 5
    quiescent: true
    virtuals:
      - virtual: 198.51.100.1:80       # or "[2001:db8::1]:80" with virtual6:, or a fwmark: 7
        service: http
        request: /health
        receive: OK
        reals:
          - {real: 203.0.113.11:80, forward: masq, weight: 2}
          - {real: 203.0.113.12->203.0.113.14, forward: gate}
        reentry: 30                    # lvsd only: seconds a failed real must pass checks
    execute: [/etc/lvsd/other.cf]      # a list (ldirectord repeats the line)

A real takes ``real`` (``ADDRESS[->ADDRESS][:PORT]``, brackets for IPv6),
``forward`` (gate, masq or ipip), and optionally ``weight``, ``request`` with
``receive``, ``l_threshold`` and ``u_threshold``. yes/no values are YAML
booleans (``yes``/``no`` also work); ``fallback`` is ldirectord's text
(``127.0.0.1:80 gate``). Strings that ldirectord wants in double quotes are
plain YAML strings here.

Validation is ldirectord.cf's, to the letter: each key becomes the statement
ldirectord.cf would have, at the key's line and column, and goes through
ldirectord.build(), so the same value means the same thing and is refused
with the same message in both formats. Errors name FILE:LINE:COL from
PyYAML's node marks; duplicate keys, unknown keys (with a suggestion) and
keys at the wrong level are errors too.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import replace
from typing import TypedDict

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints; nodes are used as Any

from lvsd.config import ldirectord
from lvsd.config.addresses import FORWARDS, MAX_THRESHOLD, MAX_WEIGHT
from lvsd.config.directives import DEPRECATED, DIRECTIVES, MAX_SECONDS, QUOTED
from lvsd.config.errors import ConfigError, Diagnostic
from lvsd.config.lexer import Statement
from lvsd.config.model import Config
from lvsd.config.resolver import Resolver
from lvsd.config.source import Source

REAL_KEYS = ("real", "forward", "weight", "request", "receive", "l_threshold", "u_threshold")
EXTRA_KEYS = ("reentry", "send_program")  # lvsd only
_GLOBAL_KEYS = [k for k, d in DIRECTIVES.items() if d.scope != "virtual"] + ["virtuals"]
_GLOBAL_LISTS = frozenset(k for k, d in DIRECTIVES.items() if d.scope == "global" and d.multi)  # execute, vrrpnode
_VIRTUAL_KEYS = ([k for k, d in DIRECTIVES.items() if d.scope != "global" and k not in ("real", "real6")]
                 + ["virtual", "virtual6", "reals", *EXTRA_KEYS])


class Extras(TypedDict, total=False):
    """lvsd-only keys of a virtual (no ldirectord.cf directive)."""

    reentry: float
    send_program: str


class _Fail(Exception):
    def __init__(self, node: yaml.Node, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Reader:
    def __init__(self, src: Source) -> None:
        self.src = src
        self.extras: list[Extras] = []  # per virtual, in order

    def error(self, node: yaml.Node, message: str) -> None:
        self.src.error(*_pos(node), message)

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """The (key, key node, value node) of a mapping; duplicate and non-string keys are errors."""
        if not isinstance(node, yaml.MappingNode):
            raise _Fail(node, f"{what} must be a mapping of keys to values")
        seen: dict[str, int] = {}
        out = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                self.error(key_node, f"keys must be names, not {key_node.tag.rsplit(':', 1)[-1]}")
                continue
            key = str(key_node.value)
            line = _pos(key_node)[0]
            if key in seen:
                self.error(key_node, f"duplicate key {key!r} (first on line {seen[key]})")
                continue
            seen[key] = line
            out.append((key, key_node, value_node))
        return out

    def scalar(self, name: str, node: yaml.Node) -> str:
        """A scalar as the text ldirectord.cf would have after ``name=``."""
        if not isinstance(node, yaml.ScalarNode):
            shape = "list" if isinstance(node, yaml.SequenceNode) else "mapping"
            raise _Fail(node, f"{name} takes a single value, not a {shape}")
        tag = node.tag.rsplit(":", 1)[-1]
        if tag == "null":
            raise _Fail(node, f"{name} needs a value")
        if tag == "bool":
            return "yes" if str(node.value).lower() in ("yes", "true", "on", "y") else "no"
        return str(node.value)

    def statement(self, kind: str, name: str, key: yaml.Node, node: yaml.Node, *, block: int = 0,
                  text: str | None = None) -> Statement:
        value = self.scalar(name, node) if text is None else text
        line, col = _pos(node)
        if (name in QUOTED or (kind == "member" and name == "fallbackcommand")) and text is None:
            value, col = f'"{value}"', col - 1
        return Statement(kind=kind, line=line, name=name, name_col=_pos(key)[1],  # type: ignore[arg-type]
                         value=value, value_col=max(col, 1), has_equals=True, block=block)

    def unknown(self, key: yaml.Node, name: str, here: list[str], there: list[str], where: str) -> None:
        if name in DEPRECATED:
            self.error(key, DEPRECATED[name])
        elif name in there:
            fix = ("a global key: put it at the top level" if where == "virtual"
                   else "a virtual key: put it in an item of virtuals:")
            self.error(key, f"{name!r} is {fix}")
        else:
            close = difflib.get_close_matches(name, here, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.error(key, f"unknown key {name!r} in {'a virtual' if where == 'virtual' else 'the top level'}{hint}")

    # -- the document ----------------------------------------------------------------
    def statements(self, root: yaml.Node | None) -> Iterator[Statement]:
        if root is None:
            return
        try:
            top = self.mapping(root, "the document")
        except _Fail as exc:
            self.error(exc.node, exc.message)
            return
        virtuals: yaml.Node | None = None
        for name, key, node in top:
            if name == "virtuals":
                virtuals = node
            elif name in _GLOBAL_LISTS and isinstance(node, yaml.SequenceNode):
                for item in node.value:
                    yield from self.guarded(
                        lambda item=item, key=key, name=name: self.statement("global", name, key, item))
            elif name in _GLOBAL_KEYS:
                yield from self.guarded(lambda key=key, node=node, name=name: self.statement("global", name, key, node))
            else:
                self.unknown(key, name, _GLOBAL_KEYS, _VIRTUAL_KEYS, "global")
        if virtuals is None or (isinstance(virtuals, yaml.ScalarNode) and virtuals.tag.endswith(":null")):
            return
        if not isinstance(virtuals, yaml.SequenceNode):
            self.error(virtuals, "virtuals must be a list of virtual services")
            return
        for item in virtuals.value:
            yield from self.virtual(item)

    def guarded(self, make: object) -> Iterator[Statement]:
        try:
            yield make()  # type: ignore[operator]  # a zero-argument callable
        except _Fail as exc:
            self.error(exc.node, exc.message)

    def virtual(self, item: yaml.Node) -> Iterator[Statement]:
        try:
            keys = self.mapping(item, "a virtual service")
        except _Fail as exc:
            self.error(exc.node, exc.message)
            return
        headers = [(name, key, node) for name, key, node in keys if name in ("virtual", "virtual6")]
        if len(headers) != 1:
            self.error(item, "a virtual service needs exactly one of virtual: or virtual6: "
                       f"(found {len(headers)})")
            return
        name, key, node = headers[0]
        try:
            header = self.statement("virtual", name, key, node)
        except _Fail as exc:
            self.error(exc.node, exc.message)
            return
        extras: Extras = {}
        self.extras.append(extras)
        yield header
        six = name == "virtual6"
        for member, key, node in keys:
            if member in ("virtual", "virtual6"):
                continue
            if member == "reals":
                yield from self.reals(node, header.line, six)
            elif member in EXTRA_KEYS:
                self.extra(member, node, extras)
            elif member in _VIRTUAL_KEYS:
                yield from self.guarded(
                    lambda m=member, k=key, n=node: self.statement("member", m, k, n, block=header.line))
            else:
                self.unknown(key, member, _VIRTUAL_KEYS, _GLOBAL_KEYS, "virtual")

    def extra(self, name: str, node: yaml.Node, extras: Extras) -> None:
        try:
            text = self.scalar(name, node)
        except _Fail as exc:
            self.error(exc.node, exc.message)
            return
        if name == "reentry":
            if not text.isdigit() or not 0 <= int(text) <= MAX_SECONDS:
                self.error(node, f"reentry must be a whole number of seconds from 0 to {MAX_SECONDS}, not {text!r}")
                return
            extras["reentry"] = float(int(text))
        else:
            extras["send_program"] = text

    def reals(self, node: yaml.Node, block: int, six: bool) -> Iterator[Statement]:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, "reals must be a list of real servers")
            return
        for item in node.value:
            try:
                yield self.real(item, block, six)
            except _Fail as exc:
                self.error(exc.node, exc.message)

    def real(self, item: yaml.Node, block: int, six: bool) -> Statement:
        keys = {name: (key, value) for name, key, value in self.mapping(item, "a real server")}
        for name, (key, _) in keys.items():
            if name not in REAL_KEYS:
                close = difflib.get_close_matches(name, REAL_KEYS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise _Fail(key, f"unknown key {name!r} in a real server{hint}")
        if "real" not in keys or "forward" not in keys:
            missing = "real" if "real" not in keys else "forward"
            raise _Fail(item, f"a real server needs {missing}: "
                        + ("ADDRESS[->ADDRESS][:PORT]" if missing == "real" else "gate, masq or ipip"))
        key, address_node = keys["real"]
        text = self.scalar("real", address_node)
        forward = self.scalar("forward", keys["forward"][1])
        if forward not in FORWARDS:
            raise _Fail(keys["forward"][1], f"forward method must be gate, masq or ipip, not {forward!r}")
        text += f" {forward}"
        if "weight" in keys:
            text += f" {self.number('weight', keys['weight'][1], MAX_WEIGHT)}"
        if ("request" in keys) != ("receive" in keys):
            raise _Fail(item, "request and receive go together in a real server (as in ldirectord.cf)")
        if "request" in keys:
            pair = [self.scalar(n, keys[n][1]) for n in ("request", "receive")]
            for n, value in zip(("request", "receive"), pair, strict=True):
                if '"' in value:
                    raise _Fail(keys[n][1], f"a real server's {n} cannot contain '\"' (as in ldirectord.cf)")
            text += f' "{pair[0]}" "{pair[1]}"'
        for name, letter in (("l_threshold", "l"), ("u_threshold", "u")):
            if name in keys:
                text += f" {letter}:{self.number(name, keys[name][1], MAX_THRESHOLD)}"
        return self.statement("member", "real6" if six else "real", key, address_node, block=block, text=text)

    def number(self, name: str, node: yaml.Node, maximum: int) -> int:
        text = self.scalar(name, node)
        if not text.isdigit() or int(text) > maximum:
            raise _Fail(node, f"{name} must be a whole number from 0 to {maximum}, not {text!r}")
        return int(text)


def parse(text: str, path: str, *, resolver: Resolver | None = None) -> Config:
    """Parse lvsd YAML ``text`` read from ``path``; raise ConfigError listing every error."""
    src = Source(path, text)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"YAML syntax: {exc.problem or exc.context}"
        raise ConfigError([Diagnostic(file=path, line=line, col=col, message=message,
                                      source=src.line(line))]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Diagnostic(file=path, line=1, col=1, message=f"YAML: {exc}")]) from None
    reader = _Reader(src)
    config = ldirectord.build(src, lambda: list(reader.statements(root)), resolver, "YAML")
    if len(reader.extras) == len(config.virtuals):
        virtuals = tuple(replace(v, **extra) for v, extra in zip(config.virtuals, reader.extras, strict=True))
        config = replace(config, virtuals=virtuals)
    return config
