"""A request's labels for the API server's metrics: verb, group, version, resource, scope.

``classify`` reads only the method, the path, the query string and (for PATCH) the
content type, syntactically, as upstream's ``RequestInfoFactory`` does, and reports them
as upstream's ``apiserver_request_total`` does (``endpoints/metrics``):

- verb: the HTTP method, except GET on a collection is ``LIST``, ``?watch=true`` is
  ``WATCH``, a PATCH of ``application/apply-patch+yaml`` is ``APPLY`` and the streaming
  subresources (log, exec, attach, portforward, proxy) are ``CONNECT``;
- scope: ``resource`` for a named object or a create, ``namespace`` for a namespaced
  collection, ``cluster`` for a cluster-wide one, ``""`` outside the resource API;
- dry_run: ``All`` for ``?dryRun=All``, ``invalid`` for another value, else ``""``.

Outside ``/api`` and ``/apis`` resources (health, version, OpenAPI, discovery, this
endpoint) the path is the subresource, as upstream labels its non-resource URLs; to keep
the number of series bounded, only the paths in ``NON_RESOURCE_PATHS`` are reported as
themselves, discovery under ``/api`` and ``/apis`` as those two prefixes and anything
else as ``other``.

Called for every request by ``monitoring.RequestMetrics.instrument``: string slicing
only, no allocation beyond the path's split, never raises.
"""

from __future__ import annotations

from typing import NamedTuple


class RequestLabels(NamedTuple):
    """The labels of ``apiserver_request_total`` but the component and the code."""

    verb: str
    dry_run: str
    group: str
    version: str
    resource: str
    subresource: str
    scope: str


# Upstream's connect subresources: long-running streams, reported as CONNECT.
CONNECT_SUBRESOURCES = frozenset(("log", "exec", "attach", "portforward", "proxy"))
# ``namespaces/{name}/status`` and ``/finalize`` are the namespace's own subresources, not
# a resource inside it.
_NAMESPACE_SUBRESOURCES = frozenset(("status", "finalize"))
NON_RESOURCE_PATHS = frozenset(("/", "/healthz", "/livez", "/readyz", "/version", "/metrics", "/openapi/v2",
                                "/openapi/v3", "/api", "/apis", "/kubelite.io/v1/ca"))
_APPLY_PATCH = "application/apply-patch"
_new_labels = tuple.__new__
# The subresource of whatever is outside the bounded sets (unserved resources, odd paths).
OTHER = "other"
# Methods reported as themselves; any other is "other" (upstream: validRequestMethods).
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


def classify(method: str, path: str, query_string: str, content_type: str = "") -> RequestLabels:
    """The request's labels. ``content_type`` matters for PATCH only (APPLY)."""
    if method not in _METHODS:
        method = "other"
    # Indexes into one split, no slices: this runs for every request not seen lately.
    parts = path.strip("/").split("/")
    n = len(parts)
    head = parts[0]
    if head == "api" and n > 2:
        group, version, i = "", parts[1], 2
    elif head == "apis" and n > 3:
        group, version, i = parts[1], parts[2], 3
    else:
        return _non_resource(method, path, parts)
    namespaced = False
    if parts[i] == "namespaces" and n > i + 1:
        namespaced = True
        if n > i + 2 and parts[i + 2] not in _NAMESPACE_SUBRESOURCES:
            i += 2
    resource = parts[i]
    subresource = parts[i + 2] if n > i + 2 else ""
    if n > i + 1 or method == "POST":
        scope = "resource"
    elif namespaced:
        scope = "namespace"
    else:
        scope = "cluster"
    verb = method
    if method == "GET" or method == "HEAD":
        verb = "GET" if scope == "resource" else "LIST"
    if subresource in CONNECT_SUBRESOURCES:
        verb = "CONNECT"
    elif query_string and "watch" in query_string and is_watch(query_string):
        verb = "WATCH"
    elif method == "PATCH" and content_type.startswith(_APPLY_PATCH):
        verb = "APPLY"
    dry_run = _dry_run(query_string) if query_string and "dryRun" in query_string else ""
    # tuple.__new__ rather than RequestLabels(…): the same object without the generated
    # __new__'s frame, a sixth of this function's cost
    return _new_labels(RequestLabels, (verb, dry_run, group, version, resource, subresource, scope))


def is_watch(query_string: str) -> bool:
    """``?watch=`` with a value the API server's handlers treat as a watch (``app``)."""
    for item in query_string.split("&"):
        if item.startswith("watch="):
            return item[6:] in ("1", "true", "True")
    return False


def _dry_run(query_string: str) -> str:
    values = {item[7:] for item in query_string.split("&") if item.startswith("dryRun=")}
    if not values:
        return ""
    return "All" if values == {"All"} else "invalid"


def _non_resource(method: str, path: str, parts: list[str]) -> RequestLabels:
    trimmed = path.rstrip("/") or "/"
    if trimmed in NON_RESOURCE_PATHS:
        where = trimmed
    elif parts[0] in ("api", "apis"):
        where = "/" + parts[0]
    elif trimmed.startswith("/openapi/v3/"):
        where = "/openapi/v3"
    elif parts[0] in ("healthz", "livez", "readyz"):
        where = "/" + parts[0]
    else:
        where = OTHER
    verb = "GET" if method == "HEAD" else method
    return RequestLabels(verb, "", "", "", "", where, "")


def unrecognised(labels: RequestLabels) -> RequestLabels:
    """The labels of a request for a resource this server does not serve: folded into
    one series (``subresource="other"``), so clients asking for made-up resources cannot
    add series without bound."""
    return RequestLabels(labels.verb, labels.dry_run, "", "", "", OTHER, "")
