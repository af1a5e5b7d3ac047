"""Service-account tokens, as in-cluster clients use them: ``kubectl create token`` and the
TokenRequest API issue them, the server accepts them as the ServiceAccount (and stops
accepting them once what they are bound to is gone) — which may then do what RBAC grants
it (the ``readable`` fixture binds ``view``, as a user would) — and every pod is admitted with the
projected ``kube-api-access-*`` volume its clients read the token from.

Through real sockets, with kubectl and the official Python client; the forged tokens
(expired, foreign key, foreign audience) are signed with ``kubelite.apiserver.satokens``
and the session server's CA key, as the server itself signs.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client, config

from kubelite.api import errors
from kubelite.apiserver import app, satokens
from tests.api import kubectl_runner
from tests.api.kubectl_runner import Kubectl
from tests.conftest import wait_for
from tests.support import processes

kubectl = kubectl_runner.kubectl  # the session fixture every kubectl test uses

MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_SOURCE = {
    "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ],
    "defaultMode": 420,
}


# --- helpers -----------------------------------------------------------------------------


def _core(k8s: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(k8s)


def _with_token(kubeconfig: Path, token: str) -> client.ApiClient:
    """A client of the session server that presents ``token`` instead of the admin's."""
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    cfg.api_key = {"authorization": f"Bearer {token}"}
    cfg.refresh_api_key_hook = None  # else the kubeconfig's token comes back on every request
    return client.ApiClient(cfg)


def _status_of(call: Any) -> tuple[int, dict[str, Any]]:
    """The HTTP status and Status body of a call that must fail."""
    with pytest.raises(client.ApiException) as caught:
        call()
    return caught.value.status, json.loads(caught.value.body or "{}")


def _lists_pods(kubeconfig: Path, token: str, namespace: str) -> int:
    """200 when ``token`` may list the namespace's pods, else the refusal's status."""
    with _with_token(kubeconfig, token) as api:
        try:
            client.CoreV1Api(api).list_namespaced_pod(namespace)
        except client.ApiException as exc:
            return int(exc.status)
    return 200


def _default_account(core: client.CoreV1Api, namespace: str) -> client.V1ServiceAccount:
    return wait_for(lambda: core.read_namespaced_service_account("default", namespace), 10,
                    message="the ServiceAccount controller's default account", ignore=(client.ApiException,))


def _pod(name: str, **spec: Any) -> dict[str, Any]:
    # no scheduler places it: nothing but the test writes it
    body = {"schedulerName": "nobody", "containers": [{"name": "app", "image": "busybox"}], **spec}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body}


def _token_request(core: client.CoreV1Api, namespace: str, account: str, **spec: Any) -> Any:
    return core.create_namespaced_service_account_token(account, namespace, {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})


@pytest.fixture
def readable(k8s: client.ApiClient, namespace: str) -> str:
    """The test's namespace, its ServiceAccounts bound to ``view`` there (as a user grants
    an in-cluster client its reads); the binding is waited for through a SubjectAccessReview."""
    group = f"system:serviceaccounts:{namespace}"
    client.RbacAuthorizationV1Api(k8s).create_namespaced_role_binding(namespace, {
        "metadata": {"name": "accounts-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]})
    review = {"spec": {"groups": [group], "resourceAttributes": {"namespace": namespace, "verb": "list",
                                                                  "resource": "pods"}}}
    wait_for(lambda: client.AuthorizationV1Api(k8s).create_subject_access_review(review).status.allowed, 10,
             message="the view binding in effect")
    return namespace


@pytest.fixture
def signer(server: processes.ServerProcess) -> satokens.Signer:
    """The session server's own signer, from its CA key."""
    return satokens.Signer.from_ca_key((server.data_dir / "pki" / "ca.key").read_bytes())


# --- issuing and authenticating ------------------------------------------------------------


def test_kubectl_create_token_authenticates_as_the_service_account(
        kubectl: Kubectl, k8s: client.ApiClient, kubeconfig: Path, namespace: str, readable: str) -> None:
    _default_account(_core(k8s), namespace)
    token = kubectl("create", "token", "default", "-n", namespace).strip()
    assert token.count(".") == 2
    assert _lists_pods(kubeconfig, token, namespace) == 200

    who = json.loads(kubectl("auth", "whoami", "--token", token, "-o", "json"))["status"]["userInfo"]
    assert who["username"] == f"system:serviceaccount:{namespace}:default"
    assert who["groups"] == ["system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                             "system:authenticated"]
    table = kubectl("auth", "whoami", "--token", token)
    assert f"system:serviceaccount:{namespace}:default" in table


def test_token_request_answers_with_the_token_its_expiry_and_defaults(k8s: client.ApiClient,
                                                                      namespace: str) -> None:
    core = _core(k8s)
    account = _default_account(core, namespace)
    before = time.time()
    answer = _token_request(core, namespace, "default")
    assert answer.metadata.name == "default" and answer.metadata.namespace == namespace
    assert answer.metadata.uid == account.metadata.uid
    assert answer.spec.audiences == ["https://kubernetes.default.svc.cluster.local"]
    assert answer.spec.expiration_seconds == 3600 and answer.spec.bound_object_ref is None
    assert before + 3600 - 2 <= answer.status.expiration_timestamp.timestamp() <= time.time() + 3600 + 2
    assert answer.status.token

    two_hours = _token_request(core, namespace, "default", expirationSeconds=7200, audiences=["vault"])
    assert two_hours.spec.audiences == ["vault"]
    assert two_hours.status.expiration_timestamp.timestamp() >= before + 7200 - 2


def test_kubectl_create_token_with_duration_and_bound_pod(kubectl: Kubectl, k8s: client.ApiClient,
                                                          kubeconfig: Path, namespace: str, readable: str) -> None:
    core = _core(k8s)
    _default_account(core, namespace)
    assert _lists_pods(kubeconfig, kubectl("create", "token", "default", "-n", namespace, "--duration", "1h")
                       .strip(), namespace) == 200
    pod = core.create_namespaced_pod(namespace, _pod("bound"))
    token = kubectl("create", "token", "default", "-n", namespace, "--bound-object-kind", "Pod",
                    "--bound-object-name", "bound", "--bound-object-uid", pod.metadata.uid).strip()
    assert _lists_pods(kubeconfig, token, namespace) == 200

    # The pod never reached a node, so it goes at once; its tokens go with it, and a new
    # pod of the same name (another uid) does not bring them back.
    core.delete_namespaced_pod("bound", namespace, grace_period_seconds=0)
    wait_for(lambda: _lists_pods(kubeconfig, token, namespace) == 401, 10, message="the bound token refused")
    core.create_namespaced_pod(namespace, _pod("bound"))
    assert _lists_pods(kubeconfig, token, namespace) == 401


def test_a_token_dies_with_its_service_account_even_when_one_of_that_name_returns(
        k8s: client.ApiClient, kubeconfig: Path, namespace: str, readable: str) -> None:
    core = _core(k8s)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "robot"}})
    token = _token_request(core, namespace, "robot").status.token
    assert _lists_pods(kubeconfig, token, namespace) == 200
    core.delete_namespaced_service_account("robot", namespace)
    wait_for(lambda: _lists_pods(kubeconfig, token, namespace) == 401, 10, message="the token refused")
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "robot"}})
    assert _lists_pods(kubeconfig, token, namespace) == 401
    assert _lists_pods(kubeconfig, _token_request(core, namespace, "robot").status.token, namespace) == 200


def test_expired_foreign_and_misaddressed_tokens_are_unauthorized(
        k8s: client.ApiClient, kubeconfig: Path, namespace: str, readable: str, signer: satokens.Signer) -> None:
    account = client.ApiClient().sanitize_for_serialization(_default_account(_core(k8s), namespace))
    now = int(time.time())

    def forged(*, key: satokens.Signer = signer, issued: int = now, seconds: int = 3600,
               audiences: list[str] | None = None) -> str:
        return key.sign(satokens.claims_for(service_account=account, audiences=audiences or [satokens.ISSUER],
                                            expiration_seconds=seconds, now=issued))

    assert _lists_pods(kubeconfig, forged(), namespace) == 200  # the forgery itself is sound
    expired = forged(issued=now - 7200, seconds=3600)
    foreign = forged(key=satokens.Signer.from_ca_key(b"another cluster's CA key"))
    elsewhere = forged(audiences=["https://vault.example"])
    for token in (expired, foreign, elsewhere, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "not-a-token"):
        with _with_token(kubeconfig, token) as api:
            status, body = _status_of(lambda api=api: client.CoreV1Api(api).list_namespaced_pod(namespace))
        assert (status, body.get("reason"), body.get("message")) == (401, "Unauthorized", "Unauthorized"), token


def test_in_cluster_config_authenticates_with_the_mounted_files(
        k8s: client.ApiClient, server: processes.ServerProcess, namespace: str, readable: str,
        tmp_path: Path) -> None:
    """What ``load_incluster_config`` reads in a pod: the token, the root CA from the
    ``kube-root-ca.crt`` ConfigMap and the service's address."""
    core = _core(k8s)
    _default_account(core, namespace)
    ca = wait_for(lambda: core.read_namespaced_config_map("kube-root-ca.crt", namespace), 10,
                  ignore=(client.ApiException,), message="kube-root-ca.crt")
    (tmp_path / "token").write_text(_token_request(core, namespace, "default").status.token)
    (tmp_path / "ca.crt").write_text(ca.data["ca.crt"])
    cfg = client.Configuration()
    config.incluster_config.InClusterConfigLoader(
        token_filename=str(tmp_path / "token"), cert_filename=str(tmp_path / "ca.crt"),
        environ={"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(server.port)},
    ).load_and_set(cfg)
    with client.ApiClient(cfg) as api:
        assert client.CoreV1Api(api).list_namespaced_pod(namespace).items == []


def test_a_pod_bound_token_names_the_pod_in_the_users_extra() -> None:
    """The user the authenticator makes of a pod-bound token, as upstream's: the pod's name
    and uid and the token's id in ``extra``, the account's uid as the user's."""
    pod_uid, account_uid = str(uuid.uuid4()), str(uuid.uuid4())
    objects = {"serviceaccounts": {("ns", "default"): {"metadata": {"uid": account_uid}}},
               "pods": {("ns", "web"): {"metadata": {"uid": pod_uid}}}}
    registry = SimpleNamespace(by_plural=lambda group, plural: SimpleNamespace(
        info=SimpleNamespace(key=lambda ns, name: (ns, name)), cache=SimpleNamespace(objects=objects[plural])))
    signer = satokens.Signer.from_ca_key(b"ca key")
    claims = satokens.claims_for(
        service_account={"metadata": {"namespace": "ns", "name": "default", "uid": account_uid}},
        audiences=[satokens.ISSUER], expiration_seconds=600, now=int(time.time()),
        pod={"metadata": {"name": "web", "uid": pod_uid}})
    authenticate = app.make_authenticator(app.AuthConfig(
        tokens={"static": app.User("admin")},
        service_accounts=satokens.Authenticator(signer, registry)))  # type: ignore[arg-type]
    request = SimpleNamespace(headers={"Authorization": f"Bearer {signer.sign(claims)}"}, path="/api",
                              transport=None)
    user = authenticate(request)
    assert user is not None and user.name == "system:serviceaccount:ns:default" and user.uid == account_uid
    assert user.groups == ["system:serviceaccounts", "system:serviceaccounts:ns"]
    assert user.extra == {"authentication.kubernetes.io/pod-name": ["web"],
                          "authentication.kubernetes.io/pod-uid": [pod_uid],
                          "authentication.kubernetes.io/credential-id": [f"JTI={claims['jti']}"]}
    del objects["pods"][("ns", "web")]
    with pytest.raises(errors.Unauthorized):
        authenticate(request)


# --- TokenRequest refusals ---------------------------------------------------------------------


def test_token_request_refusals_are_upstreams(kubectl: Kubectl, k8s: client.ApiClient, namespace: str) -> None:
    core = _core(k8s)
    _default_account(core, namespace)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "other"}})
    pod = core.create_namespaced_pod(namespace, _pod("web"))

    def refused(account: str, **spec: Any) -> tuple[int, str, str]:
        status, body = _status_of(lambda: _token_request(core, namespace, account, **spec))
        return status, body["reason"], body["message"]

    assert refused("default", expirationSeconds=60) == (
        422, "Invalid", 'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: '
                        "Invalid value: 60: may not specify a duration less than 10 minutes")
    assert refused("default", expirationSeconds=2**32 + 1)[:2] == (422, "Invalid")
    assert refused("nope") == (404, "NotFound", 'serviceaccounts "nope" not found')
    wrong_uid = str(uuid.uuid4())
    assert refused("default", boundObjectRef={"kind": "Pod", "apiVersion": "v1", "name": "web",
                                              "uid": wrong_uid}) == (
        409, "Conflict", f'Operation cannot be fulfilled on Pod "web": the UID in the bound object reference '
                         f"({wrong_uid}) does not match the UID in record. The object might have been deleted "
                         f"and then recreated")
    assert refused("default", boundObjectRef={"kind": "Pod", "apiVersion": "v1", "name": "gone"}) == (
        404, "NotFound", 'pods "gone" not found')
    assert refused("other", boundObjectRef={"kind": "Pod", "apiVersion": "v1", "name": "web"}) == (
        400, "BadRequest", 'cannot bind token for serviceaccount "other" to pod running with different '
                           "serviceaccount name.")
    assert refused("default", boundObjectRef={"kind": "ConfigMap", "apiVersion": "v1", "name": "x"}) == (
        400, "BadRequest", "cannot bind token to object of type /v1, Kind=ConfigMap")
    wrong_type = kubectl.run("create", "--raw", f"/api/v1/namespaces/{namespace}/serviceaccounts/default/token",
                             "-f", "-", stdin='{"spec": {"expirationSeconds": "an hour"}}', check=False)
    assert wrong_type.returncode != 0
    assert "Error from server (BadRequest)" in wrong_type.stderr and "cannot unmarshal string" in wrong_type.stderr
    no_namespace = kubectl.run("create", "--raw", "/api/v1/serviceaccounts/default/token", "-f", "-", stdin="{}",
                               check=False)
    assert no_namespace.returncode != 0 and "Error from server (NotFound)" in no_namespace.stderr
    status, body = _status_of(lambda: core.create_namespaced_service_account_token("default", namespace, {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {"name": "other"}}))
    assert (status, body["message"]) == (422, 'TokenRequest.authentication.k8s.io "default" is invalid: '
                                              'metadata.name: Invalid value: "other": must match the service '
                                              "account name if specified")
    # the right uid binds
    bound = _token_request(core, namespace, "default", boundObjectRef={
        "kind": "Pod", "apiVersion": "v1", "name": "web", "uid": pod.metadata.uid})
    assert bound.spec.bound_object_ref.uid == pod.metadata.uid and bound.status.token


# --- ServiceAccount admission ------------------------------------------------------------------


def _token_volumes(pod: client.V1Pod) -> list[dict[str, Any]]:
    spec = client.ApiClient().sanitize_for_serialization(pod.spec)
    return [v for v in spec.get("volumes") or [] if v["name"].startswith("kube-api-access-")]


def _mounts(pod: client.V1Pod, kind: str = "containers") -> list[list[dict[str, Any]]]:
    spec = client.ApiClient().sanitize_for_serialization(pod.spec)
    return [c.get("volumeMounts") or [] for c in spec.get(kind) or []]


def test_a_pod_gets_the_default_account_and_the_api_access_volume(k8s: client.ApiClient, namespace: str) -> None:
    core = _core(k8s)
    pod = core.create_namespaced_pod(namespace, _pod(
        "web", initContainers=[{"name": "init", "image": "busybox"}],
        containers=[{"name": "app", "image": "busybox"}, {"name": "side", "image": "busybox"}]))
    assert pod.spec.service_account_name == "default" and pod.spec.service_account == "default"
    volumes = _token_volumes(pod)
    assert len(volumes) == 1 and volumes[0]["projected"] == TOKEN_SOURCE
    name = volumes[0]["name"]
    suffix = name[len("kube-api-access-"):]
    assert len(suffix) == 5 and set(suffix) <= set("bcdfghjklmnpqrstvwxz2456789")
    mount = {"name": name, "readOnly": True, "mountPath": MOUNT_PATH}
    assert _mounts(pod) == [[mount], [mount]] and _mounts(pod, "initContainers") == [[mount]]

    # Kept by later writes: a label patch, and an update of the pod as read (image change).
    core.patch_namespaced_pod("web", namespace, {"metadata": {"labels": {"tier": "web"}}})
    current = core.read_namespaced_pod("web", namespace)
    current.spec.containers[0].image = "busybox:1.36"
    updated = core.replace_namespaced_pod("web", namespace, current)
    assert _token_volumes(updated) == volumes and _mounts(updated) == [[mount], [mount]]


def test_automount_false_on_the_pod_or_its_account_mounts_nothing(k8s: client.ApiClient, namespace: str) -> None:
    core = _core(k8s)
    pod = core.create_namespaced_pod(namespace, _pod("off", automountServiceAccountToken=False))
    assert pod.spec.service_account_name == "default"
    assert _token_volumes(pod) == [] and _mounts(pod) == [[]]

    core.create_namespaced_service_account(namespace, {"metadata": {"name": "quiet"},
                                                       "automountServiceAccountToken": False,
                                                       "imagePullSecrets": [{"name": "registry"}]})
    wait_for(lambda: core.read_namespaced_service_account("quiet", namespace), 5, ignore=(client.ApiException,))
    quiet = core.create_namespaced_pod(namespace, _pod("quiet", serviceAccountName="quiet"))
    assert quiet.spec.service_account == "quiet" and _token_volumes(quiet) == []
    assert [s.name for s in quiet.spec.image_pull_secrets] == ["registry"]  # the account's, as upstream
    # the pod's own preference wins over its account's
    loud = core.create_namespaced_pod(namespace, _pod("loud", serviceAccountName="quiet",
                                                      automountServiceAccountToken=True))
    assert len(_token_volumes(loud)) == 1


def test_a_container_with_its_own_mount_there_keeps_it(k8s: client.ApiClient, namespace: str) -> None:
    core = _core(k8s)
    own = {"name": "mine", "mountPath": MOUNT_PATH}
    pod = core.create_namespaced_pod(namespace, _pod(
        "own", volumes=[{"name": "mine", "emptyDir": {}}],
        containers=[{"name": "app", "image": "busybox", "volumeMounts": [own]},
                    {"name": "side", "image": "busybox"}]))
    name = _token_volumes(pod)[0]["name"]
    assert _mounts(pod) == [[own], [{"name": name, "readOnly": True, "mountPath": MOUNT_PATH}]]

    everyone = core.create_namespaced_pod(namespace, _pod(
        "all-own", volumes=[{"name": "mine", "emptyDir": {}}],
        containers=[{"name": "app", "image": "busybox", "volumeMounts": [own]}]))
    assert _token_volumes(everyone) == [] and _mounts(everyone) == [[own]]  # nobody needs the volume


def test_a_pod_of_an_account_not_made_yet_is_admitted(k8s: client.ApiClient, namespace: str) -> None:
    """kubelite admits it (upstream: 403 until the account exists); the volume is there."""
    pod = _core(k8s).create_namespaced_pod(namespace, _pod("early", serviceAccountName="later"))
    assert pod.spec.service_account_name == "later" and len(_token_volumes(pod)) == 1


def test_mirror_pods_are_left_alone(k8s: client.ApiClient, namespace: str) -> None:
    body = _pod("static-web")
    body["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "hash"}
    pod = _core(k8s).create_namespaced_pod(namespace, body)
    assert pod.spec.service_account_name is None and _token_volumes(pod) == [] and _mounts(pod) == [[]]


@pytest.fixture(scope="module")
def unadmitted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[client.CoreV1Api]:
    srv = processes.ServerProcess(data_dir=tmp_path_factory.mktemp("no-sa-admission"), extra_args=[
        "--disable-controllers", "--disable-scheduler", "--disable-admission-plugins=ServiceAccount"]).start()
    try:
        cfg = client.Configuration()
        config.load_kube_config(config_file=str(srv.kubeconfig), client_configuration=cfg)
        with client.ApiClient(cfg) as api:
            yield client.CoreV1Api(api)
    finally:
        srv.stop()


def test_disabling_the_admission_plugin_leaves_pods_as_sent(unadmitted: client.CoreV1Api) -> None:
    pod = unadmitted.create_namespaced_pod("default", _pod("plain"))
    assert pod.spec.service_account_name is None and _token_volumes(pod) == [] and _mounts(pod) == [[]]
    named = unadmitted.create_namespaced_pod("default", _pod("named", serviceAccount="robot"))
    assert named.spec.service_account_name == "robot" and named.spec.service_account == "robot"
