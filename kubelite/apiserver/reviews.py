"""Access reviews (authorization.k8s.io/v1) and ``kubectl auth whoami`` (authentication.k8s.io/v1).

- SelfSubjectAccessReview (``kubectl auth can-i``) and SelfSubjectRulesReview
  (``kubectl auth can-i --list``): what the caller may do;
- SubjectAccessReview and LocalSubjectAccessReview (namespaced): what another user may
  do (who may create them is itself decided by RBAC: ``admin`` may create local ones);
- SelfSubjectReview (``kubectl auth whoami``): who the server took the caller for.

Served by dedicated handlers (reviews are never stored). The answers come from the
server's authorizer (``authz``): members of ``system:masters`` may do everything, as
upstream's privileged-group authorizer decides ahead of RBAC. The router sends
``/apis/authorization.k8s.io/v1/…`` to ``Reviews.handle`` and
``/apis/authentication.k8s.io/v1/…`` to ``handle_whoami``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kubelite.api import errors
from kubelite.apiserver import authz, decoding, discovery, handlers
from kubelite.apiserver.authz import attributes

PREFIX = "/apis/authorization.k8s.io/v1/"
WHOAMI_PREFIX = "/apis/authentication.k8s.io/v1/"
RESOURCES = tuple(r for r in discovery.SERVER_RESOURCES
                  if r.group in ("authorization.k8s.io", "authentication.k8s.io"))
GROUP = "authorization.k8s.io"
# plural → (kind, namespaced)
_KINDS = {
    "selfsubjectaccessreviews": ("SelfSubjectAccessReview", False),
    "selfsubjectrulesreviews": ("SelfSubjectRulesReview", False),
    "subjectaccessreviews": ("SubjectAccessReview", False),
    "localsubjectaccessreviews": ("LocalSubjectAccessReview", True),
}


def _cause(field: str, message: str, reason: str = "FieldValueRequired") -> errors.Cause:
    return errors.Cause(reason, message, field)


class Reviews:
    """The authorization.k8s.io reviews, answered by ``authorizer``."""

    def __init__(self, authorizer: authz.Authorizer) -> None:
        self.authorizer = authorizer

    async def handle(self, request: web.Request) -> web.Response:
        parts = request.path[len(PREFIX):].strip("/").split("/")
        namespace = ""
        if len(parts) == 3 and parts[0] == "namespaces":
            namespace, parts = parts[1], parts[2:]
        plural = parts[0] if len(parts) == 1 else ""
        kind, namespaced = _KINDS.get(plural, ("", False))
        if not kind or namespaced != bool(namespace):
            raise errors.NotFound("the server could not find the requested resource")
        if request.method != "POST":
            raise errors.MethodNotAllowed(f"the server does not allow this method on {plural}")
        raw = await handlers.read_body(request)
        review: Any = decoding.decode_object(raw, handlers.media_type(request))  # JSON, YAML or protobuf
        if not isinstance(review, dict):
            raise errors.BadRequest("the request body must be a single object")
        review["apiVersion"], review["kind"] = f"{GROUP}/v1", kind
        review.setdefault("metadata", {})
        if namespace:
            review["metadata"]["namespace"] = namespace
        spec = review.setdefault("spec", {})
        if not isinstance(spec, dict):
            raise errors.BadRequest("spec must be an object")
        caller = request.get("user")
        if kind == "SelfSubjectRulesReview":
            review["status"] = self._rules(caller, spec.get("namespace") or "")
            return handlers.json_response(review, status=201)
        if kind in ("SubjectAccessReview", "LocalSubjectAccessReview"):
            user = authz.UserInfo(spec.get("user") or "", tuple(spec.get("groups") or ()))
        else:
            user = caller.info() if caller is not None else \
                authz.UserInfo("system:anonymous", (authz.UNAUTHENTICATED,))
        attrs = self._attributes(kind, spec, namespace)
        if authz.MASTERS in user.groups:
            decision = authz.Decision(True)
        else:
            decision = self.authorizer.authorize(user, attrs)
        status: dict[str, Any] = {"allowed": decision.allowed}
        if decision.reason:
            status["reason"] = decision.reason
        review["status"] = status
        return handlers.json_response(review, status=201)

    def _attributes(self, kind: str, spec: dict[str, Any], namespace: str) -> attributes.Attributes:
        res, nonres = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        causes = []
        if isinstance(res, dict) == isinstance(nonres, dict) or not (res or nonres):
            causes.append(_cause("spec.resourceAttributes", "Required value: exactly one of nonResourceAttributes "
                                                            "or resourceAttributes must be specified"))
        if kind in ("SubjectAccessReview", "LocalSubjectAccessReview") and not spec.get("user") \
                and not spec.get("groups"):
            causes.append(_cause("spec.user", 'Invalid value: "": at least one of user or group must be specified',
                                 "FieldValueInvalid"))
        if kind == "LocalSubjectAccessReview" and nonres:
            causes.append(_cause("spec.nonResourceAttributes", "Invalid value: \"null\": disallowed on this kind "
                                                               "of request", "FieldValueInvalid"))
        if causes:
            raise errors.invalid(kind=kind, group=GROUP, name="", causes=causes)
        if isinstance(nonres, dict):
            return attributes.Attributes(verb=nonres.get("verb") or "", path=nonres.get("path") or "")
        assert isinstance(res, dict)
        if kind == "LocalSubjectAccessReview" and (res.get("namespace") or "") != namespace:
            raise errors.BadRequest(f"spec.resourceAttributes.namespace must match namespace: {namespace}")
        return attributes.Attributes(
            verb=res.get("verb") or "", resource_request=True, api_group=res.get("group") or "",
            api_version=res.get("version") or "", resource=res.get("resource") or "",
            subresource=res.get("subresource") or "", namespace=res.get("namespace") or "",
            name=res.get("name") or "")

    def _rules(self, caller: Any, namespace: str) -> dict[str, Any]:
        user = caller.info() if caller is not None else authz.UserInfo("system:anonymous", (authz.UNAUTHENTICATED,))
        resource_rules, url_rules, problems = self.authorizer.rules_for(user, namespace)
        status: dict[str, Any] = {
            "resourceRules": [{k: list(rule[k]) for k in ("verbs", "apiGroups", "resources", "resourceNames")
                               if rule.get(k) or k == "verbs"} for rule in resource_rules],
            "nonResourceRules": [{"verbs": list(rule.get("verbs") or []),
                                  "nonResourceURLs": list(rule["nonResourceURLs"])} for rule in url_rules],
            "incomplete": bool(problems)}
        if problems:
            status["evaluationError"] = ", ".join(problems)
        return status


async def handle_whoami(request: web.Request) -> web.Response:
    """SelfSubjectReview: who the server took the caller for. The request carries nothing
    but metadata (in JSON or kubectl's protobuf), so its body is not decoded."""
    plural = request.path[len(WHOAMI_PREFIX):].strip("/")
    if plural != "selfsubjectreviews":
        raise errors.NotFound("the server could not find the requested resource")
    if request.method != "POST":
        raise errors.MethodNotAllowed(f"the server does not allow this method on {plural}")
    await handlers.read_body(request)
    user: Any = request.get("user")
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
