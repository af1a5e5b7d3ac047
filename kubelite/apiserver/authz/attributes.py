"""The authorizer's view of a request: its ``RequestInfo`` (``kubelite.apiserver.requestinfo``,
upstream's RequestInfoFactory, which the metrics read too), and the 403 that refuses it.

``Attributes`` is ``requestinfo.RequestInfo``: verb, API group, version, resource,
subresource, namespace and name of a resource request, or the path and lower-cased method
of a non-resource one. ``from_request`` reads them from a request (``app.make_authorizer``);
other callers build them directly (``reviews`` from a SubjectAccessReview, ``impersonation``
and ``escalation`` for the checks they make). ``forbidden`` words the 403 as upstream's
authorization filter does.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

from kubelite.api import errors
from kubelite.apiserver import requestinfo

Attributes = requestinfo.RequestInfo


def from_request(method: str, path: str, query: str | Mapping[str, str] = "") -> Attributes:
    """The attributes of one request. ``query`` is the raw query string (the request's
    ``query_string``) or, for callers holding parameters, a mapping of them."""
    if not isinstance(query, str):
        query = urllib.parse.urlencode(query)
    return requestinfo.parse(method, path, query)


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
