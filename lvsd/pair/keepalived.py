"""keepalived's VRRP configuration for each director of a pair, written from lvsd's own config.

keepalived runs VRRP only (``keepalived --vrrp``): it elects the active director and moves
the addresses; lvsd keeps the checks, the table and the sync daemons. Per node this writes
one ``vrrp_instance`` that:

* moves every virtual service's VIP (a /32 or /128 on ``vrrpinterface``) and each
  ``vrrpaddress`` (with masq: the real servers' gateway, on its own device);
* starts as BACKUP on every node, the priorities deciding, and takes the VIP back after a
  restart only after ``vrrpwarmup`` seconds (``preempt_delay``), while the returning node's
  backup sync daemon learns the active side's connections;
* reads lvsd's health from ``vrrptrackfile`` (the count of unserved virtual services) with a
  weight large enough that one unserved service puts a node below every healthy peer, and
  small enough that equally sick nodes keep their order;
* tells lvsd its state through ``notify`` (``lvsd vrrp``), for ``syncrole=vrrp``;
* speaks unicast to the other nodes when every ``vrrpnode`` has an address, else multicast;
* uses VRRPv3 when ``vrrpadvert`` is not whole seconds (VRRPv2 counts in seconds).

Pure: a :class:`~lvsd.config.model.Config` in, text out; :class:`PairError` says what is missing.
"""

from __future__ import annotations

from lvsd.config.model import Config, VrrpNode, VrrpSettings

NOTIFY = "/usr/sbin/lvsd"
TRACK_NAME = "lvsd_unserved"


class PairError(ValueError):
    """The config does not describe a pair keepalived can run."""


def _settings(config: Config) -> VrrpSettings:
    r = config.vrrp
    if r is None or not r.interface:
        raise PairError(f"{config.path}: no vrrpinterface (the interface VRRP speaks on)")
    if len(r.nodes) < 2:
        raise PairError(f"{config.path}: a pair needs two vrrpnode lines (NAME PRIORITY [ADDRESS]), "
                        f"found {len(r.nodes)}")
    return r


def track_weight(nodes: tuple[VrrpNode, ...]) -> int:
    """Per unserved virtual service: enough to fall below every healthy node, the same for all (keeps order)."""
    priorities = [n.priority for n in nodes]
    return -(max(priorities) - min(priorities) + 1)


def addresses(config: Config, r: VrrpSettings) -> list[str]:
    """The ``virtual_ipaddress`` lines: each VIP once (unless an address line gives it a prefix), then the others."""
    out: dict[str, None] = {}
    given = {addr.split("/")[0] for addr, _ in r.addresses}
    for v in config.virtuals:
        if v.ip is not None and v.ip not in given:
            out[f"{v.ip}/{128 if ':' in v.ip else 32} dev {r.interface}"] = None
    for addr, dev in r.addresses:
        out[f"{addr} dev {dev or r.interface}"] = None
    return list(out)


def node_config(config: Config, node_name: str, *, notify: str = NOTIFY) -> str:
    """keepalived.conf for ``node_name`` (one of the config's vrrpnode lines)."""
    r = _settings(config)
    by_name = {n.name: n for n in r.nodes}
    node = by_name.get(node_name)
    if node is None:
        raise PairError(f"{config.path}: no vrrpnode {node_name!r} (nodes: {', '.join(by_name)})")
    lines = [
        f"# keepalived VRRP for lvsd node {node.name}: written by 'lvsd keepalived {config.path}'.",
        "# Run keepalived with --vrrp: lvsd owns the checks, the IPVS table and the sync daemons.",
        "global_defs {",
        f"    router_id lvsd_{node.name}",
        "    enable_script_security",
        "    script_user root",
        "}",
    ]
    if config.vrrptrackfile:
        lines += [
            "",
            f"track_file {TRACK_NAME} {{",
            f"    file {config.vrrptrackfile}",
            f"    weight {track_weight(r.nodes)}",
            "    init_file 0",
            "}",
        ]
    lines += [
        "",
        f"vrrp_instance lvsd_{r.vrid} {{",
        "    state BACKUP",
        f"    interface {r.interface}",
        f"    virtual_router_id {r.vrid}",
        f"    priority {node.priority}",
        f"    advert_int {r.advert:g}",
    ]
    if not float(r.advert).is_integer():
        lines.append("    version 3")  # VRRPv2 advertises in whole seconds: sub-second intervals need VRRPv3
    if r.warmup:
        lines.append(f"    preempt_delay {r.warmup}")
    if all(n.address for n in r.nodes):
        lines.append(f"    unicast_src_ip {node.address}")
        lines.append("    unicast_peer {")
        lines += [f"        {n.address}" for n in r.nodes if n.name != node.name]
        lines.append("    }")
    lines.append("    virtual_ipaddress {")
    lines += [f"        {a}" for a in addresses(config, r)]
    lines.append("    }")
    if config.vrrptrackfile:
        lines += ["    track_file {", f"        {TRACK_NAME}", "    }"]
    lines.append(f'    notify "{notify} vrrp -c {config.path}"')
    lines.append("}")
    return "\n".join(lines) + "\n"


def node_names(config: Config) -> list[str]:
    return [n.name for n in _settings(config).nodes]
