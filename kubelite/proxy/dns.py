"""The cluster DNS server: what CoreDNS's ``kubernetes`` plugin does for a Kubernetes cluster.

The node agent's runner (through ``kubelite.proxy``) starts one ``ClusterDNS`` on the pod
network's gateway address; pods use it as their nameserver (dnsPolicy ClusterFirst, search path
``<ns>.svc.<zone> svc.<zone> <zone>``). It serves the records of the Kubernetes DNS specification
(https://github.com/kubernetes/dns/blob/master/docs/specification.md) from a
``view.ServiceView``, read afresh for every query, so an answer is never older than the view:

- ``<svc>.<ns>.svc.<zone>``: A/AAAA of the cluster IPs; of the ready endpoints of a headless
  Service; a CNAME to ``spec.externalName`` for an ExternalName Service;
- ``<hostname>.<svc>.<ns>.svc.<zone>``: a headless Service's ready endpoint by its ``hostname``
  (a StatefulSet's pods), or by its dashed IP when it has none;
- ``_<port>._<proto>.<svc>.<ns>.svc.<zone>``: SRV of a named port, the targets' addresses in
  the additional section;
- ``<a-b-c-d>.<ns>.pod.<zone>``: A a.b.c.d, unverified (CoreDNS's ``pods insecure``);
- PTR of cluster IPs and of headless endpoints; ``dns-version.<zone>`` TXT (the schema version).

Other names in the zone are NXDOMAIN, or NODATA when they have names below them; both carry the
zone's SOA for negative caching. Names outside the zone, and reverse names of unknown addresses,
are forwarded over UDP to the first upstream that answers; with no upstream they get SERVFAIL.
Several agents on one host may bind the same address and port (SO_REUSEPORT): each answers the same.

``ClusterDNS.answer`` is the pure part (a query in, a response or "forward it" out); the
listeners around it only move bytes, forward, and keep one bad packet from hurting the next.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

from kubelite.aio import tasks
from kubelite.proxy import view

log = logging.getLogger("kubelite.proxy.dns")

SCHEMA_VERSION = "1.0.1"  # of the specification above, served as dns-version.<zone> TXT
CLASSIC_UDP_SIZE = 512  # the UDP answer limit of a query without EDNS (RFC 1035)
OUR_EDNS_PAYLOAD = 1232  # what we advertise: DNS flag day 2020's size, never fragmented
TCP_IDLE_TIMEOUT = 10.0  # seconds a TCP client may wait before its next query (RFC 7766: keep it short)
MAX_CNAME_CHAIN = 8  # ExternalName Services pointing at each other inside the zone
BIND_ATTEMPTS = 5  # port 0: the TCP port picked by the kernel may be taken for UDP; pick again

Records = list[dns.rrset.RRset]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Endpoint = tuple[str, list[Address], list[view.Obj]]  # (hostname, addresses, the slice's ports)


class ClusterDNS:
    """Answers for one cluster domain over UDP and TCP on one address and port.

    ``answer`` may be called without the listeners (it reads only the view). ``start`` binds
    both sockets with SO_REUSEADDR and SO_REUSEPORT; ``close`` stops them and waits for
    forwarded queries in flight. A ``ClusterDNS`` is started at most once.
    """

    def __init__(self, view: view.ServiceView, *, domain: str = "cluster.local", upstreams: list[str] | None = None,
                 ttl: int = 5, upstream_timeout: float = 2.0) -> None:
        self._view = view
        self._zone = dns.name.from_text(domain)
        self._ttl = ttl
        self._upstreams = [_host_port(u) for u in upstreams or []]
        self._upstream_timeout = upstream_timeout
        self.port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._tasks = tasks.TaskGroup("cluster-dns")

    # -- answers -------------------------------------------------------------------------

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        """The response to ``query``, or None when it should be forwarded upstream (a name
        outside the zone, a reverse name of no Service or endpoint). Reads the view; no I/O.
        ``query`` must be a query (QR clear): the listeners drop anything else before."""
        response = dns.message.make_response(query, recursion_available=True, our_payload=OUR_EDNS_PAYLOAD)
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        if question.name.is_subdomain(self._zone):
            if question.rdclass != dns.rdataclass.IN:
                response.set_rcode(dns.rcode.REFUSED)
                return response
            response.flags |= dns.flags.AA
            self._authoritative(response, name=question.name, rdtype=question.rdtype)
            return response
        if question.rdtype in (dns.rdatatype.PTR, dns.rdatatype.ANY) and question.rdclass == dns.rdataclass.IN:
            ptr = self._reverse(question.name)
            if ptr is not None:
                response.flags |= dns.flags.AA
                response.answer.append(ptr)
                return response
        return None

    def _authoritative(self, response: dns.message.Message, *, name: dns.name.Name, rdtype: int) -> None:
        """Fill ``response`` for ``name`` in the zone, following CNAMEs while they stay in it."""
        answered = False
        additional: Records = []
        for _ in range(MAX_CNAME_CHAIN):
            found = self._lookup(name)
            if found is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                break
            records, extra = found
            matching = [r for r in records if rdtype in (r.rdtype, dns.rdatatype.ANY)]
            if matching:
                response.answer.extend(matching)
                additional = extra
                answered = True
                break
            cname = next((r for r in records if r.rdtype == dns.rdatatype.CNAME), None)
            if cname is None:
                break  # the name exists without records of this type: NODATA
            response.answer.append(cname)
            name = cname[0].target
            if not name.is_subdomain(self._zone):
                return  # the listener asks upstream for the rest of the chain
        else:
            return  # ExternalName Services in a loop: the CNAMEs so far
        if not answered:
            response.authority.append(self._soa())  # NXDOMAIN or NODATA: the negative-caching TTL
        response.additional.extend(additional)

    def _lookup(self, name: dns.name.Name) -> tuple[Records, Records] | None:
        """``(records, additional)`` of ``name`` inside the zone, or None if it does not exist.
        A name with no records but names below it (``svc.<zone>``) exists: ``([], [])``."""
        labels = [label.decode("latin-1").lower() for label in name.relativize(self._zone).labels]
        match labels[::-1]:
            case []:
                return [self._soa()], []
            case ["dns-version"]:
                return [self._rrset(name, dns.rdatatype.TXT, [f'"{SCHEMA_VERSION}"'])], []
            case ["svc"] | ["pod"] | ["svc", _] | ["pod", _]:
                return [], []  # namespaces are not in the view: every one may hold Services
            case ["pod", _, dashed]:
                ip = _undash(dashed)
                return (self._addresses(name, [ip]), []) if ip is not None else None
            case ["svc", namespace, service, *below]:
                svc = self._view.service(namespace, service)
                if svc is None:
                    return None
                return self._service_name(name, svc=svc, below=below[::-1])
            case _:
                return None

    def _service_name(self, name: dns.name.Name, *, svc: view.Obj, below: list[str]) -> tuple[Records, Records] | None:
        """Records of ``name``: the Service ``svc`` itself or ``below`` it (labels, leftmost first)."""
        spec = svc.get("spec") or {}
        headless = spec.get("clusterIP") == "None" and spec.get("type") != "ExternalName"
        match below:
            case []:
                if spec.get("type") == "ExternalName":
                    target = str(spec.get("externalName") or "").rstrip(".")
                    return ([self._rrset(name, dns.rdatatype.CNAME, [f"{target}."])] if target else []), []
                if headless:
                    # No ready endpoint: NXDOMAIN, as the DNS specification and CoreDNS say.
                    ready = [a for _, addrs, _ in self._endpoints(svc) for a in addrs]
                    return (self._addresses(name, ready), []) if ready else None
                return self._addresses(name, _cluster_ips(spec)), []
            case [port, proto] if port.startswith("_") and proto.startswith("_"):
                return self._srv(name, svc=svc, port=port[1:], proto=proto[1:])
            case [proto] if proto.startswith("_"):
                # the parent of _<port>._<proto>: it exists when some named port uses the protocol
                named = [p for p in spec.get("ports") or [] if p.get("name")]
                return ([], []) if any(_port_matches(p, name=None, proto=proto[1:]) for p in named) else None
            case [hostname] if headless:
                addrs = [a for host, addrs, _ in self._endpoints(svc) if host == hostname for a in addrs]
                return (self._addresses(name, addrs), []) if addrs else None
            case _:
                return None

    def _srv(self, name: dns.name.Name, *, svc: view.Obj, port: str, proto: str) -> tuple[Records, Records] | None:
        """SRV of the named port: the Service's own port and name, or for a headless Service one
        per ready endpoint with the endpoint's port (where clients connect)."""
        spec = svc.get("spec") or {}
        if not port or not any(_port_matches(p, name=port, proto=proto) for p in spec.get("ports") or []):
            return None
        fqdn = self._service_fqdn(svc)
        records: dict[tuple[int, dns.name.Name], None] = {}  # (port, target), in order, once each
        addresses: dict[dns.name.Name, list[Address]] = {}
        if spec.get("clusterIP") == "None":
            for hostname, addrs, ports in self._endpoints(svc):
                target = dns.name.Name([hostname]).concatenate(fqdn)
                for p in ports:
                    if _port_matches(p, name=port, proto=proto) and p.get("port"):
                        records[(int(p["port"]), target)] = None
                        addresses.setdefault(target, []).extend(addrs)
        elif ips := _cluster_ips(spec):
            for p in spec.get("ports") or []:
                if _port_matches(p, name=port, proto=proto):
                    records[(int(p["port"]), fqdn)] = None
                    addresses[fqdn] = ips
        if not records:
            return [], []
        weight = max(1, 100 // len(records))  # equal shares of 100, as CoreDNS
        srv = self._rrset(name, dns.rdatatype.SRV, [f"0 {weight} {n} {target}" for n, target in records])
        return [srv], [rr for target, addrs in addresses.items() for rr in self._addresses(target, addrs)]

    def _reverse(self, name: dns.name.Name) -> dns.rrset.RRset | None:
        """PTR of a cluster IP or a headless Service's ready endpoint; None for other addresses."""
        try:
            ip = ipaddress.ip_address(dns.reversename.to_address(name))
        except (dns.exception.DNSException, ValueError):
            return None  # a partial reverse name (10.in-addr.arpa): not ours
        targets: list[str] = []
        for svc in self._view.services():
            spec = svc.get("spec") or {}
            if spec.get("type") == "ExternalName":
                continue
            fqdn = self._service_fqdn(svc)
            if spec.get("clusterIP") == "None":
                targets += [dns.name.Name([host]).concatenate(fqdn).to_text()
                            for host, addrs, _ in self._endpoints(svc) if ip in addrs]
            elif ip in _cluster_ips(spec):
                targets.append(fqdn.to_text())
        return self._rrset(name, dns.rdatatype.PTR, targets) if targets else None

    def _endpoints(self, svc: view.Obj) -> Iterator[Endpoint]:
        """The ready endpoints of a Service's EndpointSlices (``ready`` true or absent: the
        EndpointSlice controller already counts publishNotReadyAddresses as ready)."""
        meta = svc.get("metadata") or {}
        for slice_ in self._view.slices(meta.get("namespace", ""), meta.get("name", "")):
            if slice_.get("addressType") not in ("IPv4", "IPv6"):
                continue  # FQDN slices carry names, not addresses
            ports = slice_.get("ports") or []
            for ep in slice_.get("endpoints") or []:
                if (ep.get("conditions") or {}).get("ready") is False:
                    continue
                addrs = list(_parse_ips(ep.get("addresses") or []))
                if addrs:
                    yield str(ep.get("hostname") or _dash(addrs[0])).lower(), addrs, ports

    def _service_fqdn(self, svc: view.Obj) -> dns.name.Name:
        meta = svc.get("metadata") or {}
        return dns.name.Name([meta.get("name", ""), meta.get("namespace", ""), "svc"]).concatenate(self._zone)

    def _addresses(self, name: dns.name.Name, addrs: Iterable[Address]) -> Records:
        """One A and one AAAA RRset (when there are addresses of each family), without duplicates."""
        addrs = list(addrs)
        v4 = [str(a) for a in addrs if a.version == 4]
        v6 = [str(a) for a in addrs if a.version == 6]
        return [self._rrset(name, rdtype, texts)
                for rdtype, texts in ((dns.rdatatype.A, v4), (dns.rdatatype.AAAA, v6)) if texts]

    def _rrset(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, texts: list[str]) -> dns.rrset.RRset:
        # an RRset is a set: an address in two EndpointSlices is answered once
        return dns.rrset.from_text_list(name, self._ttl, dns.rdataclass.IN, rdtype, texts)

    def _soa(self) -> dns.rrset.RRset:
        zone = self._zone.to_text()
        # the last field is the negative-caching TTL: a Service created after an NXDOMAIN
        # resolves as quickly as a changed one
        return self._rrset(self._zone, dns.rdatatype.SOA,
                           [f"ns.dns.{zone} hostmaster.{zone} 1 7200 1800 86400 {self._ttl}"])

    # -- listeners -----------------------------------------------------------------------

    async def start(self, host: str, port: int = 53) -> None:
        """Listen on ``host`` (an IP address) over UDP and TCP; port 0 picks one free for both."""
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        for attempt in range(BIND_ATTEMPTS):
            tcp = _bind(family, socket.SOCK_STREAM, host, port)
            try:
                udp = _bind(family, socket.SOCK_DGRAM, host, tcp.getsockname()[1])
                break
            except OSError:
                tcp.close()
                if port != 0 or attempt == BIND_ATTEMPTS - 1:
                    raise
        self.port = tcp.getsockname()[1]
        tcp.listen(128)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self._on_datagram), sock=udp)
        self._udp = transport
        self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp)
        log.info("cluster DNS listening address=%s port=%d domain=%s upstreams=%s", host, self.port,
                 self._zone.to_text(omit_final_dot=True), ",".join(f"{h}:{p}" for h, p in self._upstreams) or "-")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            for writer in list(self._connections):
                writer.close()
            await self._tcp.wait_closed()
            self._tcp = None
        await self._tasks.close()

    def _on_datagram(self, data: bytes, peer: Any) -> None:
        query = _parse(data, peer)
        if query is not None:
            self._tasks.spawn(self._reply_udp(query, peer), name=f"udp {peer[0]}:{peer[1]}")

    async def _reply_udp(self, query: dns.message.Message, peer: Any) -> None:
        response = await self._resolve(query, tcp=False)
        # the client's limit: 512 without EDNS, else what it advertised; TC tells it to use TCP
        limit = CLASSIC_UDP_SIZE if query.edns < 0 else max(CLASSIC_UDP_SIZE, query.payload)
        wire = response.to_wire(max_size=limit, prefer_truncation=True)
        if self._udp is not None:
            self._udp.sendto(wire, peer)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Length-prefixed queries, answered in order, until the client closes, idles or
        sends something that is not a DNS query."""
        peer = writer.get_extra_info("peername")
        self._connections.add(writer)
        try:
            while True:
                try:
                    async with asyncio.timeout(TCP_IDLE_TIMEOUT):
                        size = int.from_bytes(await reader.readexactly(2), "big")
                        data = await reader.readexactly(size)
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                query = _parse(data, peer)
                if query is None:
                    return
                response = await self._resolve(query, tcp=True)
                writer.write(response.to_wire(max_size=65535, prefer_truncation=True, prepend_length=True))
                await writer.drain()
        except ConnectionError:
            return  # the client went away while we answered
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _resolve(self, query: dns.message.Message, *, tcp: bool) -> dns.message.Message:
        try:
            response = self.answer(query)
        except Exception as exc:  # a bug or a view in a bad state: one SERVFAIL, not a dead listener
            question = query.question[0] if query.question else None
            log.warning("answering failed name=%s type=%s error=%r",
                        question.name if question else "-",
                        dns.rdatatype.to_text(question.rdtype) if question else "-", exc)
            log.debug("answering failed", exc_info=True)
            return _servfail(query)
        if response is None:
            return await self._forward(query, tcp=tcp) or _servfail(query)
        await self._follow_cname(query, response, tcp=tcp)
        return response

    async def _forward(self, query: dns.message.Message, *, tcp: bool) -> dns.message.Message | None:
        """The first upstream's answer (over TCP again if it was truncated and the client came
        over TCP, which it does after our own truncated relay), or None if none answers."""
        for host, port in self._upstreams:
            try:
                reply = await dns.asyncquery.udp(query, host, port=port, timeout=self._upstream_timeout,
                                                 ignore_unexpected=True)
                if tcp and reply.flags & dns.flags.TC:
                    reply = await dns.asyncquery.tcp(query, host, port=port, timeout=self._upstream_timeout)
                return reply
            except Exception as exc:  # a timeout, a refusal, a bad reply: all mean "try the next one"
                log.debug("upstream failed upstream=%s:%d error=%r", host, port, exc)
        if self._upstreams:
            question = query.question[0] if query.question else None
            log.warning("no upstream answered name=%s upstreams=%s", question.name if question else "-",
                        ",".join(f"{h}:{p}" for h, p in self._upstreams))
        return None

    async def _follow_cname(self, query: dns.message.Message, response: dns.message.Message, *, tcp: bool) -> None:
        """Complete a CNAME chain that leaves the zone (an ExternalName Service) with the
        upstream's records: pods' stub resolvers do not chase CNAMEs themselves."""
        question = query.question[0]
        if not response.answer or question.rdtype in (dns.rdatatype.CNAME, dns.rdatatype.ANY):
            return
        last = response.answer[-1]
        if last.rdtype != dns.rdatatype.CNAME or last[0].target.is_subdomain(self._zone):
            return
        follow = dns.message.make_query(last[0].target, question.rdtype, question.rdclass,
                                        use_edns=0, payload=OUR_EDNS_PAYLOAD)
        reply = await self._forward(follow, tcp=tcp)
        if reply is not None:
            response.answer.extend(reply.answer)
            if reply.rcode() == dns.rcode.NXDOMAIN:
                response.set_rcode(dns.rcode.NXDOMAIN)  # RFC 6604: the rcode of the chain's end


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, Any], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error error=%r", exc)  # an ICMP error for an earlier answer: nothing to do


def _bind(family: socket.AddressFamily, kind: socket.SocketKind, host: str, port: int) -> socket.socket:
    """A non-blocking socket bound with SO_REUSEADDR and SO_REUSEPORT, so that several agents
    on one host (tests, simulated nodes) can serve the same address and port."""
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setblocking(False)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _parse(data: bytes, peer: Any) -> dns.message.Message | None:
    """The query in ``data``, or None (logged at debug, without a traceback) for anything else."""
    try:
        message = dns.message.from_wire(data)
    except Exception as exc:  # dnspython raises many kinds for hostile bytes; all mean "not a query"
        log.debug("dropping malformed DNS packet peer=%s error=%r", peer, exc)
        return None
    if message.flags & dns.flags.QR:
        log.debug("dropping a DNS response sent as a query peer=%s", peer)
        return None
    return message


def _servfail(query: dns.message.Message) -> dns.message.Message:
    response = dns.message.make_response(query, recursion_available=True, our_payload=OUR_EDNS_PAYLOAD)
    response.set_rcode(dns.rcode.SERVFAIL)
    return response


def _host_port(upstream: str) -> tuple[str, int]:
    """``"10.0.0.2"``, ``"10.0.0.2:5353"``, ``"fd00::2"`` or ``"[fd00::2]:5353"`` → (address, port)."""
    try:
        return str(ipaddress.ip_address(upstream)), 53
    except ValueError:
        pass
    host, sep, port = upstream.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"upstream DNS server {upstream!r}: want an IP address or address:port")
    return str(ipaddress.ip_address(host.strip("[]"))), int(port)


def _cluster_ips(spec: view.Obj) -> list[Address]:
    return list(_parse_ips(spec.get("clusterIPs") or [spec.get("clusterIP")]))


def _parse_ips(values: Iterable[Any]) -> Iterator[Address]:
    for value in values:
        try:
            yield ipaddress.ip_address(str(value))
        except ValueError:
            continue  # "None", "" or junk: no address


def _port_matches(port: view.Obj, *, name: str | None, proto: str) -> bool:
    return ((name is None or str(port.get("name") or "").lower() == name)
            and str(port.get("protocol") or "TCP").lower() == proto)


def _dash(ip: Address) -> str:
    """An endpoint's name when it has no hostname: 10-0-0-1, fd00--1 (as CoreDNS)."""
    return str(ip).replace(".", "-").replace(":", "-")


def _undash(label: str) -> Address | None:
    if "." in label or ":" in label:
        return None
    text = label.replace("-", ".") if label.count("-") == 3 else label.replace("-", ":")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
