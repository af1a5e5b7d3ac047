"""Discovery documents: ``/version``, ``/api``, ``/apis`` and ``/api[s]/{group}/{version}``.

Pure functions from the live ``Scheme`` (plus any ``extra`` resources the server serves
outside the scheme, such as ``SERVER_RESOURCES``) to the JSON bodies Kubernetes clients
expect. The HTTP layer (``kubelite.apiserver`` routing) calls them per request and picks
the form with ``negotiate``:

- *legacy* discovery (``APIVersions``, ``APIGroupList``, ``APIResourceList``), which kopf,
  kr8s and the python ``DynamicClient`` read, and kubectl falls back to;
- *aggregated* discovery (``apidiscovery.k8s.io/v2`` ``APIGroupDiscoveryList``), which
  kubectl asks for first and which saves it one request per group version. Both ``/api``
  and ``/apis`` must answer in the same form, or client-go discards the resources.

``openapi`` reuses ``subresource_facts`` so that discovery and the OpenAPI paths always
agree on a subresource's kind and verbs.
"""

from __future__ import annotations

import platform
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kubelite.api import scheme as schememod

# The Kubernetes release whose API this server speaks (the kubectl skew check reads it).
KUBE_MAJOR = "1"
KUBE_MINOR = "37"
GIT_VERSION = "v1.37.0+kubelite"

AGGREGATED_GROUP = "apidiscovery.k8s.io"
AGGREGATED_KIND = "APIGroupDiscoveryList"

# Resources the server serves by hand (not through the generic registry), advertised the
# same way as scheme entries. The server passes them as ``extra=``.
SERVER_RESOURCES: tuple[schememod.ResourceInfo, ...] = (
    schememod.ResourceInfo(group="authorization.k8s.io", version="v1", kind="SelfSubjectAccessReview",
                           plural="selfsubjectaccessreviews", singular="selfsubjectaccessreview",
                           namespaced=False, verbs=("create",)),
    schememod.ResourceInfo(group="authorization.k8s.io", version="v1", kind="SelfSubjectRulesReview",
                           plural="selfsubjectrulesreviews", singular="selfsubjectrulesreview",
                           namespaced=False, verbs=("create",)),
    schememod.ResourceInfo(group="authorization.k8s.io", version="v1", kind="SubjectAccessReview",
                           plural="subjectaccessreviews", singular="subjectaccessreview",
                           namespaced=False, verbs=("create",)),
    schememod.ResourceInfo(group="authorization.k8s.io", version="v1", kind="LocalSubjectAccessReview",
                           plural="localsubjectaccessreviews", singular="localsubjectaccessreview",
                           namespaced=True, verbs=("create",)),
    schememod.ResourceInfo(group="authentication.k8s.io", version="v1", kind="SelfSubjectReview",
                           plural="selfsubjectreviews", singular="selfsubjectreview",
                           namespaced=False, verbs=("create",)),
    schememod.ResourceInfo(group="apiextensions.k8s.io", version="v1", kind="CustomResourceDefinition",
                           plural="customresourcedefinitions", singular="customresourcedefinition",
                           namespaced=False, short_names=("crd", "crds"), categories=("api-extensions",),
                           subresources=("status",)),
)

# Upstream lists built-in groups in this priority order (kube-apiserver's
# groupVersionPriority); the order decides which group wins an ambiguous name such as
# "events" in kubectl's RESTMapper. Groups not listed (CRDs) follow alphabetically.
_GROUP_PRIORITY = (
    "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io", "autoscaling",
    "batch", "certificates.k8s.io", "networking.k8s.io", "policy", "rbac.authorization.k8s.io",
    "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
    "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "resource.k8s.io",
    "flowcontrol.apiserver.k8s.io", "metrics.k8s.io",
)

_UPDATE_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class SubresourceFacts:
    """What one subresource answers: its response kind and verbs, resolved for a parent."""

    name: str
    group: str
    version: str
    kind: str
    verbs: tuple[str, ...]
    # "connect" subresources (log, exec, attach, portforward, proxy) stream rather than
    # return an object; OpenAPI marks their operations x-kubernetes-action: connect.
    connect: bool = False


# name -> (group, version, kind, verbs, connect); None means "the parent's".
_SUBRESOURCES: dict[str, tuple[str | None, str | None, str | None, tuple[str, ...], bool]] = {
    "status": (None, None, None, _UPDATE_VERBS, False),
    "scale": ("autoscaling", "v1", "Scale", _UPDATE_VERBS, False),
    "ephemeralcontainers": (None, None, None, _UPDATE_VERBS, False),
    "resize": (None, None, None, _UPDATE_VERBS, False),
    "binding": ("", "v1", "Binding", ("create",), False),
    "eviction": ("policy", "v1", "Eviction", ("create",), False),
    "finalize": (None, None, None, ("update",), False),
    "token": ("authentication.k8s.io", "v1", "TokenRequest", ("create",), False),
    "log": (None, None, None, ("get",), True),
    "exec": ("", "v1", "PodExecOptions", ("create", "get"), True),
    "attach": ("", "v1", "PodAttachOptions", ("create", "get"), True),
    "portforward": ("", "v1", "PodPortForwardOptions", ("create", "get"), True),
    "proxy": (None, None, None, ("create", "delete", "get", "patch", "update"), True),
}


def subresource_facts(info: schememod.ResourceInfo, sub: str) -> SubresourceFacts:
    """Kind and verbs of ``info``'s subresource ``sub`` (unknown names act like status)."""
    group, version, kind, verbs, connect = _SUBRESOURCES.get(sub, (None, None, None, _UPDATE_VERBS, False))
    if sub == "proxy":
        # PodProxyOptions, ServiceProxyOptions, NodeProxyOptions
        group, version, kind = info.group, info.version, f"{info.kind}ProxyOptions"
    return SubresourceFacts(
        name=sub,
        group=info.group if group is None else group,
        version=info.version if version is None else version,
        kind=info.kind if kind is None else kind,
        verbs=verbs,
        connect=connect,
    )


# ---------------------------------------------------------------------------- helpers


def served(scheme: schememod.Scheme, extra: Iterable[schememod.ResourceInfo] = ()) -> list[schememod.ResourceInfo]:
    """Every served resource: the scheme's, then ``extra`` ones the scheme doesn't have."""
    out = list(scheme.resources)
    seen = {(r.group, r.version, r.plural) for r in out}
    for info in extra:
        if (info.group, info.version, info.plural) not in seen:
            seen.add((info.group, info.version, info.plural))
            out.append(info)
    return out


_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key putting the preferred version first: GA > beta > alpha > others, newest first.

    This is Kubernetes' "kube-aware" version order (v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > foo).
    """
    m = _VERSION_RE.match(version)
    if not m:
        return (3, 0, 0, version)
    major = int(m.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor, "")


def _group_order(group: str) -> tuple[int, str]:
    try:
        return (_GROUP_PRIORITY.index(group), "")
    except ValueError:
        return (len(_GROUP_PRIORITY), group)


def groups(resources: Sequence[schememod.ResourceInfo]) -> list[tuple[str, list[str]]]:
    """Named groups (core excluded) in discovery order, each with its versions, preferred first."""
    by_group: dict[str, list[str]] = {}
    for info in resources:
        if info.group and info.version not in by_group.setdefault(info.group, []):
            by_group[info.group].append(info.version)
    return [(g, sorted(by_group[g], key=version_priority)) for g in sorted(by_group, key=_group_order)]


def _gv(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _gv_for_discovery(group: str, version: str) -> dict[str, str]:
    return {"groupVersion": _gv(group, version), "version": version}


# ---------------------------------------------------------------------------- /version


def version_info() -> dict[str, Any]:
    """The ``/version`` body (``version.Info``); kubectl prints gitVersion, kopf reads it at start."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return {
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "emulationMajor": KUBE_MAJOR,
        "emulationMinor": KUBE_MINOR,
        "minCompatibilityMajor": KUBE_MAJOR,
        "minCompatibilityMinor": str(int(KUBE_MINOR) - 1),
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        # kubectl only prints goVersion; nothing parses it.
        "goVersion": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "compiler": "cpython",
        "platform": f"{sys.platform}/{arch}",
    }


# ---------------------------------------------------------------------------- legacy form


def legacy_api_versions(*, server_address: str = "") -> dict[str, Any]:
    """``GET /api`` as ``APIVersions``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _api_group(name: str, versions: list[str]) -> dict[str, Any]:
    # The python client compares preferredVersion to a versions[] entry with ==, so both
    # carry exactly the same keys.
    entries = [_gv_for_discovery(name, v) for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": dict(entries[0])}


def legacy_api_group_list(scheme: schememod.Scheme, *,
                          extra: Iterable[schememod.ResourceInfo] = ()) -> dict[str, Any]:
    """``GET /apis`` as ``APIGroupList`` (every named group, core excluded)."""
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_api_group(g, vs) for g, vs in groups(served(scheme, extra))],
    }


def legacy_api_group(scheme: schememod.Scheme, group: str, *,
                     extra: Iterable[schememod.ResourceInfo] = ()) -> dict[str, Any] | None:
    """``GET /apis/{group}`` as ``APIGroup``; None if the group is not served (404)."""
    for name, versions in groups(served(scheme, extra)):
        if name == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(name, versions)}
    return None


def _legacy_resource(info: schememod.ResourceInfo) -> dict[str, Any]:
    return {
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": list(info.verbs),
        # Upstream omits empty lists; python clients index these, so always send them.
        "shortNames": list(info.short_names),
        "categories": list(info.categories),
    }


def _legacy_subresource(info: schememod.ResourceInfo, facts: SubresourceFacts) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": f"{info.plural}/{facts.name}",
        "singularName": "",
        "namespaced": info.namespaced,
    }
    # group/version appear only when they differ from the list's groupVersion, which is
    # how client-go's scale client finds autoscaling/v1 Scale for deployments/scale.
    if (facts.group, facts.version) != (info.group, info.version):
        out["group"] = facts.group
        out["version"] = facts.version
    out["kind"] = facts.kind
    out["verbs"] = list(facts.verbs)
    return out


def legacy_resource_list(scheme: schememod.Scheme, group: str, version: str, *,
                         extra: Iterable[schememod.ResourceInfo] = ()) -> dict[str, Any] | None:
    """``GET /api/v1`` or ``/apis/{group}/{version}`` as ``APIResourceList``; None if not served."""
    infos = [r for r in served(scheme, extra) if r.group == group and r.version == version]
    if not infos:
        return None
    resources: list[dict[str, Any]] = []
    for info in infos:
        resources.append(_legacy_resource(info))
        for sub in info.subresources:
            resources.append(_legacy_subresource(info, subresource_facts(info, sub)))
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": _gv(group, version),
            "resources": resources}


# ---------------------------------------------------------------------------- aggregated form


def _response_kind(info: schememod.ResourceInfo, group: str, version: str, kind: str) -> dict[str, str]:
    # Like upstream, group and version are empty when they equal the containing GV.
    if (group, version) == (info.group, info.version):
        return {"group": "", "version": "", "kind": kind}
    return {"group": group, "version": version, "kind": kind}


def _aggregated_resource(info: schememod.ResourceInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resource": info.plural,
        "responseKind": _response_kind(info, info.group, info.version, info.kind),
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        out["shortNames"] = list(info.short_names)
    if info.categories:
        out["categories"] = list(info.categories)
    if info.subresources:
        out["subresources"] = []
        for sub in info.subresources:
            facts = subresource_facts(info, sub)
            out["subresources"].append({
                "subresource": sub,
                "responseKind": _response_kind(info, facts.group, facts.version, facts.kind),
                "verbs": list(facts.verbs),
            })
    return out


def _aggregated_group(name: str, versions: list[str], infos: list[schememod.ResourceInfo]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": None},
        "versions": [
            {
                "version": v,
                "resources": [_aggregated_resource(r) for r in infos if r.version == v],
                "freshness": "Current",
            }
            for v in versions  # preferred first
        ],
    }


def aggregated(scheme: schememod.Scheme, *, legacy: bool,
               extra: Iterable[schememod.ResourceInfo] = (), version: str = "v2") -> dict[str, Any]:
    """``GET /api`` (legacy=True: one item named "") or ``GET /apis`` as ``APIGroupDiscoveryList``."""
    resources = served(scheme, extra)
    if legacy:
        core = [r for r in resources if r.group == ""]
        versions = sorted({r.version for r in core}, key=version_priority)
        items = [_aggregated_group("", versions, core)] if core else []
    else:
        items = [_aggregated_group(g, vs, [r for r in resources if r.group == g])
                 for g, vs in groups(resources)]
    return {"kind": AGGREGATED_KIND, "apiVersion": f"{AGGREGATED_GROUP}/{version}",
            "metadata": {}, "items": items}


# ---------------------------------------------------------------------------- negotiation


def _media_ranges(accept: str) -> list[tuple[str, dict[str, str]]]:
    """``Accept`` split into (media type, parameters), in the client's order."""
    out: list[tuple[str, dict[str, str]]] = []
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        params: dict[str, str] = {}
        for p in pieces[1:]:
            key, _, value = p.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        out.append((pieces[0].lower(), params))
    return out


def aggregated_version(accept: str) -> str | None:
    """The apidiscovery version ("v2" or "v2beta1") the client accepts first, if any.

    Walks the ranges in the client's order: a plain ``application/json`` listed before the
    aggregated type means the client prefers the legacy form.
    """
    for media, params in _media_ranges(accept or ""):
        if media not in ("application/json", "application/*", "*/*"):
            continue
        if (params.get("as") == AGGREGATED_KIND and params.get("g") == AGGREGATED_GROUP
                and params.get("v") in ("v2", "v2beta1")):
            return params["v"]
        if "as" not in params:
            return None
    return None


def negotiate(accept: str) -> str:
    """"aggregated" when the client asks for ``APIGroupDiscoveryList``, else "legacy"."""
    return "aggregated" if aggregated_version(accept) else "legacy"


def aggregated_content_type(version: str = "v2") -> str:
    """The exact Content-Type of an aggregated answer; client-go keys its decoder on it."""
    return f"application/json;g={AGGREGATED_GROUP};v={version};as={AGGREGATED_KIND}"


AGGREGATED_CONTENT_TYPE = aggregated_content_type("v2")
