"""The cluster DNS server: the records of the Kubernetes DNS specification from Services and
EndpointSlices (``ClusterDNS.answer`` over a ``StaticView``), and its UDP/TCP listeners:
truncation, a shared port, forwarding to a fake upstream on 127.0.0.1, bad packets."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterable
from typing import Any, cast

import dns.asyncquery
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from kubelite.proxy import dns as clusterdns
from kubelite.proxy import view

Obj = dict[str, Any]
ZONE = "cluster.local"
WAIT = 2.0  # every wait on a socket is bounded by this


def service(name: str, ns: str = "default", *, cluster_ip: str = "10.96.0.10", type_: str = "ClusterIP",
            ports: Iterable[Obj] = (), external_name: str | None = None) -> Obj:
    spec: Obj = {"type": type_, "ports": list(ports)}
    if type_ == "ExternalName":
        spec["externalName"] = external_name
    else:
        spec["clusterIP"] = cluster_ip
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def endpoint(ip: str, *, ready: bool | None = True, hostname: str | None = None) -> Obj:
    ep: Obj = {"addresses": [ip]}
    if ready is not None:
        ep["conditions"] = {"ready": ready}
    if hostname:
        ep["hostname"] = hostname
    return ep


def endpoint_slice(svc: str, *endpoints: Obj, ns: str = "default", name: str | None = None,
                   address_type: str = "IPv4", ports: Iterable[Obj] = ()) -> Obj:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": address_type,
            "metadata": {"name": name or f"{svc}-abcde", "namespace": ns,
                         "labels": {view.SERVICE_NAME_LABEL: svc}},
            "endpoints": list(endpoints), "ports": list(ports)}


HTTP = {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}
DNS_UDP = {"name": "dns", "port": 53, "protocol": "UDP"}
UNNAMED = {"port": 9000, "protocol": "TCP"}

SERVICES = [
    service("web", ports=[HTTP, DNS_UDP, UNNAMED]),
    service("nodeport", cluster_ip="10.96.0.11", type_="NodePort"),
    service("lb", ns="shop", cluster_ip="10.96.0.12", type_="LoadBalancer"),
    service("nginx", cluster_ip="None", ports=[HTTP]),
    service("empty", cluster_ip="None", ports=[HTTP]),
    service("db", type_="ExternalName", external_name="db.example.com"),
    service("alias", type_="ExternalName", external_name="web.default.svc.cluster.local"),
]
SLICES = [
    endpoint_slice("nginx", endpoint("10.244.0.5", hostname="web-0"), endpoint("10.244.0.6", ready=None),
                   endpoint("10.244.0.7", ready=False, hostname="web-2"),
                   ports=[{"name": "http", "port": 8080, "protocol": "TCP"}]),
    # a second slice of the same Service repeating an address: answered once
    endpoint_slice("nginx", endpoint("10.244.0.6"), endpoint("10.244.0.8", hostname="web-1"), name="nginx-fghij",
                   ports=[{"name": "http", "port": 8080, "protocol": "TCP"}]),
    endpoint_slice("nginx", endpoint("fd00::5"), name="nginx-v6", address_type="IPv6"),
    endpoint_slice("empty", endpoint("10.244.1.1", ready=False, hostname="web-0")),
]


@pytest.fixture
def cluster() -> clusterdns.ClusterDNS:
    return clusterdns.ClusterDNS(view.StaticView(services=SERVICES, slices=SLICES))


def ask(server: clusterdns.ClusterDNS, name: str, rdtype: str = "A") -> dns.message.Message:
    response = server.answer(dns.message.make_query(name, rdtype))
    assert response is not None, f"{name} {rdtype} would be forwarded"
    return response


def records(response: dns.message.Message, rdtype: str, section: str = "answer") -> list[str]:
    wanted = dns.rdatatype.from_text(rdtype)
    return [rd.to_text() for rrset in getattr(response, section) if rrset.rdtype == wanted for rd in rrset]


def assert_nodata(response: dns.message.Message) -> None:
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []
    assert [rr.rdtype for rr in response.authority] == [dns.rdatatype.SOA]
    assert response.authority[0].name == dns.name.from_text(ZONE)


def assert_nxdomain(response: dns.message.Message) -> None:
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert response.answer == []
    assert [rr.rdtype for rr in response.authority] == [dns.rdatatype.SOA]


# -- Services ---------------------------------------------------------------------------------


def test_a_service_resolves_to_its_cluster_ip_authoritatively(cluster: clusterdns.ClusterDNS) -> None:
    query = dns.message.make_query("web.default.svc.cluster.local", "A")
    response = cluster.answer(query)
    assert response is not None
    assert response.id == query.id
    assert response.question == query.question
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.QR and response.flags & dns.flags.AA and response.flags & dns.flags.RA
    assert records(response, "A") == ["10.96.0.10"]
    assert response.answer[0].ttl == 5


@pytest.mark.parametrize(("name", "ip"), [("nodeport.default", "10.96.0.11"), ("lb.shop", "10.96.0.12")])
def test_nodeport_and_loadbalancer_services_resolve_like_cluster_ip(cluster: clusterdns.ClusterDNS, name: str,
                                                                     ip: str) -> None:
    assert records(ask(cluster, f"{name}.svc.cluster.local"), "A") == [ip]


def test_aaaa_of_an_ipv4_service_is_nodata_not_nxdomain(cluster: clusterdns.ClusterDNS) -> None:
    assert_nodata(ask(cluster, "web.default.svc.cluster.local", "AAAA"))


def test_dual_stack_service_answers_both_families() -> None:
    svc = service("dual", cluster_ip="10.96.0.20")
    svc["spec"]["clusterIPs"] = ["10.96.0.20", "fd00:96::20"]
    server = clusterdns.ClusterDNS(view.StaticView(services=[svc]))
    assert records(ask(server, "dual.default.svc.cluster.local", "A"), "A") == ["10.96.0.20"]
    assert records(ask(server, "dual.default.svc.cluster.local", "AAAA"), "AAAA") == ["fd00:96::20"]


def test_names_are_case_insensitive_and_the_question_is_echoed(cluster: clusterdns.ClusterDNS) -> None:
    query = dns.message.make_query("WEB.Default.SVC.Cluster.LOCAL", "A")
    response = cluster.answer(query)
    assert response is not None
    assert records(response, "A") == ["10.96.0.10"]
    assert response.question[0].name.to_text() == "WEB.Default.SVC.Cluster.LOCAL."
    assert records(ask(cluster, "_HTTP._Tcp.Web.default.svc.cluster.local", "SRV"), "SRV") == [
        "0 100 80 web.default.svc.cluster.local."]


def test_a_custom_cluster_domain() -> None:
    server = clusterdns.ClusterDNS(view.StaticView(services=SERVICES), domain="kube.internal")
    assert records(ask(server, "web.default.svc.kube.internal"), "A") == ["10.96.0.10"]
    assert server.answer(dns.message.make_query("web.default.svc.cluster.local", "A")) is None  # not ours


def test_the_view_is_read_on_every_query() -> None:
    class Mutable:
        def __init__(self) -> None:
            self.current = view.StaticView()

        def services(self) -> list[Obj]:
            return self.current.services()

        def service(self, namespace: str, name: str) -> Obj | None:
            return self.current.service(namespace, name)

        def slices(self, namespace: str, service: str) -> list[Obj]:
            return self.current.slices(namespace, service)

    live = Mutable()
    server = clusterdns.ClusterDNS(live)
    assert_nxdomain(ask(server, "web.default.svc.cluster.local"))
    live.current = view.StaticView(services=[service("web", cluster_ip="10.96.0.99")])
    assert records(ask(server, "web.default.svc.cluster.local"), "A") == ["10.96.0.99"]


# -- headless Services ------------------------------------------------------------------------


def test_a_headless_service_resolves_to_its_ready_endpoints_once_each(cluster: clusterdns.ClusterDNS) -> None:
    # ready true or absent counts; ready false does not; 10.244.0.6 is in two slices
    response = ask(cluster, "nginx.default.svc.cluster.local")
    assert records(response, "A") == ["10.244.0.5", "10.244.0.6", "10.244.0.8"]
    assert records(ask(cluster, "nginx.default.svc.cluster.local", "AAAA"), "AAAA") == ["fd00::5"]


def test_a_headless_service_without_ready_endpoints_is_nxdomain(cluster: clusterdns.ClusterDNS) -> None:
    # as the DNS specification and CoreDNS: the name has no address to give
    assert_nxdomain(ask(cluster, "empty.default.svc.cluster.local"))


def test_a_statefulset_pod_resolves_by_its_hostname(cluster: clusterdns.ClusterDNS) -> None:
    assert records(ask(cluster, "web-0.nginx.default.svc.cluster.local"), "A") == ["10.244.0.5"]
    assert records(ask(cluster, "web-1.nginx.default.svc.cluster.local"), "A") == ["10.244.0.8"]
    # an endpoint without a hostname is named by its dashed address
    assert records(ask(cluster, "10-244-0-6.nginx.default.svc.cluster.local"), "A") == ["10.244.0.6"]


@pytest.mark.parametrize("name", [
    "web-2.nginx.default.svc.cluster.local",  # not ready
    "web-0.empty.default.svc.cluster.local",  # not ready
    "web-9.nginx.default.svc.cluster.local",  # no such endpoint
    "web-0.web.default.svc.cluster.local",    # not a headless Service
])
def test_unknown_or_unready_endpoint_names_do_not_exist(cluster: clusterdns.ClusterDNS, name: str) -> None:
    assert_nxdomain(ask(cluster, name))


# -- SRV --------------------------------------------------------------------------------------


def test_srv_of_a_named_port_points_at_the_service(cluster: clusterdns.ClusterDNS) -> None:
    response = ask(cluster, "_http._tcp.web.default.svc.cluster.local", "SRV")
    assert records(response, "SRV") == ["0 100 80 web.default.svc.cluster.local."]
    assert [(rr.name.to_text(), rd.to_text()) for rr in response.additional for rd in rr] == [
        ("web.default.svc.cluster.local.", "10.96.0.10")]
    assert records(ask(cluster, "_dns._udp.web.default.svc.cluster.local", "SRV"), "SRV") == [
        "0 100 53 web.default.svc.cluster.local."]


def test_srv_of_a_headless_service_has_one_record_per_ready_endpoint(cluster: clusterdns.ClusterDNS) -> None:
    response = ask(cluster, "_http._tcp.nginx.default.svc.cluster.local", "SRV")
    # the endpoints' port (8080), where clients connect; targets by hostname or dashed address
    assert sorted(records(response, "SRV")) == [
        "0 33 8080 10-244-0-6.nginx.default.svc.cluster.local.",
        "0 33 8080 web-0.nginx.default.svc.cluster.local.",
        "0 33 8080 web-1.nginx.default.svc.cluster.local.",
    ]
    assert sorted((rr.name.to_text(), rd.to_text()) for rr in response.additional for rd in rr) == [
        ("10-244-0-6.nginx.default.svc.cluster.local.", "10.244.0.6"),
        ("web-0.nginx.default.svc.cluster.local.", "10.244.0.5"),
        ("web-1.nginx.default.svc.cluster.local.", "10.244.0.8"),
    ]


def test_srv_of_a_headless_service_without_ready_endpoints_is_nodata(cluster: clusterdns.ClusterDNS) -> None:
    assert_nodata(ask(cluster, "_http._tcp.empty.default.svc.cluster.local", "SRV"))


@pytest.mark.parametrize("name", [
    "_https._tcp.web.default.svc.cluster.local",  # no such port
    "_http._udp.web.default.svc.cluster.local",   # the port is TCP
    "_._tcp.web.default.svc.cluster.local",       # unnamed ports have no SRV
    "_http._tcp.nope.default.svc.cluster.local",  # no such Service
])
def test_srv_of_unknown_ports_does_not_exist(cluster: clusterdns.ClusterDNS, name: str) -> None:
    assert_nxdomain(ask(cluster, name, "SRV"))


# -- ExternalName, pods, PTR, the zone ---------------------------------------------------------


def test_an_externalname_service_is_a_cname(cluster: clusterdns.ClusterDNS) -> None:
    for rdtype in ("A", "CNAME", "AAAA"):
        response = ask(cluster, "db.default.svc.cluster.local", rdtype)
        assert response.rcode() == dns.rcode.NOERROR
        assert records(response, "CNAME") == ["db.example.com."]
        assert response.authority == []  # the rest of the chain is the upstream's


def test_an_externalname_inside_the_zone_is_followed(cluster: clusterdns.ClusterDNS) -> None:
    response = ask(cluster, "alias.default.svc.cluster.local")
    assert records(response, "CNAME") == ["web.default.svc.cluster.local."]
    assert records(response, "A") == ["10.96.0.10"]


def test_pod_names_resolve_to_the_dashed_address_unverified(cluster: clusterdns.ClusterDNS) -> None:
    assert records(ask(cluster, "10-244-3-7.anywhere.pod.cluster.local"), "A") == ["10.244.3.7"]
    assert records(ask(cluster, "fd00--7.default.pod.cluster.local", "AAAA"), "AAAA") == ["fd00::7"]
    assert_nxdomain(ask(cluster, "10-244-3-999.default.pod.cluster.local"))
    assert_nxdomain(ask(cluster, "not-an-ip.default.pod.cluster.local"))


def test_ptr_of_cluster_ips_and_headless_endpoints(cluster: clusterdns.ClusterDNS) -> None:
    assert records(ask(cluster, "10.0.96.10.in-addr.arpa", "PTR"), "PTR") == ["web.default.svc.cluster.local."]
    assert records(ask(cluster, "12.0.96.10.in-addr.arpa", "PTR"), "PTR") == ["lb.shop.svc.cluster.local."]
    assert records(ask(cluster, "5.0.244.10.in-addr.arpa", "PTR"), "PTR") == [
        "web-0.nginx.default.svc.cluster.local."]
    # unknown or not-ready addresses and partial reverse names go upstream
    for name in ("1.1.1.10.in-addr.arpa", "7.0.244.10.in-addr.arpa", "10.in-addr.arpa"):
        assert cluster.answer(dns.message.make_query(name, "PTR")) is None


@pytest.mark.parametrize("name", [
    "cluster.local", "svc.cluster.local", "default.svc.cluster.local", "kube-system.svc.cluster.local",
    "pod.cluster.local", "default.pod.cluster.local", "_tcp.web.default.svc.cluster.local",
])
def test_names_with_names_below_them_are_nodata(cluster: clusterdns.ClusterDNS, name: str) -> None:
    assert_nodata(ask(cluster, name))


@pytest.mark.parametrize("name", [
    "nope.default.svc.cluster.local", "web.nope.svc.cluster.local", "a.b.web.default.svc.cluster.local",
    "nope.cluster.local", "x.y.z.cluster.local", "_udp.nginx.default.svc.cluster.local",
])
def test_names_that_do_not_exist_are_nxdomain(cluster: clusterdns.ClusterDNS, name: str) -> None:
    response = ask(cluster, name)
    assert_nxdomain(response)
    assert response.flags & dns.flags.AA


def test_the_zone_has_an_soa_and_the_schema_version(cluster: clusterdns.ClusterDNS) -> None:
    assert records(ask(cluster, "cluster.local", "SOA"), "SOA")[0].startswith("ns.dns.cluster.local. ")
    assert records(ask(cluster, "dns-version.cluster.local", "TXT"), "TXT") == ['"1.0.1"']


def test_names_outside_the_zone_are_for_upstream(cluster: clusterdns.ClusterDNS) -> None:
    assert cluster.answer(dns.message.make_query("example.com", "A")) is None
    assert cluster.answer(dns.message.make_query("local", "A")) is None


def test_other_opcodes_are_not_implemented(cluster: clusterdns.ClusterDNS) -> None:
    query = dns.message.make_query("web.default.svc.cluster.local", "A")
    query.set_opcode(dns.opcode.NOTIFY)
    response = cluster.answer(query)
    assert response is not None and response.rcode() == dns.rcode.NOTIMP


# -- listeners --------------------------------------------------------------------------------


class FakeUpstream(asyncio.DatagramProtocol):
    """A DNS server on 127.0.0.1 answering every A query with 192.0.2.53 (or never, if silent)."""

    def __init__(self, *, silent: bool = False) -> None:
        self.silent = silent
        self.questions: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        query = dns.message.from_wire(data)
        self.questions.append(query.question[0].name.to_text())
        if self.silent or self.transport is None:
            return
        response = dns.message.make_response(query)
        response.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", "A", "192.0.2.53"))
        self.transport.sendto(response.to_wire(), addr)

    @property
    def address(self) -> str:
        assert self.transport is not None
        return "127.0.0.1:{}".format(self.transport.get_extra_info("sockname")[1])


@pytest.fixture
async def upstreams() -> AsyncIterator[list[FakeUpstream]]:
    started: list[FakeUpstream] = []
    yield started
    for upstream in started:
        if upstream.transport is not None:
            upstream.transport.close()


async def start_upstream(started: list[FakeUpstream], *, silent: bool = False) -> FakeUpstream:
    loop = asyncio.get_running_loop()
    _, upstream = await loop.create_datagram_endpoint(lambda: FakeUpstream(silent=silent),
                                                      local_addr=("127.0.0.1", 0))
    started.append(upstream)
    return upstream


@pytest.fixture
async def servers() -> AsyncIterator[list[clusterdns.ClusterDNS]]:
    started: list[clusterdns.ClusterDNS] = []
    yield started
    for server in started:
        await server.close()


async def start(started: list[clusterdns.ClusterDNS], *, port: int = 0, services: Iterable[Obj] = SERVICES,
                slices: Iterable[Obj] = SLICES, **kwargs: Any) -> clusterdns.ClusterDNS:
    server = clusterdns.ClusterDNS(view.StaticView(services=services, slices=slices), **kwargs)
    started.append(server)
    await server.start("127.0.0.1", port)
    return server


async def udp(server: clusterdns.ClusterDNS, name: str, rdtype: str = "A", **kwargs: Any) -> dns.message.Message:
    return await dns.asyncquery.udp(dns.message.make_query(name, rdtype, **kwargs), "127.0.0.1",
                                    port=server.port, timeout=WAIT)


async def tcp(server: clusterdns.ClusterDNS, name: str, rdtype: str = "A") -> dns.message.Message:
    return await dns.asyncquery.tcp(dns.message.make_query(name, rdtype), "127.0.0.1", port=server.port,
                                    timeout=WAIT)


async def test_udp_and_tcp_answer_on_the_same_port(servers: list[clusterdns.ClusterDNS]) -> None:
    server = await start(servers)
    assert server.port > 0
    for ask_ in (udp, tcp):
        response = await ask_(server, "web.default.svc.cluster.local")
        assert records(response, "A") == ["10.96.0.10"] and response.flags & dns.flags.AA
        assert_nxdomain(await ask_(server, "nope.default.svc.cluster.local"))


async def test_tcp_serves_several_queries_on_one_connection(servers: list[clusterdns.ClusterDNS]) -> None:
    server = await start(servers)
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), WAIT)
    try:
        for name, want in (("web.default.svc.cluster.local", ["10.96.0.10"]),
                           ("lb.shop.svc.cluster.local", ["10.96.0.12"])):
            query = dns.message.make_query(name, "A")
            writer.write(query.to_wire(prepend_length=True))
            size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), WAIT), "big")
            response = dns.message.from_wire(await asyncio.wait_for(reader.readexactly(size), WAIT))
            assert response.id == query.id and records(response, "A") == want
    finally:
        writer.close()


async def test_a_large_udp_answer_is_truncated_and_complete_over_tcp(servers: list[clusterdns.ClusterDNS]) -> None:
    many = endpoint_slice("big", *(endpoint(f"10.245.0.{i}") for i in range(1, 121)))  # ~2 kB of A records
    server = await start(servers, services=[service("big", cluster_ip="None")], slices=[many])
    name = "big.default.svc.cluster.local"
    classic = await udp(server, name)
    assert classic.flags & dns.flags.TC
    assert len(records(classic, "A")) < 120
    assert len(records(await tcp(server, name), "A")) == 120
    # over EDNS the client's buffer size is the limit
    medium = await udp(server, name, use_edns=0, payload=1232)
    assert medium.flags & dns.flags.TC
    large = await udp(server, name, use_edns=0, payload=4096)
    assert not large.flags & dns.flags.TC and len(records(large, "A")) == 120


async def test_two_servers_share_one_port(servers: list[clusterdns.ClusterDNS]) -> None:
    first = await start(servers)
    second = await start(servers, port=first.port)
    assert second.port == first.port
    await first.close()
    # the second still answers on the port over both protocols
    assert records(await udp(second, "web.default.svc.cluster.local"), "A") == ["10.96.0.10"]
    assert records(await tcp(second, "web.default.svc.cluster.local"), "A") == ["10.96.0.10"]


async def test_names_outside_the_zone_are_forwarded_to_the_upstream(
        servers: list[clusterdns.ClusterDNS], upstreams: list[FakeUpstream]) -> None:
    upstream = await start_upstream(upstreams)
    server = await start(servers, upstreams=[upstream.address])
    for ask_ in (udp, tcp):
        response = await ask_(server, "example.com")
        assert response.rcode() == dns.rcode.NOERROR and records(response, "A") == ["192.0.2.53"]
    assert upstream.questions == ["example.com.", "example.com."]
    # names of the zone never reach the upstream
    await udp(server, "nope.default.svc.cluster.local")
    assert upstream.questions == ["example.com.", "example.com."]


async def test_a_silent_upstream_is_skipped_for_the_next(
        servers: list[clusterdns.ClusterDNS], upstreams: list[FakeUpstream]) -> None:
    silent = await start_upstream(upstreams, silent=True)
    answering = await start_upstream(upstreams)
    server = await start(servers, upstreams=[silent.address, answering.address], upstream_timeout=0.3)
    assert records(await udp(server, "example.org"), "A") == ["192.0.2.53"]
    assert silent.questions == ["example.org."] and answering.questions == ["example.org."]


async def test_no_upstream_answers_servfail(
        servers: list[clusterdns.ClusterDNS], upstreams: list[FakeUpstream]) -> None:
    without = await start(servers)
    assert (await udp(without, "example.com")).rcode() == dns.rcode.SERVFAIL
    silent = await start_upstream(upstreams, silent=True)
    unanswered = await start(servers, upstreams=[silent.address], upstream_timeout=0.2)
    response = await udp(unanswered, "example.com")
    assert response.rcode() == dns.rcode.SERVFAIL and response.flags & dns.flags.RA


async def test_an_externalname_is_completed_by_the_upstream(
        servers: list[clusterdns.ClusterDNS], upstreams: list[FakeUpstream]) -> None:
    upstream = await start_upstream(upstreams)
    server = await start(servers, upstreams=[upstream.address])
    response = await udp(server, "db.default.svc.cluster.local")
    assert records(response, "CNAME") == ["db.example.com."]
    assert records(response, "A") == ["192.0.2.53"]
    assert upstream.questions == ["db.example.com."]


async def test_malformed_packets_are_dropped_without_a_traceback(
        servers: list[clusterdns.ClusterDNS], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kubelite")
    server = await start(servers)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.sendto(b"\x12\x34garbage", ("127.0.0.1", server.port))
        raw.sendto(b"", ("127.0.0.1", server.port))
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), WAIT)
    try:
        writer.write(b"\x00\x05hello")
        assert await asyncio.wait_for(reader.read(), WAIT) == b""  # the server closed the connection
    finally:
        writer.close()
    assert records(await udp(server, "web.default.svc.cluster.local"), "A") == ["10.96.0.10"]
    assert any("malformed" in r.getMessage() for r in caplog.records)
    assert all(r.exc_info is None for r in caplog.records)


async def test_a_failing_answer_is_servfail_and_the_listener_lives_on(
        servers: list[clusterdns.ClusterDNS], caplog: pytest.LogCaptureFixture) -> None:
    class Broken(view.StaticView):
        def service(self, namespace: str, name: str) -> Obj | None:
            if namespace == "broken":
                raise RuntimeError("view is broken")
            return super().service(namespace, name)

    server = clusterdns.ClusterDNS(Broken(services=SERVICES))
    servers.append(server)
    await server.start("127.0.0.1", 0)
    with caplog.at_level(logging.WARNING, logger="kubelite.proxy.dns"):
        for ask_ in (udp, tcp):
            assert (await ask_(server, "web.broken.svc.cluster.local")).rcode() == dns.rcode.SERVFAIL
    assert [r.levelno for r in caplog.records if "answering failed" in r.getMessage()] == [logging.WARNING] * 2
    assert records(await udp(server, "web.default.svc.cluster.local"), "A") == ["10.96.0.10"]
