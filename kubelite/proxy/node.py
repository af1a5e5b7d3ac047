"""A node's Service network: the shared ``ClusterView``, the ``Proxier`` (ClusterIPs and
NodePorts) and the ``ClusterDNS`` server, started and stopped together.

Run by the node agent (``kubelite.agent.runner``), which passes the pod network's gateway
(the host's address on the pods' bridge): the DNS server listens there, port 53, and the
proxier sends the cluster DNS address (``dns_ip``, kube-dns's ClusterIP) to it. Without a
gateway (process runtime, remote engine) or without iptables (not root) the view still
runs, for the Service environment variables, and pods keep the node's resolver.

Names outside the cluster domain are forwarded to the host's nameservers, or to
``KUBELITE_DNS_UPSTREAMS`` (comma-separated; set and empty: none, the tests' setting, so
that no query ever leaves the machine).
"""

from __future__ import annotations

import logging
import os

from kubelite.aio import tasks
from kubelite.client import rest
from kubelite.proxy import dns, proxier, view

log = logging.getLogger("kubelite.proxy")

DNS_PORT = 53
UPSTREAMS_ENV = "KUBELITE_DNS_UPSTREAMS"


def upstreams(resolv_conf: str = "/etc/resolv.conf") -> list[str]:
    """Where names outside the cluster go: ``KUBELITE_DNS_UPSTREAMS``, else the host's
    nameservers (loopback ones too: this server runs on the host, unlike the pods)."""
    configured = os.environ.get(UPSTREAMS_ENV)
    if configured is not None:
        return [u.strip() for u in configured.split(",") if u.strip()]
    try:
        with open(resolv_conf) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    return [words[1] for words in (line.split() for line in lines) if len(words) > 1 and words[0] == "nameserver"]


class NodeServices:
    """The Service network of one node; ``dns_ready`` tells whether pods can use cluster DNS."""

    def __init__(self, client: rest.Client, *, node_name: str, dns_ip: str, domain: str, gateway: str) -> None:
        self.view = view.ClusterView(client)
        self.node_name = node_name
        self.dns_ip = dns_ip
        self.domain = domain
        self.gateway = gateway
        self.proxier: proxier.Proxier | None = None
        self.dns: dns.ClusterDNS | None = None
        self.dns_ready = False

    async def start(self, tg: tasks.TaskGroup, *, sync_timeout: float = 10.0) -> bool:
        """Start; False when the Services were not listed within ``sync_timeout`` (the
        proxy then starts from what it has and catches up)."""
        self.view.start(tg)
        # As kube-proxy: rules from a complete list, or a restarted agent would refuse
        # every existing Service until its informers caught up.
        synced = await self.view.wait_synced(sync_timeout)
        if not self.gateway:
            log.info("no pod network on this host: no service proxy or cluster DNS node=%s", self.node_name)
            return synced
        if not proxier.Proxier.available():
            log.warning("iptables is not usable (not root?): no service proxy or cluster DNS node=%s", self.node_name)
            return synced
        server = dns.ClusterDNS(self.view, domain=self.domain, upstreams=upstreams())
        try:
            await server.start(self.gateway, DNS_PORT)
        except OSError as exc:
            log.warning("cluster DNS cannot listen on %s:%d (%s): pods keep the node's resolver",
                        self.gateway, DNS_PORT, exc)
        else:
            self.dns = server
        target = (self.dns_ip, self.gateway, server.port) if self.dns is not None and self.dns_ip else None
        self.proxier = proxier.Proxier(self.view, node_name=self.node_name, dns=target)
        self.view.on_change(self.proxier.changed)
        await self.proxier.start(tg)
        self.dns_ready = target is not None
        log.info("service network running node=%s dns=%s proxy=iptables", self.node_name,
                 f"{self.dns_ip}->{self.gateway}:{server.port}" if self.dns_ready else "off")
        return synced

    async def close(self) -> None:
        if self.proxier is not None:
            await self.proxier.close()
        if self.dns is not None:
            await self.dns.close()
        await self.view.stop()
