"""The iptables rules of a node's Service proxy, rendered from Services and EndpointSlices.

Pure: no I/O. ``kubelite.proxy.proxier.Proxier`` calls ``render`` on every sync and feeds
the text of each table to one ``iptables-restore --noflush`` (atomic per table); it installs
the jumps of ``hooks`` into the built-in chains itself. kube-proxy's iptables mode
(pkg/proxy/iptables/proxier.go), simplified, with ``s`` the agent's ``Config.suffix`` so
that several agents on one host never touch each other's chains::

  nat     PREROUTING, OUTPUT ─► KL-SERVICES-s
              DNS ClusterIP udp/tcp 53 ─► DNAT to the node's DNS server   (Config.dns)
              -d <clusterIP> -p <proto> --dport <port> ─► KL-SVC-s-<hash>  (one per port with endpoints)
              -m addrtype --dst-type LOCAL ─► KL-NODEPORTS-s               (last)
          KL-NODEPORTS-s: -p <proto> --dport <nodePort> ─► KL-SVC-s-<hash>
          KL-SVC-s-<hash>: ─► KL-MARK-MASQ-s (every connection: masqueradeAll), then
              [ClientIP affinity: -m recent --rcheck ─► the endpoint seen last]
              -m statistic --probability 1/(n-i) ─► KL-SEP-s-<hash>, the last one unconditionally
          KL-SEP-s-<hash>: DNAT to <endpoint ip>:<port>
          POSTROUTING ─► KL-POSTROUTING-s: marked ─► MASQUERADE
  filter  FORWARD (or DOCKER-USER), OUTPUT ─► KL-SERVICES-s
              -d <clusterIP> -p <proto> --dport <port> ─► REJECT   (ports with no usable endpoint)
              -d <service CIDR> ─► REJECT                           (catch-all, always last)
          INPUT ─► KL-INPUT-s
              nodePorts with no usable endpoint ─► REJECT
              127.0.0.0/8 from outside, not DNAT'ed ─► DROP  (route_localnet=1 guard, as KUBE-FIREWALL)

Every connection DNAT'ed to a Service endpoint is masqueraded, so replies always return
through the host, even between pods on one bridge and for a pod reaching itself (hairpin;
with br_netfilter that packet is bridged back out of the port it came in by, so the pod's
bridge port also needs ``hairpin_mode``, the pod network's job, as kubelet's hairpin-veth).
The filter rules see packets after DNAT, so the catch-all only refuses what nothing
DNAT'ed: no packet to the service CIDR ever leaves the machine.

Endpoints (kube-proxy's rules): IPv4 slices only; an endpoint's first address; the slice
port whose ``name`` (``""`` when unset) and protocol equal the Service port's; ready
endpoints (``ready`` true or absent), or, when there is none, the serving and terminating
ones. Not done: externalIPs, LoadBalancer ingress IPs, external/internal traffic
policies ``Local``, topology hints, nodePort port holding, IPv6.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
SlicesOf = Callable[[str, str], list[Obj]]

NAT = "nat"
FILTER = "filter"
TABLES = (FILTER, NAT)  # apply order: the catch-all REJECT stands before anything is DNAT'ed
FORWARD = "FORWARD"  # the proxier hooks this one into DOCKER-USER when Docker made that chain
MAX_CHAIN = 28  # iptables' limit on a chain name
DEFAULT_AFFINITY_SECONDS = 10800  # upstream's sessionAffinityConfig.clientIP.timeoutSeconds default
PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
_SUFFIX = re.compile(r"^[0-9a-z]{1,10}$")
_COMMENT_UNSAFE = re.compile(r"[^A-Za-z0-9._:/ -]")


@dataclass(frozen=True)
class Config:
    """What one proxier renders: ``suffix`` (1-10 of ``[0-9a-z]``, unique per agent; see
    ``suffix_for``) ends every chain name; ``dns`` is (cluster DNS ClusterIP, local target
    IP, target port) or None; ``masq_mark`` is the packet mark bit meaning "masquerade me"
    (kube-proxy's 0x4000)."""

    suffix: str
    service_cidr: str = "10.43.0.0/16"
    dns: tuple[str, str, int] | None = None
    masq_mark: int = 0x4000

    def __post_init__(self) -> None:
        if not _SUFFIX.match(self.suffix):
            raise ValueError(f"proxier suffix must be 1-10 of [0-9a-z], not {self.suffix!r}")
        ipaddress.IPv4Network(self.service_cidr, strict=False)
        if self.dns is not None:
            ipaddress.IPv4Address(self.dns[0])
            ipaddress.IPv4Address(self.dns[1])
            if not 0 < int(self.dns[2]) < 65536:
                raise ValueError(f"cluster DNS target port out of range: {self.dns[2]}")

    def chain(self, role: str) -> str:
        """A fixed chain of this proxier: ``KL-<ROLE>-<suffix>``."""
        return f"KL-{role}-{self.suffix}"

    def hashed_chain(self, role: str, key: str) -> str:
        """A per-service (``SVC``) or per-endpoint (``SEP``) chain; stable for one ``key``."""
        digest = base64.b32encode(hashlib.sha256(key.encode()).digest()).decode().lower()
        return f"KL-{role}-{self.suffix}-{digest[:MAX_CHAIN - len(role) - len(self.suffix) - 5]}"

    def owns(self, chain: str) -> bool:
        """Whether ``chain`` (a name seen in ``iptables-save``) is one of this proxier's."""
        return re.fullmatch(rf"KL-[A-Z-]+?-{self.suffix}(-[0-9a-z]+)?", chain) is not None


def suffix_for(node_name: str) -> str:
    """The chain-name suffix of a node's proxier: 8 hex digits of its name's sha1."""
    return hashlib.sha1(node_name.encode()).hexdigest()[:8]


# --- what the Services ask for ---------------------------------------------------------


@dataclass(frozen=True, order=True)
class Endpoint:
    ip: str
    port: int


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service with a cluster IP, and where it leads."""

    namespace: str
    name: str
    port_name: str
    protocol: str  # TCP, UDP or SCTP
    cluster_ips: tuple[str, ...]
    port: int
    node_port: int | None
    endpoints: tuple[Endpoint, ...]
    affinity_seconds: int | None = None  # sessionAffinity ClientIP

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}:{self.port_name}/{self.protocol}"

    @property
    def comment(self) -> str:
        label = f"{self.namespace}/{self.name}" + (f":{self.port_name}" if self.port_name else "")
        return _COMMENT_UNSAFE.sub("_", label)[:200]


def _ipv4(value: Any) -> str | None:
    try:
        return str(ipaddress.IPv4Address(value))
    except (ipaddress.AddressValueError, ValueError, TypeError):
        return None


def _port_number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536 else None


def endpoints_of(slices: Iterable[Obj], *, port_name: str, protocol: str) -> tuple[Endpoint, ...]:
    """The endpoints a Service port leads to: the ready ones, else the serving terminating
    ones (kube-proxy's fallback, so a rolling update's last pods still answer)."""
    ready: set[Endpoint] = set()
    fallback: set[Endpoint] = set()
    for slice_ in slices:
        if slice_.get("addressType", "IPv4") != "IPv4":
            continue
        number = next((_port_number(p.get("port")) for p in slice_.get("ports") or []
                       if (p.get("name") or "") == port_name and (p.get("protocol") or "TCP") == protocol), None)
        if number is None:
            continue
        for ep in slice_.get("endpoints") or []:
            # only the first address counts, as the EndpointSlice API says
            ip = _ipv4((ep.get("addresses") or [None])[0])
            if ip is None:
                continue
            cond = ep.get("conditions") or {}
            if cond.get("ready") is not False:
                ready.add(Endpoint(ip, number))
            elif cond.get("serving") is not False and cond.get("terminating") is True:
                fallback.add(Endpoint(ip, number))
    chosen = ready or fallback
    return tuple(sorted(chosen, key=lambda e: (ipaddress.IPv4Address(e.ip), e.port)))


def service_ports(services: Iterable[Obj], slices_of: SlicesOf) -> list[ServicePort]:
    """Every port of every Service that has a cluster IP (not headless, not ExternalName),
    sorted by namespace, name and port name so that a render is deterministic."""
    out: list[ServicePort] = []
    for svc in services:
        meta = svc.get("metadata") or {}
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName":
            continue
        ips = [spec.get("clusterIP"), *(spec.get("clusterIPs") or [])]
        cluster_ips = tuple(dict.fromkeys(ip for ip in map(_ipv4, ips) if ip))
        if not cluster_ips:  # headless ("None"), not yet allocated, or IPv6 only
            continue
        namespace, name = str(meta.get("namespace") or "default"), str(meta.get("name") or "")
        slices = slices_of(namespace, name)
        affinity = None
        if spec.get("sessionAffinity") == "ClientIP":
            configured = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds")
            affinity = configured if isinstance(configured, int) and configured > 0 else DEFAULT_AFFINITY_SECONDS
        node_ports = spec.get("type") in ("NodePort", "LoadBalancer")
        for port in spec.get("ports") or []:
            protocol = str(port.get("protocol") or "TCP")
            number = _port_number(port.get("port"))
            if protocol not in PROTOCOLS or number is None:
                continue
            port_name = str(port.get("name") or "")
            out.append(ServicePort(
                namespace=namespace, name=name, port_name=port_name, protocol=protocol,
                cluster_ips=cluster_ips, port=number,
                node_port=_port_number(port.get("nodePort")) if node_ports else None,
                endpoints=endpoints_of(slices, port_name=port_name, protocol=protocol),
                affinity_seconds=affinity))
    return sorted(out, key=lambda p: (p.namespace, p.name, p.port_name, p.protocol))


# --- the rules ---------------------------------------------------------------------------


@dataclass
class _Table:
    """Rules grouped by chain (in the order chains were declared), so the text reads as
    the chains' listings do; within a chain the order is the order of ``add``."""

    name: str
    rules: dict[str, list[str]] = field(default_factory=dict)

    @property
    def chains(self) -> list[str]:
        return list(self.rules)

    def declare(self, chain: str) -> str:
        self.rules.setdefault(chain, [])
        return chain

    def add(self, chain: str, *parts: str) -> None:
        self.rules[chain].append(" ".join(("-A", chain, *parts)))

    def text(self) -> str:
        lines = [f"*{self.name}", *(f":{c} - [0:0]" for c in self.rules),
                 *(rule for rules in self.rules.values() for rule in rules), "COMMIT"]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Tables:
    """One render: the ``iptables-restore --noflush`` input of each table (declaring a
    chain flushes it), the chains each declares, and counts for the sync's log line."""

    nat: str
    filter: str
    chains: Mapping[str, frozenset[str]]
    services: int  # service ports with a cluster IP
    endpoints: int  # (service port, endpoint) pairs DNAT'ed to

    def text(self, table: str) -> str:
        return self.nat if table == NAT else self.filter

    def restore_input(self, table: str, *, stale: Iterable[str] = ()) -> str:
        """The table's text, also flushing and deleting ``stale`` chains (ours from an earlier
        render): their rules are replaced in the same transaction, so nothing still jumps there."""
        gone = sorted(set(stale) - self.chains[table])
        if not gone:
            return self.text(table)
        head, *body = self.text(table).splitlines()
        decls = [line for line in body if line.startswith(":")]
        rest = [line for line in body if not line.startswith(":") and line != "COMMIT"]
        lines = [head, *decls, *(f":{c} - [0:0]" for c in gone), *rest, *(f"-X {c}" for c in gone), "COMMIT"]
        return "\n".join(lines) + "\n"


def delete_chains(table: str, chains: Iterable[str]) -> str:
    """``iptables-restore --noflush`` input that flushes and deletes ``chains`` (the hooks
    that jump to them must be gone first)."""
    names = sorted(set(chains))
    return "\n".join([f"*{table}", *(f":{c} - [0:0]" for c in names), *(f"-X {c}" for c in names), "COMMIT"]) + "\n"


def _comment(text: str) -> tuple[str, ...]:
    return ("-m", "comment", "--comment", f'"{text}"')


def _match_port(protocol: str, port: int) -> tuple[str, ...]:
    proto = PROTOCOLS[protocol]
    return ("-p", proto, "-m", proto, "--dport", str(port))


REJECT = ("-j", "REJECT", "--reject-with", "icmp-port-unreachable")


def _endpoint_chains(nat: _Table, cfg: Config, sp: ServicePort, svc_chain: str) -> None:
    """A service port's chain: mark for masquerade, then pick an endpoint (kube-proxy's
    sequence of random matches: the i-th of n rules takes 1/(n-i) of what reaches it)."""
    nat.add(svc_chain, *_comment(sp.comment), "-j", cfg.chain("MARK-MASQ"))
    seps = [nat.declare(cfg.hashed_chain("SEP", f"{sp.key}|{ep.ip}:{ep.port}")) for ep in sp.endpoints]
    if sp.affinity_seconds is not None:
        # a client seen recently goes back to the endpoint it had (xt_recent, keyed by source)
        for sep in seps:
            nat.add(svc_chain, *_comment(sp.comment), "-m", "recent", "--name", sep, "--rcheck",
                    "--seconds", str(sp.affinity_seconds), "--reap", "-j", sep)
    n = len(seps)
    for i, sep in enumerate(seps):
        chance = () if i == n - 1 else ("-m", "statistic", "--mode", "random", "--probability", f"{1 / (n - i):.10f}")
        nat.add(svc_chain, *_comment(sp.comment), *chance, "-j", sep)
    for sep, ep in zip(seps, sp.endpoints, strict=True):
        remember = ("-m", "recent", "--name", sep, "--set") if sp.affinity_seconds is not None else ()
        proto = PROTOCOLS[sp.protocol]
        nat.add(sep, *_comment(sp.comment), *remember, "-p", proto, "-m", proto,
                "-j", "DNAT", "--to-destination", f"{ep.ip}:{ep.port}")


def render(services: list[Obj], slices_of: SlicesOf, cfg: Config) -> Tables:
    """The nat and filter rules for ``services`` (``slices_of(namespace, name)`` gives a
    Service's EndpointSlices); see the module docstring for the layout."""
    nat, filt = _Table(NAT), _Table(FILTER)
    services_chain = nat.declare(cfg.chain("SERVICES"))
    nodeports = nat.declare(cfg.chain("NODEPORTS"))
    postrouting = nat.declare(cfg.chain("POSTROUTING"))
    mark = nat.declare(cfg.chain("MARK-MASQ"))
    reject = filt.declare(cfg.chain("SERVICES"))
    guard = filt.declare(cfg.chain("INPUT"))

    bit = f"{cfg.masq_mark:#x}"
    nat.add(mark, "-j", "MARK", "--or-mark", bit)
    nat.add(postrouting, "-m", "mark", "!", "--mark", f"{bit}/{bit}", "-j", "RETURN")
    # clear the bit, so that a packet passing again (re-encapsulated, say) is not masqueraded twice
    nat.add(postrouting, "-j", "MARK", "--xor-mark", bit)
    nat.add(postrouting, *_comment("kubelite service traffic requiring SNAT"), "-j", "MASQUERADE", "--random-fully")

    if cfg.dns is not None:
        # first: it wins over the kube-dns Service's own (endpoint-less) ports
        dns_ip, target_ip, target_port = cfg.dns
        for protocol in ("UDP", "TCP"):
            nat.add(services_chain, *_comment("cluster DNS"), "-d", f"{dns_ip}/32", *_match_port(protocol, 53),
                    "-j", "DNAT", "--to-destination", f"{target_ip}:{target_port}")

    ports = service_ports(services, slices_of)
    endpoints = 0
    for sp in ports:
        if not sp.endpoints:
            for ip in sp.cluster_ips:
                filt.add(reject, *_comment(f"{sp.comment} has no endpoints"), "-d", f"{ip}/32",
                         *_match_port(sp.protocol, sp.port), *REJECT)
            if sp.node_port is not None:
                filt.add(guard, *_comment(f"{sp.comment} has no endpoints"), "-m", "addrtype", "--dst-type", "LOCAL",
                         *_match_port(sp.protocol, sp.node_port), *REJECT)
            continue
        endpoints += len(sp.endpoints)
        svc_chain = nat.declare(cfg.hashed_chain("SVC", sp.key))
        for ip in sp.cluster_ips:
            nat.add(services_chain, *_comment(f"{sp.comment} cluster IP"), "-d", f"{ip}/32",
                    *_match_port(sp.protocol, sp.port), "-j", svc_chain)
        if sp.node_port is not None:
            nat.add(nodeports, *_comment(sp.comment), *_match_port(sp.protocol, sp.node_port), "-j", svc_chain)
        _endpoint_chains(nat, cfg, sp, svc_chain)
    # last in KL-SERVICES, so a ClusterIP rule always wins over a nodePort on the same port number
    nat.add(services_chain, *_comment("kubelite service nodeports"), "-m", "addrtype", "--dst-type", "LOCAL",
            "-j", nodeports)

    filt.add(reject, *_comment("nothing else answers in the service CIDR"), "-d", cfg.service_cidr, *REJECT)
    # route_localnet=1 (for 127.0.0.1:<nodePort>) would also accept 127/8 from the wire:
    # refuse that unless it is one of our DNATs (kube-proxy's KUBE-FIREWALL, CVE-2020-8558)
    filt.add(guard, *_comment("block incoming localnet connections"), "-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8",
             "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP")
    return Tables(nat=nat.text(), filter=filt.text(),
                  chains={NAT: frozenset(nat.chains), FILTER: frozenset(filt.chains)},
                  services=len(ports), endpoints=endpoints)


@dataclass(frozen=True)
class Hook:
    """A jump from a built-in chain into one of ours, inserted at position 1; ``rule`` is
    ``iptables`` argv (after ``-t <table> -I <chain> 1``)."""

    table: str
    chain: str
    rule: tuple[str, ...]


def hooks(cfg: Config) -> list[Hook]:
    """The jumps a proxier installs (filter first, see ``TABLES``)."""
    def jump(comment: str, role: str) -> tuple[str, ...]:
        # argv for iptables itself: the comment is one argument, not quoted as in restore input
        return ("-m", "comment", "--comment", f"kubelite {comment} {cfg.suffix}", "-j", cfg.chain(role))

    portals = jump("service portals", "SERVICES")
    return [
        Hook(FILTER, FORWARD, portals),
        Hook(FILTER, "OUTPUT", portals),
        Hook(FILTER, "INPUT", jump("node ports and localnet guard", "INPUT")),
        Hook(NAT, "PREROUTING", portals),
        Hook(NAT, "OUTPUT", portals),
        Hook(NAT, "POSTROUTING", jump("postrouting", "POSTROUTING")),
    ]
