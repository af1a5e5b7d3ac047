"""The resource metrics API, ``metrics.k8s.io/v1beta1``: what ``kubectl top`` reads.

kubelite's metrics-server, built into the API server. The router (``kubelite.apiserver.app``)
sends every ``/apis/metrics.k8s.io/v1beta1/…`` request here and advertises ``RESOURCES`` in
discovery (legacy and aggregated). Served, read-only (get and list, no watch):

- ``nodes`` and ``nodes/{name}`` → ``NodeMetrics(List)``, with ``?labelSelector=``;
- ``pods``, ``namespaces/{ns}/pods`` and ``namespaces/{ns}/pods/{name}`` → ``PodMetrics(List)``,
  with ``?labelSelector=`` and ``?fieldSelector=`` (pods' selectable fields).

Nothing is stored. Each request asks the node agents (``kubelite.agent.server``'s
``GET /stats/summary``, sampled in the background there so it answers at once) of the Ready
nodes concerned, concurrently and with a short deadline; a node whose agent is silent is
left out, as metrics-server leaves out a node it failed to scrape. The agents are found and
called the way pods' streams are (``kubelite.apiserver.streams``: the Node annotation
``kubelite.io/agent-url``, the agent token, the shared client session).

Usage is formatted as metrics-server does: CPU in canonical decimal quantities of
nanocores (``"12345678n"``, ``"5m"``), memory working set in canonical binary ones
(``"20480Ki"``), a ``timestamp`` and a ``window`` (the interval the CPU rate covers).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from kubelite.api import errors, meta, scheme
from kubelite.apiserver import discovery, handlers, registry, requests, tables

if TYPE_CHECKING:
    from kubelite.apiserver import streams as streams_mod

log = logging.getLogger("kubelite.apiserver.metrics")

Obj = dict[str, Any]

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
PREFIX = f"/apis/{GROUP}/{VERSION}/"
NODES = scheme.ResourceInfo(group=GROUP, version=VERSION, kind="NodeMetrics", plural="nodes", singular="",
                            namespaced=False, verbs=("get", "list"))
PODS = scheme.ResourceInfo(group=GROUP, version=VERSION, kind="PodMetrics", plural="pods", singular="",
                           namespaced=True, verbs=("get", "list"))
RESOURCES: tuple[scheme.ResourceInfo, ...] = (NODES, PODS)
AGENT_URL_ANNOTATION = "kubelite.io/agent-url"
# kubectl top waits for every agent we ask; a hung node must not hold up the others for long.
AGENT_TIMEOUT = 3.0


# ---------------------------------------------------------------------------- formatting


def cpu_quantity(nanocores: int) -> str:
    """Nanocores as a canonical decimal quantity (metrics-server's ``NewScaledQuantity(n, -9)``)."""
    if nanocores == 0:
        return "0"
    for suffix, factor in (("", 10**9), ("m", 10**6), ("u", 10**3)):
        if nanocores % factor == 0:
            return f"{nanocores // factor}{suffix}"
    return f"{nanocores}n"


def memory_quantity(size: int) -> str:
    """Bytes as a canonical binary quantity: the largest power of 1024 that divides evenly."""
    if size == 0:
        return "0"
    for suffix, factor in (("Ei", 1024**6), ("Pi", 1024**5), ("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2),
                           ("Ki", 1024)):
        if size % factor == 0:
            return f"{size // factor}{suffix}"
    return str(size)


def window_duration(seconds: float) -> str:
    """A Go ``time.Duration`` string, as metrics-server writes ``window`` ("5.012s", "800ms")."""
    if seconds >= 1:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{max(0, round(seconds * 1000))}ms"




def _usage(stats: Obj) -> Obj:
    cpu, memory = stats.get("cpu") or {}, stats.get("memory") or {}
    return {"cpu": cpu_quantity(int(cpu.get("usageNanoCores") or 0)),
            "memory": memory_quantity(int(memory.get("workingSetBytes") or 0))}


def node_metrics(node: Obj, summary: Obj) -> Obj | None:
    """A node's ``NodeMetrics`` from its agent's summary; None while the agent has no rate yet."""
    stats = summary.get("node") or {}
    cpu = stats.get("cpu")
    if not cpu or not stats.get("memory"):
        return None
    md = node["metadata"]
    return {"kind": "NodeMetrics", "apiVersion": API_VERSION,
            "metadata": {"name": md["name"], "creationTimestamp": meta.now_rfc3339(), "labels": dict(md.get("labels") or {})},
            "timestamp": cpu.get("time") or meta.now_rfc3339(), "window": window_duration(float(cpu.get("windowSeconds") or 0)),
            "usage": _usage(stats)}


def pod_metrics(pod: Obj, stats: Obj) -> Obj | None:
    """A pod's ``PodMetrics`` from its entry in its agent's summary; None without containers."""
    containers = [c for c in stats.get("containers") or [] if c.get("cpu") and c.get("memory")]
    if not containers:
        return None
    md = pod["metadata"]
    latest = max(containers, key=lambda c: c["cpu"].get("time") or "")
    window = max(float(c["cpu"].get("windowSeconds") or 0) for c in containers)
    return {"kind": "PodMetrics", "apiVersion": API_VERSION,
            "metadata": {"name": md["name"], "namespace": md.get("namespace", ""), "creationTimestamp": meta.now_rfc3339(),
                         "labels": dict(md.get("labels") or {})},
            "timestamp": latest["cpu"].get("time") or meta.now_rfc3339(), "window": window_duration(window),
            "containers": [{"name": c["name"], "usage": _usage(c)} for c in containers]}


def _ready(node: Obj) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


# ---------------------------------------------------------------------------- tables


_COLUMNS = [
    {"name": "Name", "type": "string", "format": "name", "description": "Name of the resource", "priority": 0},
    {"name": "CPU", "type": "string", "format": "", "description": "CPU usage", "priority": 0},
    {"name": "Memory", "type": "string", "format": "", "description": "Memory usage", "priority": 0},
    {"name": "Window", "type": "string", "format": "", "description": "Interval the CPU rate covers", "priority": 0},
]


def _table(items: list[Obj], *, include_object: str, version: str) -> Obj:
    """``kubectl get nodemetrics/podmetrics``: metrics-server's columns (a pod's usage summed)."""
    include_object = include_object or "Metadata"
    if include_object not in tables.INCLUDE_OBJECT:
        raise errors.BadRequest(f"unrecognized includeObject value: {include_object!r}")
    api_version = f"{tables.TABLE_GROUP}/{version}"
    rows: list[Obj] = []
    for item in items:
        if item["kind"] == "NodeMetrics":
            cpu, memory = item["usage"]["cpu"], item["usage"]["memory"]
        else:
            cpu = _sum_cpu([c["usage"]["cpu"] for c in item["containers"]])
            memory = _sum_memory([c["usage"]["memory"] for c in item["containers"]])
        row: Obj = {"cells": [item["metadata"]["name"], cpu, memory, item["window"]]}
        if include_object == "Object":
            row["object"] = item
        elif include_object == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": api_version, "metadata": item["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": api_version, "metadata": {}, "columnDefinitions": _COLUMNS, "rows": rows}


def _parse(quantity: str, units: dict[str, int]) -> int:
    for suffix, factor in units.items():
        if suffix and quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity) * units[""]


def _sum_cpu(values: list[str]) -> str:
    return cpu_quantity(sum(_parse(v, {"n": 1, "u": 10**3, "m": 10**6, "": 10**9}) for v in values))


def _sum_memory(values: list[str]) -> str:
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5, "Ei": 1024**6, "": 1}
    return memory_quantity(sum(_parse(v, units) for v in values))


# ---------------------------------------------------------------------------- the API


class Metrics:
    """``metrics.k8s.io/v1beta1`` handlers; ``handle`` is the router's entry point."""

    def __init__(self, reg: registry.Registry, *, streams: streams_mod.Streams) -> None:
        self.registry = reg
        self.streams = streams

    async def handle(self, request: web.Request) -> web.StreamResponse:
        rest = [p for p in request.path[len(PREFIX):].split("/") if p]
        if not rest:
            listing = discovery.legacy_resource_list(self.registry.scheme, GROUP, VERSION, extra=RESOURCES)
            return handlers.json_response(listing)
        if request.method != "GET":
            raise errors.MethodNotAllowed(f"the server does not allow this method on the requested resource "
                                          f"({rest[-1] if len(rest) % 2 else rest[-2]}.{GROUP})")
        if requests.parse_bool(request.query, "watch"):
            raise errors.MethodNotAllowed("the metrics API does not support watch")
        opts = requests.ListOptions(label_selector=request.query.get("labelSelector", ""),
                                    field_selector=request.query.get("fieldSelector", ""))
        if rest[0] == "nodes" and len(rest) <= 2:
            if len(rest) == 2:
                return self._answer(request, await self.node(rest[1]), list_kind=None)
            return self._answer(request, await self.nodes(opts), list_kind="NodeMetricsList")
        if rest[0] == "pods" and len(rest) == 1:
            return self._answer(request, await self.pods(None, opts), list_kind="PodMetricsList")
        if rest[0] == "namespaces" and len(rest) in (3, 4) and rest[2] == "pods":
            if len(rest) == 4:
                return self._answer(request, await self.pod(rest[1], rest[3]), list_kind=None)
            return self._answer(request, await self.pods(rest[1], opts), list_kind="PodMetricsList")
        raise errors.NotFound("the server could not find the requested resource")

    def _answer(self, request: web.Request, found: Obj | list[Obj], *, list_kind: str | None) -> web.Response:
        items = found if isinstance(found, list) else [found]
        table_version = tables.table_version(request.headers.get("Accept", ""))
        if table_version is not None:
            return handlers.json_response(_table(items, include_object=request.query.get("includeObject", ""),
                                                 version=table_version))
        if list_kind is None:
            return handlers.json_response(items[0])
        return handlers.json_response({"kind": list_kind, "apiVersion": API_VERSION, "metadata": {},
                                       "items": items})

    # --- nodes -------------------------------------------------------------------------

    async def nodes(self, opts: requests.ListOptions) -> list[Obj]:
        found = await self._store("nodes").list(None, opts)
        nodes = [n for n in found.items if _ready(n) and _agent_url(n)]
        summaries = await asyncio.gather(*(self._summary(n) for n in nodes))
        out = [node_metrics(n, s) for n, s in zip(nodes, summaries) if s is not None]
        return [m for m in out if m is not None]

    async def node(self, name: str) -> Obj:
        try:
            node = await self._store("nodes").get(None, name)
        except errors.NotFound:
            node = None
        summary = await self._summary(node) if node is not None and _ready(node) and _agent_url(node) else None
        metrics = node_metrics(node, summary) if node is not None and summary is not None else None
        if metrics is None:
            raise errors.not_found(resource="nodemetrics", group=GROUP, name=name)
        return metrics

    # --- pods --------------------------------------------------------------------------

    async def pods(self, namespace: str | None, opts: requests.ListOptions) -> list[Obj]:
        # the pods' own label and field selectors (metadata.name, spec.nodeName, status.phase, …)
        found = await self._store("pods").list(namespace, opts)
        return await self._for_pods(found.items)

    async def pod(self, namespace: str, name: str) -> Obj:
        try:
            pod = await self._store("pods").get(namespace, name)
        except errors.NotFound:
            pod = None
        metrics = await self._for_pods([pod]) if pod is not None else []
        if not metrics:
            raise errors.not_found(resource="podmetrics", group=GROUP, name=name)
        return metrics[0]

    async def _for_pods(self, pods: list[Obj]) -> list[Obj]:
        # ask only the agents of nodes that run one of these pods
        wanted = {(p.get("spec") or {}).get("nodeName") or "" for p in pods} - {""}
        node_store = self._store("nodes")
        nodes: list[Obj] = []
        for name in sorted(wanted):
            try:
                node = await node_store.get(None, name)
            except errors.NotFound:
                continue
            if _ready(node) and _agent_url(node):
                nodes.append(node)
        summaries = await asyncio.gather(*(self._summary(n) for n in nodes))
        by_uid: dict[str, Obj] = {}
        for summary in summaries:
            for entry in (summary or {}).get("pods") or []:
                by_uid[(entry.get("podRef") or {}).get("uid", "")] = entry
        out: list[Obj] = []
        for pod in pods:
            entry = by_uid.get(pod["metadata"].get("uid", ""))
            metrics = pod_metrics(pod, entry) if entry is not None else None
            if metrics is not None:
                out.append(metrics)
        return out

    # --- the agents --------------------------------------------------------------------

    def _store(self, plural: str) -> registry.Store:
        store = self.registry.get("", "v1", plural)
        assert store is not None
        return store

    async def _summary(self, node: Obj) -> Obj | None:
        """The agent's ``/stats/summary``, or None (logged) when it does not answer in time."""
        name = node["metadata"]["name"]
        url = f"{_agent_url(node)}/stats/summary"
        try:
            # the streams' session and agent credentials: one connection pool to the agents
            async with self.streams._client().get(
                    url, headers=self.streams._auth(),
                    timeout=aiohttp.ClientTimeout(total=AGENT_TIMEOUT)) as resp:
                if resp.status != 200:
                    log.warning("node agent refused stats node=%s status=%d", name, resp.status)
                    return None
                body: Obj = await resp.json(content_type=None)
                return body
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("node agent did not answer stats node=%s error=%r", name, exc)
            return None


def _agent_url(node: Obj) -> str:
    return str(((node.get("metadata") or {}).get("annotations") or {}).get(AGENT_URL_ANNOTATION, "")).rstrip("/")
