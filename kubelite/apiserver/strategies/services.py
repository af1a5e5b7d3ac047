"""The service strategy: cluster IP and node port allocation.

Cluster IPs come from the service CIDR (10.43.0.0/16 by default, as k3s; the first
address belongs to the ``kubernetes`` Service) and node ports from 30000–32767. The used
sets are read from the watch cache, which already holds every Service; addresses handed
out but not yet committed are held in ``_reserved`` so two concurrent creates can never
get the same one (the API server runs on one event loop). A reservation ends when the
watch cache sees the Service it was for (or after ``RESERVATION_SECONDS``, for a create
whose write failed), so an address is free again as soon as that Service is deleted: the
``kubernetes`` Service re-created by the server gets its first address back.
"""

from __future__ import annotations

import ipaddress
import random
import time
from typing import Any

from kubelite.api import errors
from kubelite.apiserver.strategies import base

Obj = dict[str, Any]

SERVICE_CIDR = ipaddress.ip_network("10.43.0.0/16")
NODE_PORT_RANGE = (30000, 32767)
RESERVATION_SECONDS = 60.0


class ServiceStrategy(base.Strategy):
    name_rule = "dns1035"
    return_deleted_object = True

    def __init__(self, info: Any) -> None:
        super().__init__(info)
        # address → when its reservation lapses (time.monotonic())
        self._reserved_ips: dict[str, float] = {}
        self._reserved_ports: dict[int, float] = {}
        self._listening = False

    def initial_status(self, obj: Obj) -> Obj | None:
        return {"loadBalancer": {}}

    def _used(self) -> tuple[set[str], set[int]]:
        ips: set[str] = set()
        ports: set[int] = set()
        if self.store is not None:
            for svc in self.store.cache.objects.values():
                spec = svc.get("spec") or {}
                ips.update(spec.get("clusterIPs") or [spec.get("clusterIP")])
                ports.update(p.get("nodePort") for p in spec.get("ports") or [] if p.get("nodePort"))
        # Reservations the cache now holds are no longer needed, nor lapsed ones.
        now = time.monotonic()
        self._reserved_ips = {ip: t for ip, t in self._reserved_ips.items() if t > now and ip not in ips}
        self._reserved_ports = {p: t for p, t in self._reserved_ports.items() if t > now and p not in ports}
        return ips | set(self._reserved_ips), ports | set(self._reserved_ports)

    def _seen(self, event: Any) -> None:
        """A watch cache listener: a created Service's addresses need no reservation."""
        if event.type != "ADDED":
            return
        spec = event.obj.get("spec") or {}
        for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]:
            self._reserved_ips.pop(ip, None)
        for port in spec.get("ports") or []:
            self._reserved_ports.pop(port.get("nodePort"), None)

    async def admit_create(self, obj: Obj) -> None:
        if not self._listening and self.store is not None:
            self.store.cache.listeners.append(self._seen)
            self._listening = True
        spec = obj.setdefault("spec", {})
        svc_type = spec.get("type", "ClusterIP")
        used_ips, used_ports = self._used()
        lapse = time.monotonic() + RESERVATION_SECONDS
        if svc_type != "ExternalName":
            wanted = spec.get("clusterIP")
            if wanted in (None, ""):
                wanted = self._allocate_ip(used_ips, name=obj["metadata"].get("name", ""))
            elif wanted != "None":
                try:
                    addr = ipaddress.ip_address(wanted)
                except ValueError:
                    raise self._bad(obj, "spec.clusterIP", wanted, "must be a valid IP address") from None
                if addr not in SERVICE_CIDR:
                    raise self._bad(obj, "spec.clusterIP", wanted,
                                    f"provided IP is not in the valid range. The range of valid IPs is {SERVICE_CIDR}")
                if wanted in used_ips:
                    raise self._bad(obj, "spec.clusterIP", wanted, "provided IP is already allocated")
            spec["clusterIP"] = wanted
            spec["clusterIPs"] = [wanted]
            self._reserved_ips[wanted] = lapse
        if svc_type in ("NodePort", "LoadBalancer"):
            for i, port in enumerate(spec.get("ports") or []):
                node_port = port.get("nodePort")
                if node_port:
                    if node_port in used_ports:
                        raise self._bad(obj, f"spec.ports[{i}].nodePort", node_port, "provided port is already allocated")
                else:
                    node_port = self._allocate_port(used_ports)
                    port["nodePort"] = node_port
                used_ports.add(node_port)
                self._reserved_ports[node_port] = lapse

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
        # An update that leaves clusterIP out keeps the allocated one (kubectl apply does this).
        for key in ("clusterIP", "clusterIPs"):
            if not spec.get(key) and old_spec.get(key):
                spec[key] = old_spec[key]
        old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in old_spec.get("ports") or []}
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            for port in spec.get("ports") or []:
                if not port.get("nodePort"):
                    port["nodePort"] = old_ports.get((port.get("port"), port.get("protocol", "TCP"))) \
                        or self._allocate_port(self._used()[1])

    def validate_update(self, new: Obj, old: Obj) -> list[errors.Cause]:
        causes = super().validate_update(new, old)
        old_ip = (old.get("spec") or {}).get("clusterIP")
        if old_ip and old_ip != "None" and (new.get("spec") or {}).get("clusterIP") != old_ip \
                and (new.get("spec") or {}).get("type") != "ExternalName":
            causes.append(errors.invalid_value("spec.clusterIP", (new.get("spec") or {}).get("clusterIP"),
                                               "field is immutable"))
        return causes

    def _bad(self, obj: Obj, field: str, value: Any, why: str) -> errors.Invalid:
        return errors.invalid(kind="Service", group="", name=obj["metadata"].get("name", ""),
                              causes=[errors.invalid_value(field, value, why)])

    def _allocate_ip(self, used: set[str], *, name: str) -> str:
        if name == "kubernetes":
            first = str(SERVICE_CIDR.network_address + 1)
            if first not in used:
                return first
        size = SERVICE_CIDR.num_addresses
        # Random probing keeps allocation O(1) while the range is sparse.
        for _ in range(64):
            candidate = str(SERVICE_CIDR.network_address + random.randrange(2, size - 1))
            if candidate not in used:
                return candidate
        for host in SERVICE_CIDR.hosts():
            if str(host) not in used and host != SERVICE_CIDR.network_address + 1:
                return str(host)
        raise errors.InternalError("failed to allocate a service IP: the range is full")

    def _allocate_port(self, used: set[int]) -> int:
        low, high = NODE_PORT_RANGE
        for _ in range(64):
            candidate = random.randint(low, high)
            if candidate not in used:
                return candidate
        for candidate in range(low, high + 1):
            if candidate not in used:
                return candidate
        raise errors.InternalError("failed to allocate a node port: the range is full")
