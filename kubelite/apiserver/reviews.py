"""Self reviews: ``kubectl auth can-i`` and ``auth can-i --list`` (authorization.k8s.io/v1)
and ``kubectl auth whoami`` (authentication.k8s.io/v1 SelfSubjectReview).

Served by dedicated handlers (reviews are never stored). Until RBAC lands every
authenticated user is allowed everything, and the answers say so in ``reason``.
The router sends ``/apis/authorization.k8s.io/v1/…`` to ``handle`` and
``/apis/authentication.k8s.io/v1/…`` to ``handle_whoami``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kubelite.api import errors
from kubelite.apiserver import decoding, discovery, handlers

PREFIX = "/apis/authorization.k8s.io/v1/"
WHOAMI_PREFIX = "/apis/authentication.k8s.io/v1/"
RESOURCES = tuple(r for r in discovery.SERVER_RESOURCES
                  if r.group in ("authorization.k8s.io", "authentication.k8s.io"))
ALLOW_REASON = "kubelite: RBAC is not enabled yet; every authenticated user may do everything"


async def handle(request: web.Request) -> web.Response:
    plural = request.path[len(PREFIX):].strip("/")
    if plural not in ("selfsubjectaccessreviews", "selfsubjectrulesreviews"):
        raise errors.NotFound("the server could not find the requested resource")
    if request.method != "POST":
        raise errors.MethodNotAllowed(f"the server does not allow this method on {plural}")
    raw = await handlers.read_body(request)
    media = handlers.media_type(request)
    review: Any = decoding.decode_object(raw, media)  # JSON, YAML or kubectl's protobuf
    if not isinstance(review, dict):
        raise errors.BadRequest("the request body must be a single object")
    kind = "SelfSubjectAccessReview" if plural == "selfsubjectaccessreviews" else "SelfSubjectRulesReview"
    review["apiVersion"], review["kind"] = "authorization.k8s.io/v1", kind
    review.setdefault("metadata", {})
    review.setdefault("spec", {})
    if kind == "SelfSubjectAccessReview":
        spec = review["spec"]
        if not spec.get("resourceAttributes") and not spec.get("nonResourceAttributes"):
            raise errors.invalid(kind=kind, group="authorization.k8s.io", name="", causes=[errors.Cause(
                "FieldValueRequired", "Required value: exactly one of nonResourceAttributes or resourceAttributes "
                "must be specified", "spec.resourceAttributes")])
        review["status"] = {"allowed": True, "reason": ALLOW_REASON}
    else:
        review["status"] = {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                            "incomplete": False}
    return handlers.json_response(review, status=201)


async def handle_whoami(request: web.Request) -> web.Response:
    """SelfSubjectReview: who the server took the caller for. The request carries nothing
    but metadata (in JSON or kubectl's protobuf), so its body is not decoded."""
    plural = request.path[len(WHOAMI_PREFIX):].strip("/")
    if plural != "selfsubjectreviews":
        raise errors.NotFound("the server could not find the requested resource")
    if request.method != "POST":
        raise errors.MethodNotAllowed(f"the server does not allow this method on {plural}")
    await handlers.read_body(request)
    user = request.get("user")
    info: dict[str, Any] = {"username": getattr(user, "name", "") or "system:anonymous"}
    if getattr(user, "uid", ""):
        info["uid"] = user.uid
    groups = list(getattr(user, "groups", None) or [])
    info["groups"] = groups + ["system:authenticated"] if user is not None else ["system:unauthenticated"]
    if getattr(user, "extra", None):  # a ServiceAccount token's pod and credential id, as upstream shows them
        info["extra"] = {k: list(v) for k, v in user.extra.items()}
    return handlers.json_response({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                                   "metadata": {"creationTimestamp": None}, "status": {"userInfo": info}},
                                  status=201)
