"""What pods learn of the Service network: the resolv.conf of dnsPolicy ClusterFirst with a
cluster DNS, the Service environment variables (kubelet's enableServiceLinks), and
``$(VAR)`` in command and args."""

from __future__ import annotations

from typing import Any

from kubelite.agent import clusternet, containerconfig, envs
from kubelite.agent.runtime import etcfiles
from kubelite.proxy import view

HOST = "search corp.example\nnameserver 10.0.0.2\noptions ndots:2 edns0\n"


def _svc(ns: str, name: str, ip: str, ports: list[dict[str, Any]]) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name}, "spec": {"clusterIP": ip, "ports": ports}}


SERVICES = [
    _svc("default", "kubernetes", "10.43.0.1", [{"name": "https", "port": 443, "protocol": "TCP"}]),
    _svc("shop", "redis-primary", "10.43.5.6", [{"port": 6379, "protocol": "TCP"}]),
    _svc("shop", "web", "10.43.7.8", [{"name": "http", "port": 80}, {"name": "dns-udp", "port": 53,
                                                                     "protocol": "UDP"}]),
    _svc("shop", "headless", "None", [{"port": 80}]),
    _svc("other", "elsewhere", "10.43.9.9", [{"port": 1}]),
]
NET = clusternet.ClusterNetwork(services=view.StaticView(SERVICES), dns_ip="10.43.0.10")


def _resolv(spec: dict[str, Any], net: clusternet.ClusterNetwork | None = NET) -> str:
    return etcfiles.resolv_conf(HOST, containerconfig.pod_dns(spec, namespace="shop", net=net, host_resolv=HOST))


def test_cluster_first_uses_the_cluster_dns_and_the_kubelet_search_path() -> None:
    assert _resolv({}) == ("nameserver 10.43.0.10\n"
                           "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
                           "options ndots:5\n")


def test_dns_config_is_merged_after_the_cluster_settings() -> None:
    spec = {"dnsConfig": {"nameservers": ["10.0.0.9"], "searches": ["x.example"],
                          "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}}
    assert _resolv(spec) == ("nameserver 10.43.0.10\nnameserver 10.0.0.9\n"
                             "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example x.example\n"
                             "options ndots:2 edns0\n")


def test_host_network_pods_need_cluster_first_with_host_net() -> None:
    assert _resolv({"hostNetwork": True}).startswith("nameserver 10.0.0.2\n")
    assert _resolv({"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"}).startswith("nameserver 10.43.0.10\n")


def test_default_policy_and_no_cluster_dns_keep_the_nodes_resolver() -> None:
    assert _resolv({"dnsPolicy": "Default"}).startswith("nameserver 10.0.0.2\nsearch corp.example\n")
    no_dns = clusternet.ClusterNetwork(services=view.StaticView(SERVICES), dns_ip="")
    assert _resolv({}, no_dns).startswith("nameserver 10.0.0.2\nsearch corp.example\n")


def _pod(ns: str = "shop", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": "p"}, "spec": spec}


def test_service_links_follow_kubelet_names() -> None:
    env = clusternet.service_env(NET, _pod())
    assert env["REDIS_PRIMARY_SERVICE_HOST"] == "10.43.5.6"
    assert env["REDIS_PRIMARY_SERVICE_PORT"] == "6379"
    assert env["REDIS_PRIMARY_PORT"] == "tcp://10.43.5.6:6379"
    assert env["REDIS_PRIMARY_PORT_6379_TCP"] == "tcp://10.43.5.6:6379"
    assert env["REDIS_PRIMARY_PORT_6379_TCP_PROTO"] == "tcp"
    assert env["REDIS_PRIMARY_PORT_6379_TCP_PORT"] == "6379"
    assert env["REDIS_PRIMARY_PORT_6379_TCP_ADDR"] == "10.43.5.6"
    assert env["WEB_SERVICE_PORT_HTTP"] == "80"
    assert env["WEB_SERVICE_PORT_DNS_UDP"] == "53"
    assert env["WEB_PORT_53_UDP"] == "udp://10.43.7.8:53"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.43.0.1"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert not any(k.startswith(("HEADLESS_", "ELSEWHERE_")) for k in env)


def test_enable_service_links_false_keeps_only_the_kubernetes_service() -> None:
    env = clusternet.service_env(NET, _pod(enableServiceLinks=False))
    assert env and all(k.startswith("KUBERNETES_") for k in env)


def test_a_namespaces_own_kubernetes_service_wins() -> None:
    mine = _svc("shop", "kubernetes", "10.43.3.3", [{"port": 1}])
    net = clusternet.ClusterNetwork(services=view.StaticView([*SERVICES, mine]))
    assert clusternet.service_env(net, _pod())["KUBERNETES_SERVICE_HOST"] == "10.43.3.3"
    assert clusternet.service_env(net, _pod("other"))["KUBERNETES_SERVICE_HOST"] == "10.43.0.1"


async def test_container_env_wins_and_can_refer_to_service_variables() -> None:
    container = {"name": "c", "env": [{"name": "WEB_SERVICE_HOST", "value": "mine"},
                                      {"name": "URL", "value": "redis://$(REDIS_PRIMARY_SERVICE_HOST):6379"}]}
    env = await envs.resolve(None, _pod(), container, service_env=clusternet.service_env(NET, _pod()))  # type: ignore[arg-type]
    assert env["WEB_SERVICE_HOST"] == "mine"
    assert env["URL"] == "redis://10.43.5.6:6379"
    assert env["REDIS_PRIMARY_SERVICE_PORT"] == "6379"


def test_command_and_args_expand_variables() -> None:
    env = {"PORT": "8080"}
    assert containerconfig._expanded(["serve", "--port=$(PORT)", "$(NOPE)", "$$(PORT)"], env) == [
        "serve", "--port=8080", "$(NOPE)", "$(PORT)"]
    assert containerconfig._expanded(None, env) is None
