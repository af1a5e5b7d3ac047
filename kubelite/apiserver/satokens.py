"""Service-account tokens: issued by TokenRequest, accepted as bearer tokens.

Who calls what: ``handlers.Handlers`` serves ``POST …/serviceaccounts/{name}/token`` (the
TokenRequest, ``kubectl create token``, the node agent's projected token volumes) with
``create_token``; ``app.make_authenticator`` asks ``Authenticator.authenticate`` about a
bearer token that is none of the static ones; ``server.APIServer`` builds the ``Signer``
from the cluster's CA key and hands it to both.

Tokens are JWTs with upstream's bound-token claims (pkg/serviceaccount/claims.go): ``iss``,
``sub`` (``system:serviceaccount:<ns>:<name>``), ``aud`` (a list), ``exp``, ``iat``, ``nbf``,
``jti``, and under ``kubernetes.io`` the namespace, the ServiceAccount's name and uid, the
object the token is bound to (a pod, a secret or a node), the pod's node, and
``warnafter``. A token is accepted while it has not expired (60 s of leeway, as go-jose's),
names this server's audience, and the objects it names still exist with the uids it
names, not deleted more than the leeway ago (a pod in its grace period keeps its tokens
working, as upstream's validator).

Signing is HS256 with a key derived from the CA key, HMAC-SHA256(``pki/ca.key`` bytes,
``b"kubelite service-account tokens"``), rather than upstream's RS256 with a key file of
its own: every server of a cluster already holds the same CA key (``join`` copies it to
each joining server), so each server issues and accepts every other's tokens with no new
file to distribute, and the CA key itself never signs anything but certificates. Only the
servers verify the tokens, so a symmetric key is enough; the price is that the OIDC
discovery documents (``/.well-known/openid-configuration``, JWKS) upstream serves for its
public keys are not served, and nothing outside the cluster's servers can verify a token.
"""

from __future__ import annotations

import calendar
import copy
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import jwt

from kubelite.api import errors, scheme

if TYPE_CHECKING:
    from kubelite.apiserver import registry

Obj = dict[str, Any]

# upstream's default --service-account-issuer for kubeadm-like clusters, and the default
# --api-audiences (the issuer)
ISSUER: Final = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES: Final = (ISSUER,)
KEY_LABEL: Final = b"kubelite service-account tokens"

DEFAULT_EXPIRATION_SECONDS: Final = 3600  # TokenRequestSpec's default
MIN_EXPIRATION_SECONDS: Final = 10 * 60
MAX_EXPIRATION_SECONDS: Final = 1 << 32
# What ServiceAccount admission's projected volume asks for. A pod-bound token asked for
# exactly this long (for the API's own audience) is valid for a year and only *marked*
# stale after it (``warnafter``): upstream's --service-account-extend-token-expiration, on
# by default, so that clients which never re-read the token file keep working.
WARN_ONLY_EXPIRATION_SECONDS: Final = 60 * 60 + 7
EXTENDED_EXPIRATION_SECONDS: Final = 365 * 24 * 60 * 60
LEEWAY_SECONDS: Final = 60  # go-jose's DefaultLeeway, for expiry and for deleted objects

USERNAME_PREFIX: Final = "system:serviceaccount:"
ALL_SERVICE_ACCOUNTS_GROUP: Final = "system:serviceaccounts"
NAMESPACE_GROUP_PREFIX: Final = "system:serviceaccounts:"
# user "extra" keys, as upstream's authentication/serviceaccount package names them
POD_NAME_KEY: Final = "authentication.kubernetes.io/pod-name"
POD_UID_KEY: Final = "authentication.kubernetes.io/pod-uid"
NODE_NAME_KEY: Final = "authentication.kubernetes.io/node-name"
NODE_UID_KEY: Final = "authentication.kubernetes.io/node-uid"
CREDENTIAL_ID_KEY: Final = "authentication.kubernetes.io/credential-id"

# The request body's kind, for field validation (handlers.validate_fields).
TOKEN_REQUEST: Final = scheme.ResourceInfo(group="authentication.k8s.io", version="v1", kind="TokenRequest",
                                           plural="tokenrequests", singular="tokenrequest", namespaced=True)
_REQUIRED_CLAIMS: Final = ["exp", "iat", "nbf", "iss", "sub", "aud"]


def rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _epoch(timestamp: str) -> float:
    try:
        return float(calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ")))
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True)
class Identity:
    """Who a valid token speaks for (upstream's ServiceAccountInfo)."""

    namespace: str
    name: str
    uid: str
    pod_name: str = ""
    pod_uid: str = ""
    node_name: str = ""
    node_uid: str = ""
    credential_id: str = ""

    @property
    def username(self) -> str:
        return f"{USERNAME_PREFIX}{self.namespace}:{self.name}"

    @property
    def groups(self) -> list[str]:
        """The service-account groups; ``system:authenticated`` is every authenticated
        user's and is added where the user is reported (``reviews``), as for any user."""
        return [ALL_SERVICE_ACCOUNTS_GROUP, NAMESPACE_GROUP_PREFIX + self.namespace]

    @property
    def extra(self) -> dict[str, list[str]]:
        extra: dict[str, list[str]] = {}
        if self.pod_name and self.pod_uid:
            extra[POD_NAME_KEY], extra[POD_UID_KEY] = [self.pod_name], [self.pod_uid]
        if self.credential_id:
            extra[CREDENTIAL_ID_KEY] = [self.credential_id]
        if self.node_name:
            extra[NODE_NAME_KEY] = [self.node_name]
            if self.node_uid:
                extra[NODE_UID_KEY] = [self.node_uid]
        return extra


@dataclass(frozen=True)
class Signer:
    """Signs and verifies this cluster's tokens (HS256, the key derived from the CA key)."""

    key: bytes = field(repr=False)
    issuer: str = ISSUER
    audiences: tuple[str, ...] = API_AUDIENCES

    @classmethod
    def from_ca_key(cls, ca_key: bytes) -> Signer:
        return cls(key=hmac.new(ca_key, KEY_LABEL, hashlib.sha256).digest())

    def sign(self, claims: Obj) -> str:
        return jwt.encode(claims, self.key, algorithm="HS256")

    def verify(self, token: str) -> Obj | None:
        """The claims of a token this cluster signed for its own audience, not expired
        (beyond the leeway) and already valid; None for any other string."""
        try:
            claims: Obj = jwt.decode(token, self.key, algorithms=["HS256"], audience=list(self.audiences),
                                     issuer=self.issuer, leeway=LEEWAY_SECONDS,
                                     options={"require": _REQUIRED_CLAIMS})
        except jwt.PyJWTError:
            return None
        return claims


def looks_like_jwt(token: str) -> bool:
    """Three base64url parts, the first a JSON object: what is worth verifying."""
    return token.startswith("eyJ") and token.count(".") == 2


def _ref(obj: Obj) -> Obj:
    md = obj.get("metadata") or {}
    return {"name": md.get("name") or "", "uid": md.get("uid") or ""}


def claims_for(*, service_account: Obj, audiences: list[str], expiration_seconds: int, now: int,
               issuer: str = ISSUER, pod: Obj | None = None, secret: Obj | None = None, node: Obj | None = None,
               warn_after: int = 0) -> Obj:
    """Upstream's Claims: the public claims and the ``kubernetes.io`` private ones. A pod's
    node is named beside the pod (no check of it on use); a token bound to a node alone is
    checked against that node."""
    md = service_account.get("metadata") or {}
    namespace, name = md.get("namespace") or "", md.get("name") or ""
    private: Obj = {"namespace": namespace, "serviceaccount": _ref(service_account)}
    if pod is not None:
        private["pod"] = _ref(pod)
    elif secret is not None:
        private["secret"] = _ref(secret)
    if node is not None:
        node_ref = _ref(node)
        private["node"] = node_ref if node_ref["uid"] else {"name": node_ref["name"]}
    if warn_after:
        private["warnafter"] = now + warn_after
    return {"iss": issuer, "sub": f"{USERNAME_PREFIX}{namespace}:{name}", "aud": list(audiences),
            "exp": now + expiration_seconds, "iat": now, "nbf": now, "jti": str(uuid.uuid4()),
            "kubernetes.io": private}


# --- TokenRequest ------------------------------------------------------------------------


def _sibling(reg: registry.Registry, plural: str) -> registry.Store:
    store = reg.by_plural("", plural)
    if store is None:  # the core kinds are always served
        raise errors.ServiceUnavailable(f"{plural} are not served")
    return store


def _invalid(name: str, cause: errors.Cause) -> errors.Invalid:
    return errors.invalid(kind="TokenRequest", group="authentication.k8s.io", name=name, causes=[cause])


def _expiration(spec: Obj) -> int:
    seconds = spec.get("expirationSeconds")
    if seconds is None:
        return DEFAULT_EXPIRATION_SECONDS
    if not isinstance(seconds, int) or isinstance(seconds, bool):  # handlers' type check catches it first
        raise errors.BadRequest("spec.expirationSeconds must be an integer")
    # upstream names no object in these (ValidateTokenRequest's errors, NewInvalid with "")
    if seconds < MIN_EXPIRATION_SECONDS:
        raise _invalid("", errors.invalid_value("spec.expirationSeconds", seconds,
                                                "may not specify a duration less than 10 minutes"))
    if seconds > MAX_EXPIRATION_SECONDS:
        raise _invalid("", errors.invalid_value("spec.expirationSeconds", seconds,
                                                "may not specify a duration larger than 2^32 seconds"))
    return seconds


async def create_token(reg: registry.Registry, signer: Signer, *, namespace: str, name: str,
                       request: Obj) -> Obj:
    """The TokenRequest answer (201) for ServiceAccount ``namespace/name``, as upstream's
    TokenREST: the request echoed with its defaults, the ServiceAccount's uid and a
    ``status`` of token and expiry. Refusals, in upstream's order: metadata naming another
    account (422), the account missing (404) or of another uid (409), the spec invalid
    (422), the bound object missing (404), of another account (400), of another uid (409)
    or of a kind tokens cannot be bound to (400).

    A dry run answers the same, token included, as upstream's (issuing stores nothing)."""
    md = request.get("metadata")
    md = dict(md) if isinstance(md, dict) else {}
    if md.get("name") and md["name"] != name:
        raise _invalid(name, errors.invalid_value("metadata.name", md["name"],
                                                  "must match the service account name if specified"))
    if md.get("namespace") and md["namespace"] != namespace:
        raise _invalid(name, errors.invalid_value("metadata.namespace", md["namespace"],
                                                  "must match the service account namespace if specified"))
    account = await _sibling(reg, "serviceaccounts").get(namespace, name)
    account_uid = (account.get("metadata") or {}).get("uid") or ""
    if md.get("uid") and md["uid"] != account_uid:
        raise errors.conflict(resource="TokenRequest", group="authentication.k8s.io", name=name,
                              why=f"the UID in the token request ({md['uid']}) does not match the UID of the "
                                  f"service account ({account_uid})")
    spec = request.get("spec")
    spec = dict(spec) if isinstance(spec, dict) else {}
    audiences = [str(a) for a in spec.get("audiences") or []] or list(signer.audiences)
    now = int(time.time())
    seconds = _expiration(spec)
    ref = spec.get("boundObjectRef")
    pod, secret, node = await _bound_objects(reg, namespace=namespace, account=name,
                                             ref=ref if isinstance(ref, dict) else None)
    exp, warn_after = seconds, 0
    if pod is not None and seconds == WARN_ONLY_EXPIRATION_SECONDS and set(audiences) <= set(signer.audiences):
        exp, warn_after = EXTENDED_EXPIRATION_SECONDS, seconds
    token = signer.sign(claims_for(service_account=account, audiences=audiences, expiration_seconds=exp, now=now,
                                   issuer=signer.issuer, pod=pod, secret=secret, node=node, warn_after=warn_after))
    md.update(name=name, namespace=namespace, uid=account_uid, creationTimestamp=rfc3339(now))
    spec.update(audiences=audiences, expirationSeconds=seconds,
                boundObjectRef=copy.deepcopy(ref) if isinstance(ref, dict) else None)
    # The status says the requested lifetime even when the token lasts longer (above): a
    # client renews on that schedule, as kubelet does.
    return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": md, "spec": spec,
            "status": {"token": token, "expirationTimestamp": rfc3339(now + seconds)}}


async def _bound_objects(reg: registry.Registry, *, namespace: str, account: str,
                         ref: Obj | None) -> tuple[Obj | None, Obj | None, Obj | None]:
    """The (pod, secret, node) a token is bound to; a pod brings its node along."""
    if not ref:
        return None, None, None
    kind, ref_name, ref_uid = str(ref.get("kind") or ""), str(ref.get("name") or ""), str(ref.get("uid") or "")
    api_version = str(ref.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    pod = secret = node = None
    if group == "" and kind == "Pod":
        pod = await _sibling(reg, "pods").get(namespace, ref_name)
        spec = pod.get("spec") or {}
        if spec.get("serviceAccountName") != account:
            raise errors.BadRequest(f'cannot bind token for serviceaccount "{account}" to pod running with '
                                    f"different serviceaccount name.")
        uid = pod["metadata"].get("uid") or ""
        node_name = spec.get("nodeName") or ""
        if node_name:
            # the watch cache as it is (upstream reads it with resourceVersion=0); a node
            # not found is still named, without its uid
            nodes = _sibling(reg, "nodes")
            node = nodes.cache.objects.get(nodes.info.key(None, node_name)) or {"metadata": {"name": node_name}}
    elif group == "" and kind == "Node":
        node = await _sibling(reg, "nodes").get(None, ref_name)
        uid = node["metadata"].get("uid") or ""
    elif group == "" and kind == "Secret":
        secret = await _sibling(reg, "secrets").get(namespace, ref_name)
        uid = secret["metadata"].get("uid") or ""
    else:
        raise errors.BadRequest(f"cannot bind token to object of type {group}/{version}, Kind={kind}")
    if ref_uid and ref_uid != uid:
        raise errors.conflict(resource=kind, group=group, name=ref_name,
                              why=f"the UID in the bound object reference ({ref_uid}) does not match the UID in "
                                  f"record. The object might have been deleted and then recreated")
    return pod, secret, node


# --- authentication ----------------------------------------------------------------------


class Authenticator:
    """Bearer tokens of service accounts → ``Identity``, checked against the watch cache.

    The objects a token names are read from the watch cache as it is, a dictionary lookup
    each (upstream's validator reads informers too), never from storage. A token whose
    signature was verified once is remembered (bounded), so a client presenting the same
    token again costs the lookups and no JWT decoding (~170 µs with PyJWT)."""

    MEMO_MAX = 4096

    def __init__(self, signer: Signer, reg: registry.Registry) -> None:
        self.signer = signer
        self.registry = reg
        self._verified: dict[str, Obj] = {}
        self._stores: dict[str, registry.Store] = {}

    def authenticate(self, token: str) -> Identity | None:
        """The identity a token speaks for, or None: not this cluster's, expired, for
        another audience, or naming an object that is gone or was re-created."""
        claims = self._verified.get(token)
        now = time.time()
        if claims is None:
            if not looks_like_jwt(token):
                return None
            claims = self.signer.verify(token)
            if claims is None:
                return None
            if len(self._verified) >= self.MEMO_MAX:
                self._verified.clear()
            self._verified[token] = claims
        elif not claims["nbf"] - LEEWAY_SECONDS <= now <= claims["exp"] + LEEWAY_SECONDS:
            del self._verified[token]
            return None
        return self._identity(claims, now)

    def _identity(self, claims: Obj, now: float) -> Identity | None:
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            return None
        namespace = private.get("namespace") or ""
        account = self._ref(private, "serviceaccount")
        if not namespace or account is None:
            return None
        deleted_before = now - LEEWAY_SECONDS
        if not self._alive("serviceaccounts", namespace, account, deleted_before):
            return None
        secret, pod, node = self._ref(private, "secret"), self._ref(private, "pod"), self._ref(private, "node")
        if secret is not None and not self._alive("secrets", namespace, secret, deleted_before):
            return None
        if pod is not None and not self._alive("pods", namespace, pod, deleted_before):
            return None
        if node is not None and pod is None and not self._alive("nodes", None, node, deleted_before):
            return None  # a token bound to the node itself
        jti = claims.get("jti")
        return Identity(namespace=namespace, name=account[0], uid=account[1],
                        pod_name=pod[0] if pod else "", pod_uid=pod[1] if pod else "",
                        node_name=node[0] if node else "", node_uid=node[1] if node else "",
                        credential_id=f"JTI={jti}" if isinstance(jti, str) and jti else "")

    @staticmethod
    def _ref(private: Obj, key: str) -> tuple[str, str] | None:
        ref = private.get(key)
        if not isinstance(ref, dict) or not ref.get("name"):
            return None
        return str(ref["name"]), str(ref.get("uid") or "")

    def _alive(self, plural: str, namespace: str | None, ref: tuple[str, str], deleted_before: float) -> bool:
        """The object still exists with the uid the token names, and was not deleted
        before ``deleted_before`` (its deletionTimestamp: a graceful deletion's end)."""
        store = self._stores.get(plural)
        if store is None:
            found = self.registry.by_plural("", plural)
            if found is None:
                return False
            store = self._stores[plural] = found
        obj = store.cache.objects.get(store.info.key(namespace, ref[0]))
        if obj is None:
            return False
        md = obj.get("metadata") or {}
        if md.get("uid") != ref[1]:
            return False
        deletion = md.get("deletionTimestamp")
        return not (deletion and _epoch(deletion) < deleted_before)
