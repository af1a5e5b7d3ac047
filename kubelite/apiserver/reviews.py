"""authorization.k8s.io/v1 self reviews: ``kubectl auth can-i`` and ``auth can-i --list``.

Served by a dedicated handler (reviews are never stored). Until RBAC lands every
authenticated user is allowed everything, and the answers say so in ``reason``.
The router sends ``/apis/authorization.k8s.io/v1/…`` here.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kubelite.api import errors
from kubelite.apiserver import discovery, handlers

PREFIX = "/apis/authorization.k8s.io/v1/"
RESOURCES = tuple(r for r in discovery.SERVER_RESOURCES if r.group == "authorization.k8s.io")
ALLOW_REASON = "kubelite: RBAC is not enabled yet; every authenticated user may do everything"


async def handle(request: web.Request) -> web.Response:
    plural = request.path[len(PREFIX):].strip("/")
    if plural not in ("selfsubjectaccessreviews", "selfsubjectrulesreviews"):
        raise errors.NotFound("the server could not find the requested resource")
    if request.method != "POST":
        raise errors.MethodNotAllowed(f"the server does not allow this method on {plural}")
    raw = await handlers.read_body(request)
    media = handlers.media_type(request)
    review: Any = handlers.decode_object(raw, media)  # JSON, YAML or kubectl's protobuf
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
