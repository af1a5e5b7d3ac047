"""What a request asks to do, read once from its method, path and query string: upstream's
``RequestInfoFactory``, whose ``RequestInfo`` both authorization and the metrics read.

``parse`` makes the ``RequestInfo``. ``/api/v1/namespaces/ns/pods/web/log`` is a *resource
request*: verb ``get``, group ``""``, resource ``pods``, subresource ``log``, namespace
``ns``, name ``web``. A GET without a name is a ``list`` (``watch`` with ``?watch=true``,
and it takes its name from a ``metadata.name=`` field selector), a DELETE without one a
``deletecollection``; the deprecated ``/watch/…`` and ``/proxy/…`` forms set the verb.
Everything else (``/healthz``, ``/version``, ``/api``, ``/apis/apps/v1``, ``/openapi/v3``)
is a *non-resource request*: its path and the lower-cased method (``get``, ``post``).
Purely syntactic, as upstream: whether the resource exists is the router's business; but
empty path segments are skipped, as the router (``app.Router``) skips them, so that what
is authorized is what is served.

Its readers:

- ``authz.attributes``: the ``RequestInfo`` *is* the authorizer's ``Attributes``
  (``app.make_authorizer`` parses every request not from ``system:masters``);
- ``classify``: the labels of ``apiserver_request_total`` (upstream's ``endpoints/metrics``
  ``CleanVerb``/``CleanScope``), for ``monitoring.RequestMetrics``, which calls it for every
  request not seen lately:

  - verb: the HTTP method, except a ``list`` is ``LIST``, a ``watch`` is ``WATCH``, a PATCH
    of ``application/apply-patch+yaml`` is ``APPLY`` and the streaming subresources (log,
    exec, attach, portforward, proxy) are ``CONNECT``;
  - scope: ``resource`` for a named object (by path or field selector) or a create,
    ``namespace`` for a namespaced collection, ``cluster`` for a cluster-wide one, ``""``
    outside the resource API;
  - dry_run: ``All`` for ``?dryRun=All``, ``invalid`` for another value, else ``""``;
  - outside ``/api`` and ``/apis`` resources (health, version, OpenAPI, discovery, the
    metrics endpoint) the path is the subresource, as upstream labels its non-resource
    URLs; to keep the number of series bounded, only the paths in ``NON_RESOURCE_PATHS``
    are reported as themselves, discovery under ``/api`` and ``/apis`` as those two
    prefixes and anything else as ``other``.

Both run per request: string slicing over one split of the path, the query string read
only for a collection GET (and by ``classify`` for ``dryRun``), never raises.
"""

from __future__ import annotations

import urllib.parse
from typing import NamedTuple


class RequestInfo(NamedTuple):
    """Upstream's ``RequestInfo`` (without ``APIPrefix`` and ``Parts``, which nothing reads).
    A NamedTuple rather than a frozen dataclass: ``parse`` builds one per request, and a
    tuple is built in a fifth of the time."""

    # get list watch create update patch delete deletecollection (or watch, proxy from the
    # deprecated path forms); for a non-resource request, the lower-cased HTTP method
    verb: str
    path: str = ""
    resource_request: bool = False
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


class RequestLabels(NamedTuple):
    """The labels of ``apiserver_request_total`` but the component and the code."""

    verb: str
    dry_run: str
    group: str
    version: str
    resource: str
    subresource: str
    scope: str


_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
# ``namespaces/{name}/status`` and ``/finalize`` are the namespace's own subresources, not
# a resource inside it.
_NAMESPACE_SUBRESOURCES = frozenset(("status", "finalize"))
# Upstream's connect subresources: long-running streams, reported as CONNECT.
CONNECT_SUBRESOURCES = frozenset(("log", "exec", "attach", "portforward", "proxy"))
NON_RESOURCE_PATHS = frozenset(("/", "/healthz", "/livez", "/readyz", "/version", "/metrics", "/openapi/v2",
                                "/openapi/v3", "/api", "/apis", "/kubelite.io/v1/ca"))
# The subresource of whatever is outside the bounded sets (unserved resources, odd paths).
OTHER = "other"
# Methods reported as themselves; any other is "other" (upstream: validRequestMethods).
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
_APPLY_PATCH = "application/apply-patch"
# "3D" → "=", in either case: the escapes ``_unquoted`` decodes itself
_ASCII_ESCAPES = {f"{code:02{case}}": chr(code) for code in range(128) for case in "xX"}
# tuple.__new__ rather than RequestInfo(…)/RequestLabels(…): the same object without the
# generated __new__'s frame, a sixth of a classification's cost
_new = tuple.__new__


def parse(method: str, path: str, query_string: str = "") -> RequestInfo:
    """The request's ``RequestInfo``. ``query_string`` is raw (still percent-encoded) and
    read only for a GET without a name: ``watch`` and ``fieldSelector``."""
    # Indexes into one split, no slices: this runs for every request not seen lately.
    parts = path.strip("/").split("/")
    if "//" in path:
        parts = [p for p in parts if p] or [""]
    n = len(parts)
    head = parts[0]
    if head == "api" and n > 2:
        group, version, i = "", parts[1], 2
    elif head == "apis" and n > 3:
        group, version, i = parts[1], parts[2], 3
    else:  # discovery, health, version, OpenAPI, anything else
        return _new(RequestInfo, (method.lower(), path, False, "", "", "", "", "", ""))
    verb = _VERBS.get(method) or method.lower()
    part = parts[i]
    if part == "watch" or part == "proxy":  # the deprecated /watch/… and /proxy/… forms
        if n < i + 2:
            return _new(RequestInfo, (method.lower(), path, False, "", "", "", "", "", ""))
        verb = part
        i += 1
        part = parts[i]
    namespace = ""
    if part == "namespaces" and n > i + 1:
        namespace = parts[i + 1]
        if n > i + 2 and parts[i + 2] not in _NAMESPACE_SUBRESOURCES:
            i += 2
    resource = parts[i]
    name = parts[i + 1] if n > i + 1 else ""
    subresource = parts[i + 2] if n > i + 2 and verb != "proxy" else ""
    if not name:
        if verb == "get":
            verb = "list"
            # the query is read only if it may hold either parameter (a key may be encoded)
            if query_string and ("watch" in query_string or "fieldSelector" in query_string
                                 or "%" in query_string):
                watch, selector = _list_options(query_string)
                if watch.lower() in ("true", "1"):
                    verb = "watch"
                if selector:
                    name = _name_from_field_selector(selector)
        elif verb == "delete":
            verb = "deletecollection"
    return _new(RequestInfo, (verb, path, True, group, version, resource, subresource, namespace, name))


def _list_options(query_string: str) -> tuple[str, str]:
    """The first ``watch`` and ``fieldSelector`` values, decoded as the request's parsed
    ``query`` (which the handlers read) decodes them: what is authorized is what is served."""
    watch = selector = None
    for item in query_string.split("&"):
        key, _, value = item.partition("=")
        if "%" in key or "+" in key:
            key = urllib.parse.unquote_plus(key)
        if key == "watch":
            if watch is None:
                watch = value
        elif key == "fieldSelector" and selector is None:
            selector = value
    return _unquoted(watch), _unquoted(selector)


def _unquoted(value: str | None) -> str:
    """``urllib.parse.unquote_plus``, in a fifth of its time for the usual escapes of a query
    (``%3D``, ``%2C``, ``%21``: ASCII); anything else is left to it."""
    if not value:
        return ""
    if "+" in value:
        value = value.replace("+", " ")
    if "%" not in value:
        return value
    chunks = value.split("%")
    for k in range(1, len(chunks)):
        chunk = chunks[k]
        char = _ASCII_ESCAPES.get(chunk[:2])
        if char is None:  # not ASCII, or not an escape at all
            return urllib.parse.unquote(value)
        chunks[k] = char + chunk[2:]
    return "".join(chunks)


def _name_from_field_selector(selector: str) -> str:
    """The name a ``metadata.name=x`` (or ``==x``) term requires, when it is a usable name."""
    if "metadata.name" not in selector:
        return ""
    for term in selector.split(","):
        key, sep, value = term.partition("=")
        if sep and key.strip() == "metadata.name" and not key.endswith("!"):
            value = value[1:] if value.startswith("=") else value
            value = value.strip()
            if value not in ("", ".", "..") and "/" not in value and "%" not in value:
                return value
    return ""


def classify(method: str, path: str, query_string: str, content_type: str = "") -> RequestLabels:
    """The request's metric labels, from its ``RequestInfo``. ``content_type`` matters for
    PATCH only (APPLY)."""
    # unpacked at once: cheaper than reading the tuple's fields by name
    verb, _, resource_request, group, version, resource, subresource, namespace, name = \
        parse(method, path, query_string)
    if method not in _METHODS:
        method = "other"
    if not resource_request:
        return _non_resource("GET" if method == "HEAD" else method, path)
    if subresource in CONNECT_SUBRESOURCES:
        label = "CONNECT"
    elif verb == "watch":
        label = "WATCH"
    elif verb == "list":
        label = "LIST"
    elif method == "HEAD":
        label = "GET"
    elif method == "PATCH" and content_type.startswith(_APPLY_PATCH):
        label = "APPLY"
    else:
        label = method
    if name or verb == "create":
        scope = "resource"
    elif namespace:
        scope = "namespace"
    else:
        scope = "cluster"
    dry_run = _dry_run(query_string) if query_string and "dryRun" in query_string else ""
    return _new(RequestLabels, (label, dry_run, group, version, resource, subresource, scope))


def _dry_run(query_string: str) -> str:
    values = {item[7:] for item in query_string.split("&") if item.startswith("dryRun=")}
    if not values:
        return ""
    return "All" if values == {"All"} else "invalid"


def _non_resource(verb: str, path: str) -> RequestLabels:
    trimmed = path.rstrip("/") or "/"
    # the bounded set first: health checks and scrapes are most of these requests
    if trimmed in NON_RESOURCE_PATHS:
        where = trimmed
    else:
        head = path.strip("/").partition("/")[0]
        if head in ("api", "apis"):
            where = "/" + head
        elif trimmed.startswith("/openapi/v3/"):
            where = "/openapi/v3"
        elif head in ("healthz", "livez", "readyz"):
            where = "/" + head
        else:
            where = OTHER
    return _new(RequestLabels, (verb, "", "", "", "", where, ""))


def unrecognised(labels: RequestLabels) -> RequestLabels:
    """The labels of a request for a resource this server does not serve: folded into
    one series (``subresource="other"``), so clients asking for made-up resources cannot
    add series without bound."""
    return RequestLabels(labels.verb, labels.dry_run, "", "", "", OTHER, "")
