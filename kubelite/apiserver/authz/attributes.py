"""What a request asks to do, read from its method, path and query (upstream's RequestInfoFactory).

``/api/v1/namespaces/ns/pods/web/log`` is a *resource request*: verb ``get``, group ``""``,
resource ``pods``, subresource ``log``, namespace ``ns``, name ``web``. A GET without a
name is a ``list`` (``watch`` with ``?watch=true``, and it takes its name from a
``metadata.name=`` field selector), a DELETE without one a ``deletecollection``.
Everything else (``/healthz``, ``/version``, ``/api``, ``/apis/apps/v1``, ``/openapi/v3``)
is a *non-resource request*: its path and the lower-cased method (``get``, ``post``).
Purely syntactic, as upstream: whether the resource exists is the router's business.
``forbidden`` words the 403 as upstream's authorization filter does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubelite.api import errors

_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
# "namespaces/<ns>/<these>" is the namespace's own subresource, not a resource in it
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True, slots=True)
class Attributes:
    verb: str
    path: str = ""
    resource_request: bool = False
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


def from_request(method: str, path: str, query: Mapping[str, str]) -> Attributes:
    """The attributes of one request; ``query`` is only read for GETs without a name."""
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:  # discovery, health, version, OpenAPI, anything else
        return Attributes(verb=method.lower(), path=path)
    verb = _VERBS.get(method, method.lower())
    if rest[0] in ("watch", "proxy"):  # the deprecated /watch/… and /proxy/… forms
        if len(rest) < 2:
            return Attributes(verb=method.lower(), path=path)
        verb, rest = rest[0], rest[1:]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 and verb != "proxy" else ""
    if not name and verb == "get":
        verb = "watch" if (query.get("watch") or "").lower() in ("true", "1") else "list"
        name = _name_from_field_selector(query.get("fieldSelector") or "")
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(verb=verb, path=path, resource_request=True, api_group=group, api_version=version,
                      resource=resource, subresource=subresource, namespace=namespace, name=name)


def _name_from_field_selector(selector: str) -> str:
    """The name a ``metadata.name=x`` (or ``==x``) term requires, when it is a usable name."""
    for term in selector.split(","):
        key, sep, value = term.partition("=")
        if sep and key.strip() == "metadata.name" and not key.endswith("!"):
            value = value[1:] if value.startswith("=") else value
            value = value.strip()
            if value not in ("", ".", "..") and "/" not in value and "%" not in value:
                return value
    return ""


def forbidden(user: str, attrs: Attributes, reason: str = "") -> errors.Forbidden:
    """Upstream's 403 for a refused request: ``pods is forbidden: User "x" cannot list
    resource "pods" in API group "" in the namespace "ns"``."""
    if not attrs.resource_request:
        message = f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    else:
        resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
        message = f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.api_group}" {where}'
    if reason:
        message = f"{message}: {reason}"
    if not attrs.resource_request:
        return errors.Forbidden(f"forbidden: {message}")
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    head = f'{qualified} "{attrs.name}"' if attrs.name else qualified
    return errors.Forbidden(f"{head} is forbidden: {message}", name=attrs.name, group=attrs.api_group,
                            kind=attrs.resource)
