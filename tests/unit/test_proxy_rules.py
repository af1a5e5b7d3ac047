"""The Service proxy's iptables rules (``kubelite.proxy.rules``): which connections go
where, which are refused, and that the text is valid ``iptables-restore`` input (checked by
the real ``iptables-restore --test`` when we are root)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

import pytest

from kubelite.proxy import rules, view

SUFFIX = "ab12cd34"
CFG = rules.Config(suffix=SUFFIX)


def svc(name: str, ports: list[dict[str, Any]], *, ip: str = "10.43.250.1", ns: str = "default",
        **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name}, "spec": {"clusterIP": ip, "ports": ports, **spec}}


def endpoint(ip: str, **conditions: bool) -> dict[str, Any]:
    return {"addresses": [ip], "conditions": conditions} if conditions else {"addresses": [ip]}


def slice_(service: str, endpoints: list[dict[str, Any]], ports: list[dict[str, Any]], *, ns: str = "default",
           address_type: str = "IPv4", name: str = "") -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name or f"{service}-x",
                         "labels": {view.SERVICE_NAME_LABEL: service}},
            "addressType": address_type, "endpoints": endpoints, "ports": ports}


def render(services: list[dict[str, Any]], slices: Sequence[dict[str, Any]] = (),
           cfg: rules.Config = CFG) -> rules.Tables:
    v = view.StaticView(services, slices)
    return rules.render(v.services(), v.slices, cfg)


def chains(text: str) -> dict[str, list[str]]:
    """Rules by chain, each without its ``-A <chain> `` and its comment."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith(":"):
            out[line[1:].split()[0]] = []
        elif line.startswith("-A "):
            _, chain, rest = line.split(" ", 2)
            if rest.startswith("-m comment --comment \""):
                rest = rest.split('" ', 1)[1]
            out[chain].append(rest)
    return out


def dnat_targets(tables: rules.Tables, service_rule_fragment: str) -> list[tuple[str | None, str]]:
    """(probability or None, "ip:port") in the order the rules try them, for the service
    chain reached by the KL-SERVICES rule containing ``service_rule_fragment``."""
    nat = chains(tables.nat)
    entry = next(r for r in nat[CFG.chain("SERVICES")] if service_rule_fragment in r)
    svc_chain = entry.split("-j ")[-1]
    picks = []
    for rule in nat[svc_chain]:
        target = rule.split("-j ")[-1]
        if target.startswith("KL-SEP-"):
            prob = rule.split("--probability ")[1].split()[0] if "--probability" in rule else None
            picks.append((prob, nat[target][-1].split("--to-destination ")[1]))
    return picks


HTTP = [{"name": "http", "port": 80, "targetPort": 8080}]
HTTP_SLICE_PORTS = [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_a_cluster_ip_with_one_endpoint_leads_there() -> None:
    tables = render([svc("web", HTTP)], [slice_("web", [endpoint("10.88.250.2")], HTTP_SLICE_PORTS)])
    assert dnat_targets(tables, "-d 10.43.250.1/32 -p tcp -m tcp --dport 80") == [(None, "10.88.250.2:8080")]
    assert (tables.services, tables.endpoints) == (1, 1)


def test_three_endpoints_share_the_load_one_third_one_half_then_the_rest() -> None:
    eps = [endpoint(f"10.88.250.{i}") for i in (4, 2, 3)]
    tables = render([svc("web", HTTP)], [slice_("web", eps, HTTP_SLICE_PORTS)])
    assert dnat_targets(tables, "--dport 80") == [("0.3333333333", "10.88.250.2:8080"),
                                                  ("0.5000000000", "10.88.250.3:8080"),
                                                  (None, "10.88.250.4:8080")]


def test_endpoints_of_several_slices_are_merged_once_each() -> None:
    a = slice_("web", [endpoint("10.88.250.2"), endpoint("10.88.250.3")], HTTP_SLICE_PORTS, name="web-a")
    b = slice_("web", [endpoint("10.88.250.3"), endpoint("10.88.250.4")], HTTP_SLICE_PORTS, name="web-b")
    tables = render([svc("web", HTTP)], [a, b])
    assert [t for _, t in dnat_targets(tables, "--dport 80")] == ["10.88.250.2:8080", "10.88.250.3:8080",
                                                                  "10.88.250.4:8080"]


def test_service_ports_find_their_endpoint_port_by_name() -> None:
    ports = [{"name": "http", "port": 80}, {"name": "metrics", "port": 9100}]
    slice_ports = [{"name": "metrics", "port": 9200, "protocol": "TCP"}, {"name": "http", "port": 8080}]
    tables = render([svc("web", ports)], [slice_("web", [endpoint("10.88.250.2")], slice_ports)])
    assert dnat_targets(tables, "--dport 80 ") == [(None, "10.88.250.2:8080")]
    assert dnat_targets(tables, "--dport 9100 ") == [(None, "10.88.250.2:9200")]


def test_an_unnamed_single_port_matches_the_unnamed_endpoint_port() -> None:
    tables = render([svc("web", [{"port": 80}])], [slice_("web", [endpoint("10.88.250.2")], [{"port": 8080}])])
    assert dnat_targets(tables, "--dport 80") == [(None, "10.88.250.2:8080")]


def test_udp_ports_dnat_udp_and_match_the_endpoint_port_of_that_protocol() -> None:
    ports = [{"name": "dns", "port": 53, "protocol": "UDP"}]
    slice_ports = [{"name": "dns", "port": 5353, "protocol": "UDP"}]
    tables = render([svc("dns", ports)], [slice_("dns", [endpoint("10.88.250.2")], slice_ports)])
    assert dnat_targets(tables, "-p udp -m udp --dport 53") == [(None, "10.88.250.2:5353")]
    sep = next(c for c in chains(tables.nat) if c.startswith("KL-SEP-"))
    assert chains(tables.nat)[sep] == ["-p udp -m udp -j DNAT --to-destination 10.88.250.2:5353"]


def test_a_port_the_slices_lack_is_refused() -> None:
    tables = render([svc("web", HTTP)], [slice_("web", [endpoint("10.88.250.2")], [{"name": "other", "port": 1}])])
    assert "KL-SVC-" not in tables.nat
    assert "-d 10.43.250.1/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable" in \
        chains(tables.filter)[CFG.chain("SERVICES")]


def test_not_ready_endpoints_get_no_traffic_and_unset_ready_counts_as_ready() -> None:
    eps = [endpoint("10.88.250.2", ready=False, serving=False), endpoint("10.88.250.3"),
           endpoint("10.88.250.4", ready=True), endpoint("10.88.250.5", ready=False, serving=True, terminating=True)]
    tables = render([svc("web", HTTP)], [slice_("web", eps, HTTP_SLICE_PORTS)])
    assert [t for _, t in dnat_targets(tables, "--dport 80")] == ["10.88.250.3:8080", "10.88.250.4:8080"]


def test_without_ready_endpoints_the_serving_terminating_ones_still_answer() -> None:
    eps = [endpoint("10.88.250.2", ready=False, serving=True, terminating=True),
           endpoint("10.88.250.3", ready=False, serving=False, terminating=True),
           endpoint("10.88.250.4", ready=False, serving=True)]
    tables = render([svc("web", HTTP)], [slice_("web", eps, HTTP_SLICE_PORTS)])
    assert dnat_targets(tables, "--dport 80") == [(None, "10.88.250.2:8080")]


def test_only_ipv4_slices_and_each_endpoints_first_address_count() -> None:
    v6 = slice_("web", [{"addresses": ["fd00::2"]}], HTTP_SLICE_PORTS, address_type="IPv6", name="web-v6")
    v4 = slice_("web", [{"addresses": ["10.88.250.2", "10.88.250.9"]}, {"addresses": ["not-an-ip"]}],
                HTTP_SLICE_PORTS, name="web-v4")
    tables = render([svc("web", HTTP)], [v6, v4])
    assert dnat_targets(tables, "--dport 80") == [(None, "10.88.250.2:8080")]


def test_a_service_without_endpoints_is_refused_at_once_not_dnated() -> None:
    tables = render([svc("empty", [{"port": 80}, {"name": "q", "port": 53, "protocol": "UDP"}], ip="10.43.250.7")])
    rejects = chains(tables.filter)[CFG.chain("SERVICES")]
    assert rejects[:2] == [
        "-d 10.43.250.7/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable",
        "-d 10.43.250.7/32 -p udp -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable"]
    assert "10.43.250.7" not in tables.nat
    assert (tables.services, tables.endpoints) == (2, 0)


def test_nothing_in_the_service_cidr_escapes_the_final_reject() -> None:
    for services in ([], [svc("web", HTTP)]):
        filt = chains(render(services, [slice_("web", [endpoint("10.88.250.2")], HTTP_SLICE_PORTS)]).filter)
        assert filt[CFG.chain("SERVICES")][-1] == "-d 10.43.0.0/16 -j REJECT --reject-with icmp-port-unreachable"
    other = rules.Config(suffix=SUFFIX, service_cidr="10.96.0.0/12")
    assert chains(render([], cfg=other).filter)[CFG.chain("SERVICES")][-1].startswith("-d 10.96.0.0/12 -j REJECT")


def test_headless_and_external_name_services_get_no_rules() -> None:
    services = [svc("headless", HTTP, ip="None"), svc("pending", HTTP, ip=""),
                svc("ext", HTTP, type="ExternalName", externalName="example.com")]
    slices = [slice_(n, [endpoint("10.88.250.2")], HTTP_SLICE_PORTS) for n in ("headless", "pending", "ext")]
    tables = render(services, slices)
    assert not any(c.startswith(("KL-SVC-", "KL-SEP-")) for c in tables.chains["nat"])
    assert "REJECT" not in "\n".join(chains(tables.filter)[CFG.chain("SERVICES")][:-1])
    assert tables.services == 0


def test_every_dnated_connection_is_marked_and_masqueraded() -> None:
    eps = [endpoint("10.88.250.2"), endpoint("10.88.250.3")]
    nat = chains(render([svc("web", HTTP)], [slice_("web", eps, HTTP_SLICE_PORTS)]).nat)
    svc_chain = next(c for c in nat if c.startswith("KL-SVC-"))
    assert nat[svc_chain][0] == f"-j {CFG.chain('MARK-MASQ')}"
    assert nat[CFG.chain("MARK-MASQ")] == ["-j MARK --or-mark 0x4000"]
    assert nat[CFG.chain("POSTROUTING")] == ["-m mark ! --mark 0x4000/0x4000 -j RETURN",
                                             "-j MARK --xor-mark 0x4000", "-j MASQUERADE --random-fully"]


def test_node_ports_lead_to_the_same_endpoints_from_local_addresses_only() -> None:
    services = [svc("np", [{"name": "http", "port": 80, "nodePort": 32000}], type="NodePort"),
                svc("lb", [{"name": "http", "port": 81, "nodePort": 32001}], ip="10.43.250.2", type="LoadBalancer"),
                svc("plain", [{"name": "http", "port": 82, "nodePort": 32002}], ip="10.43.250.3")]
    slices = [slice_(n, [endpoint("10.88.250.2")], HTTP_SLICE_PORTS) for n in ("np", "lb", "plain")]
    nat = chains(render(services, slices).nat)
    nodeports = nat[CFG.chain("NODEPORTS")]
    assert [r.split(" -j ")[0] for r in nodeports] == ["-p tcp -m tcp --dport 32001", "-p tcp -m tcp --dport 32000"]
    cluster_ip_entry = next(r for r in nat[CFG.chain("SERVICES")] if "--dport 80 " in r)
    assert nodeports[1].split(" -j ")[1] == cluster_ip_entry.split(" -j ")[1]  # the same service chain
    assert nat[CFG.chain("SERVICES")][-1] == f"-m addrtype --dst-type LOCAL -j {CFG.chain('NODEPORTS')}"


def test_a_node_port_without_endpoints_is_refused_on_input() -> None:
    tables = render([svc("np", [{"port": 80, "nodePort": 32005}], type="NodePort")])
    assert chains(tables.filter)[CFG.chain("INPUT")][0] == \
        "-m addrtype --dst-type LOCAL -p tcp -m tcp --dport 32005 -j REJECT --reject-with icmp-port-unreachable"


def test_cluster_dns_is_dnated_to_the_local_server_before_any_service() -> None:
    cfg = rules.Config(suffix=SUFFIX, dns=("10.43.0.10", "10.88.0.1", 5353))
    dns_svc = svc("kube-dns", [{"name": "dns", "port": 53, "protocol": "UDP"}], ip="10.43.0.10", ns="kube-system")
    nat = chains(render([dns_svc, svc("web", HTTP)], [slice_("web", [endpoint("10.88.250.2")], HTTP_SLICE_PORTS)],
                        cfg=cfg).nat)
    assert nat[CFG.chain("SERVICES")][:2] == [
        "-d 10.43.0.10/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.88.0.1:5353",
        "-d 10.43.0.10/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination 10.88.0.1:5353"]
    assert "DNAT" not in "\n".join(chains(render([dns_svc]).nat)[CFG.chain("SERVICES")])


def test_client_ip_affinity_remembers_each_clients_endpoint() -> None:
    spec: dict[str, Any] = {"sessionAffinity": "ClientIP",
                            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}}}
    eps = [endpoint("10.88.250.2"), endpoint("10.88.250.3")]
    nat = chains(render([svc("web", HTTP, **spec)], [slice_("web", eps, HTTP_SLICE_PORTS)]).nat)
    svc_chain = next(c for c in nat if c.startswith("KL-SVC-"))
    seps = [c for c in nat if c.startswith("KL-SEP-")]
    assert nat[svc_chain][1:3] == [f"-m recent --name {s} --rcheck --seconds 600 --reap -j {s}" for s in seps]
    assert all(f"-m recent --name {s} --set" in nat[s][0] for s in seps)


def test_every_chain_carries_the_suffix_and_fits_iptables_28_characters() -> None:
    cfg = rules.Config(suffix="z" * 10, dns=("10.43.0.10", "10.88.0.1", 53))
    services = [svc(f"service-with-a-long-name-{i}", [{"name": f"port-{j}", "port": 80 + j, "nodePort": 32000 + j}
                                                      for j in range(3)], ip=f"10.43.250.{i}", type="NodePort")
                for i in range(1, 6)]
    slices = [slice_(f"service-with-a-long-name-{i}", [endpoint(f"10.88.250.{k}") for k in range(1, 4)],
                     [{"name": f"port-{j}", "port": 8080 + j} for j in range(3)]) for i in range(1, 6)]
    tables = render(services, slices, cfg=cfg)
    names = tables.chains["nat"] | tables.chains["filter"]
    assert len(names) == 5 + 15 + 45  # KL-SERVICES is in both tables
    assert all(len(n) <= 28 and cfg.suffix in n and cfg.owns(n) for n in names), sorted(names)
    assert {h.rule[-1] for h in rules.hooks(cfg)} <= names
    assert not rules.Config(suffix="zzzzzzzzz").owns(next(iter(names)))
    assert not CFG.owns("KL-SERVICES-ab12cd345") and not CFG.owns("DOCKER-USER")


def test_suffixes_are_short_lowercase_ids() -> None:
    assert rules.suffix_for("node-a") == rules.suffix_for("node-a") != rules.suffix_for("node-b")
    assert len(rules.suffix_for("node-a")) == 8
    for bad in ("", "ABC", "a-b", "x" * 11):
        with pytest.raises(ValueError):
            rules.Config(suffix=bad)


def test_the_render_does_not_depend_on_the_order_of_its_input() -> None:
    services = [svc("b", HTTP, ip="10.43.250.2"), svc("a", HTTP, ip="10.43.250.1")]
    eps = [endpoint("10.88.250.3"), endpoint("10.88.250.2")]
    slices = [slice_("a", eps, HTTP_SLICE_PORTS), slice_("b", eps[::-1], HTTP_SLICE_PORTS)]
    assert render(services, slices) == render(services[::-1], slices[::-1])


def test_stale_chains_are_flushed_and_deleted_in_the_same_restore() -> None:
    tables = render([])
    text = tables.restore_input("nat", stale=["KL-SVC-ab12cd34-old", CFG.chain("SERVICES")])
    lines = text.splitlines()
    assert ":KL-SVC-ab12cd34-old - [0:0]" in lines and lines[-2:] == ["-X KL-SVC-ab12cd34-old", "COMMIT"]
    assert f"-X {CFG.chain('SERVICES')}" not in lines  # still wanted: kept
    assert rules.delete_chains("filter", ["B", "A"]).splitlines() == [
        "*filter", ":A - [0:0]", ":B - [0:0]", "-X A", "-X B", "COMMIT"]


def _iptables_restore_test(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables-restore", "-w", "5", "--noflush", "--test"], input=text, text=True,
                          capture_output=True, timeout=30)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("iptables-restore") is None,
                    reason="needs root and iptables-restore")
def test_the_real_iptables_restore_accepts_the_rules() -> None:
    cfg = rules.Config(suffix=SUFFIX, dns=("10.43.0.10", "10.88.0.1", 53))
    services = [
        svc("web", HTTP, type="NodePort", sessionAffinity="ClientIP"),
        svc("mixed", [{"name": "a", "port": 1, "protocol": "UDP", "nodePort": 32010},
                      {"name": "b", "port": 2, "protocol": "SCTP"}], ip="10.43.250.2", type="NodePort"),
        svc("empty", [{"port": 3, "nodePort": 32011}], ip="10.43.250.3", type="NodePort"),
    ]
    slices = [slice_("web", [endpoint(f"10.88.250.{i}") for i in (2, 3, 4)], HTTP_SLICE_PORTS),
              slice_("mixed", [endpoint("10.88.250.5")], [{"name": "a", "port": 11, "protocol": "UDP"},
                                                          {"name": "b", "port": 12, "protocol": "SCTP"}])]
    tables = render(services, slices, cfg=cfg)
    for table in ("nat", "filter"):
        done = _iptables_restore_test(tables.restore_input(table, stale=[f"KL-SEP-{SUFFIX}-gone"]))
        assert done.returncode == 0, f"{table}: {done.stderr}\n{tables.text(table)}"
    assert f"KL-SERVICES-{SUFFIX}" not in subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
