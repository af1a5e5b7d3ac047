"""The ``system:controller:<name>`` ClusterRoles and their bindings (upstream's
bootstrappolicy, controller_policy.go), for the controllers kubelite runs
(``kubelite.controllers.manager.CONTROLLERS``).

Upstream's controller manager runs each controller under a ServiceAccount of its own in
``kube-system`` (``--use-service-account-credentials``), so each role is bound to the
ServiceAccount named after the role without its prefix. kubelite's controllers use the
server's ``system:masters`` credentials, so these roles do not restrict them; they exist
so that the cluster's policy reads as upstream's (``kubectl get clusterroles``, ``kubectl
auth can-i --as=system:serviceaccount:kube-system:job-controller``) and so that a
controller run against kubelite with upstream's credentials has what it needs.

Each rule is upstream's; rules for features kubelite does not serve (CSI attach, DRA,
cloud routes) are left out along with their controllers. Read by
``bootstrap.reconcile_policy``; pure data.
"""

from __future__ import annotations

from kubelite.apiserver.authz import policy
from kubelite.apiserver.authz.policy import READ, Obj, events_rule, new_rule

PREFIX = "system:controller:"
SERVICE_ACCOUNT_NAMESPACE = "kube-system"

_ALL = ["*"]
_READ_UPDATE = ["get", "list", "watch", "update"]


def _roles() -> dict[str, list[Obj]]:
    """The rules of each controller's role, by the name after ``system:controller:``."""
    return {
        "clusterrole-aggregation-controller": [
            # it rewrites the rules of any aggregated ClusterRole, hence escalate
            new_rule(["escalate", "get", "list", "watch", "update", "patch"], [policy.RBAC_GROUP],
                     ["clusterroles"])],
        "cronjob-controller": [
            new_rule(_READ_UPDATE, ["batch"], ["cronjobs"]),
            new_rule(["get", "list", "watch", "create", "update", "delete", "patch"], ["batch"], ["jobs"]),
            new_rule(["update"], ["batch"], ["cronjobs/status"]),
            new_rule(["update"], ["batch"], ["cronjobs/finalizers"]),
            new_rule(["list", "watch", "delete"], [""], ["pods"]),
            events_rule()],
        "daemon-set-controller": [
            new_rule(READ, ["extensions", "apps"], ["daemonsets"]),
            new_rule(["update"], ["extensions", "apps"], ["daemonsets/status"]),
            new_rule(["update"], ["extensions", "apps"], ["daemonsets/finalizers"]),
            new_rule(["list", "watch"], [""], ["nodes"]),
            new_rule(["list", "watch", "create", "delete", "patch"], [""], ["pods"]),
            new_rule(["create"], [""], ["pods/binding"]),
            new_rule(["get", "list", "watch", "create", "delete", "update", "patch"], ["apps"],
                     ["controllerrevisions"]),
            events_rule()],
        "deployment-controller": [
            new_rule(_READ_UPDATE, ["extensions", "apps"], ["deployments"]),
            new_rule(["update"], ["extensions", "apps"], ["deployments/status"]),
            new_rule(["update"], ["extensions", "apps"], ["deployments/finalizers"]),
            new_rule(["get", "list", "watch", "create", "update", "patch", "delete"], ["apps", "extensions"],
                     ["replicasets"]),
            new_rule(_READ_UPDATE, [""], ["pods"]),
            events_rule()],
        "disruption-controller": [
            new_rule(READ, ["extensions", "apps"], ["deployments"]),
            new_rule(READ, ["apps", "extensions"], ["replicasets"]),
            new_rule(READ, [""], ["replicationcontrollers"]),
            new_rule(READ, ["policy"], ["poddisruptionbudgets"]),
            new_rule(READ, ["apps"], ["statefulsets"]),
            new_rule(["update"], ["policy"], ["poddisruptionbudgets/status"]),
            new_rule(["patch", "update"], [""], ["pods/status"]),
            new_rule(["get"], _ALL, ["*/scale"]),
            events_rule()],
        "endpoint-controller": [
            new_rule(READ, [""], ["services", "pods"]),
            new_rule(["get", "list", "watch", "create", "update", "delete"], [""], ["endpoints"]),
            new_rule(["create"], [""], ["endpoints/restricted"]),
            events_rule()],
        "endpointslice-controller": [
            new_rule(READ, [""], ["services", "pods", "nodes"]),
            # owner references with blockOwnerDeletion on the Service need its finalizers
            new_rule(["update"], [""], ["services/finalizers"]),
            new_rule(["get", "list", "watch", "create", "update", "delete"], ["discovery.k8s.io"],
                     ["endpointslices"]),
            events_rule()],
        "ephemeral-volume-controller": [
            new_rule(READ, [""], ["pods"]),
            new_rule(["update"], [""], ["pods/finalizers"]),
            new_rule(["get", "list", "watch", "create"], [""], ["persistentvolumeclaims"]),
            events_rule()],
        "generic-garbage-collector": [
            new_rule(["get", "list", "watch", "patch", "update", "delete"], _ALL, _ALL),
            events_rule()],
        "horizontal-pod-autoscaler": [
            new_rule(READ, ["autoscaling"], ["horizontalpodautoscalers"]),
            new_rule(["update"], ["autoscaling"], ["horizontalpodautoscalers/status"]),
            new_rule(["get", "update"], _ALL, ["*/scale"]),
            new_rule(["list", "watch"], [""], ["pods"]),
            new_rule(["list", "watch"], ["metrics.k8s.io"], ["pods"]),
            new_rule(READ, ["custom.metrics.k8s.io"], _ALL),
            new_rule(READ, ["external.metrics.k8s.io"], _ALL),
            events_rule()],
        "job-controller": [
            new_rule(["get", "list", "watch", "update", "patch"], ["batch"], ["jobs"]),
            new_rule(["update"], ["batch"], ["jobs/status"]),
            new_rule(["update"], ["batch"], ["jobs/finalizers"]),
            new_rule(["list", "watch", "create", "delete", "patch"], [""], ["pods"]),
            events_rule()],
        "namespace-controller": [
            new_rule(["get", "list", "watch", "delete"], [""], ["namespaces"]),
            new_rule(["update"], [""], ["namespaces/finalize", "namespaces/status"]),
            new_rule(["get", "list", "watch", "delete", "deletecollection"], _ALL, _ALL)],
        "node-controller": [
            new_rule(["get", "list", "watch", "update", "delete", "patch"], [""], ["nodes"]),
            new_rule(["patch", "update"], [""], ["nodes/status"]),
            new_rule(["patch", "update"], [""], ["pods/status"]),  # marking pods of lost nodes
            new_rule(["list", "watch", "get", "delete"], [""], ["pods"]),
            events_rule()],
        "persistent-volume-binder": [
            new_rule(["get", "list", "watch", "update", "create", "delete"], [""], ["persistentvolumes"]),
            new_rule(["update"], [""], ["persistentvolumes/status"]),
            new_rule(_READ_UPDATE, [""], ["persistentvolumeclaims"]),
            new_rule(["update"], [""], ["persistentvolumeclaims/status"]),
            new_rule(["list", "watch", "get", "create", "delete"], [""], ["pods"]),
            new_rule(READ, ["storage.k8s.io"], ["storageclasses"]),
            new_rule(["list", "watch"], [""], ["nodes"]),
            events_rule(),
            new_rule(["watch"], [""], ["events"]),
            new_rule(["get"], [""], ["services"])],
        # kubelite's node lifecycle controller also deletes the pods of vanished nodes
        "pod-garbage-collector": [
            new_rule(["list", "watch", "delete"], [""], ["pods"]),
            new_rule(READ, [""], ["nodes"]),
            new_rule(["patch"], [""], ["pods/status"])],
        "pv-protection-controller": [
            new_rule(_READ_UPDATE, [""], ["persistentvolumes"]),
            events_rule()],
        "pvc-protection-controller": [
            new_rule(_READ_UPDATE, [""], ["persistentvolumeclaims"]),
            new_rule(["list", "watch", "get"], [""], ["pods"]),
            events_rule()],
        "replicaset-controller": [
            new_rule(_READ_UPDATE, ["apps", "extensions"], ["replicasets"]),
            new_rule(["update"], ["apps", "extensions"], ["replicasets/status"]),
            new_rule(["update"], ["apps", "extensions"], ["replicasets/finalizers"]),
            new_rule(["list", "watch", "patch", "create", "delete"], [""], ["pods"]),
            events_rule()],
        "replication-controller": [
            new_rule(_READ_UPDATE, [""], ["replicationcontrollers"]),
            new_rule(["update"], [""], ["replicationcontrollers/status"]),
            new_rule(["update"], [""], ["replicationcontrollers/finalizers"]),
            new_rule(["list", "watch", "patch", "create", "delete"], [""], ["pods"]),
            events_rule()],
        "resourcequota-controller": [
            # usage is counted over any kind, so it lists and watches everything
            new_rule(["list", "watch"], _ALL, _ALL),
            new_rule(["update"], [""], ["resourcequotas/status"]),
            events_rule()],
        "root-ca-cert-publisher": [
            new_rule(["create", "update"], [""], ["configmaps"]),
            events_rule()],
        "service-account-controller": [
            new_rule(["create"], [""], ["serviceaccounts"]),
            events_rule()],
        "statefulset-controller": [
            new_rule(["list", "watch"], [""], ["pods"]),
            new_rule(READ, ["apps"], ["statefulsets"]),
            new_rule(["update"], ["apps"], ["statefulsets/status"]),
            new_rule(["update"], ["apps"], ["statefulsets/finalizers"]),
            new_rule(["get", "create", "delete", "update", "patch"], [""], ["pods"]),
            new_rule(["get", "create", "delete", "update", "patch", "list", "watch"], ["apps"],
                     ["controllerrevisions"]),
            new_rule(["get", "create", "list", "watch"], [""], ["persistentvolumeclaims"]),
            new_rule(["update", "delete"], [""], ["persistentvolumeclaims"]),
            new_rule(["update"], [""], ["pods/finalizers"]),
            events_rule()],
        # the Job controller's ttlSecondsAfterFinished is upstream's separate controller
        "ttl-after-finished-controller": [
            new_rule(["get", "list", "watch", "delete"], ["batch"], ["jobs"]),
            events_rule()],
    }


def cluster_roles() -> list[Obj]:
    return [policy.new_cluster_role(PREFIX + name, rules) for name, rules in _roles().items()]


def cluster_role_bindings() -> list[Obj]:
    return [policy.new_binding(PREFIX + name, service_accounts=((SERVICE_ACCOUNT_NAMESPACE, name),))
            for name in _roles()]
