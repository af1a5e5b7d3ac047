"""Per-kind defaulting: fill in what upstream's ``SetDefaults_*`` functions fill in.

Pure functions, no I/O, mutating the object in place. The API server's generic registry
calls ``apply_defaults`` on every create and update body (after decoding, before
validation), so that ``kubectl get -o yaml`` shows the same fields a real cluster shows.
Sources: upstream ``pkg/apis/{core,apps,batch,discovery,storage,scheduling,networking,rbac}/v1/defaults.go``
plus the ``+default=`` markers of ``k8s.io/api``. A few values upstream sets outside
defaulting are marked where they are applied (priority admission, the namespace strategy,
the service IP allocator).

Every helper only fills a field that is absent (or ``None``/empty as upstream's zero
value), so applying defaults twice is harmless, and an update body that omits a defaulted
field gets the same value back.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

MAX_INT32 = 2**31 - 1
DEFAULT_SCHEDULER = "default-scheduler"


def _sub(obj: Obj, key: str) -> Obj:
    """``obj[key]`` as a dict, created when absent (Go's non-pointer structs)."""
    value = obj.get(key)
    if not isinstance(value, dict):
        value = {}
        obj[key] = value
    return value


def _dicts(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# --- core/v1: containers, probes, volumes, pod specs ---------------------------------


def image_tag(image: str) -> str:
    """The tag of an image reference; ``latest`` when neither tag nor digest is given."""
    name, at, _digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.rsplit(":", 1)[1]
    return "" if at else "latest"


def _default_http_get(action: Any) -> None:
    if isinstance(action, dict):
        if not action.get("path"):
            action["path"] = "/"
        if not action.get("scheme"):
            action["scheme"] = "HTTP"


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10),
                       ("successThreshold", 1), ("failureThreshold", 3)):
        if not probe.get(key):
            probe[key] = value
    _default_http_get(probe.get("httpGet"))
    grpc = probe.get("grpc")
    if isinstance(grpc, dict) and grpc.get("service") is None:
        grpc["service"] = ""


def _default_field_ref(ref: Any) -> None:
    if isinstance(ref, dict) and not ref.get("apiVersion"):
        ref["apiVersion"] = "v1"


def _default_container(c: Obj) -> None:
    if not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = "Always" if image_tag(c.get("image") or "") == "latest" else "IfNotPresent"
    if not c.get("terminationMessagePath"):
        c["terminationMessagePath"] = "/dev/termination-log"
    if not c.get("terminationMessagePolicy"):
        c["terminationMessagePolicy"] = "File"
    if not isinstance(c.get("resources"), dict):
        c["resources"] = {}  # a non-pointer struct upstream: always serialized
    for port in _dicts(c.get("ports")):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
    for env in _dicts(c.get("env")):
        value_from = env.get("valueFrom")
        if isinstance(value_from, dict):
            _default_field_ref(value_from.get("fieldRef"))
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(key))
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in (lifecycle.get("postStart"), lifecycle.get("preStop")):
            if isinstance(hook, dict):
                _default_http_get(hook.get("httpGet"))


_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret",
    "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder",
    "cephfs", "flocker", "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume",
    "quobyte", "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO",
    "storageos", "csi", "ephemeral", "image",
)


def _default_mode(source: Any) -> None:
    if isinstance(source, dict) and source.get("defaultMode") is None:
        source["defaultMode"] = 420  # 0644


def _default_pvc_spec(spec: Any) -> None:
    if isinstance(spec, dict) and not spec.get("volumeMode"):
        spec["volumeMode"] = "Filesystem"


def _default_volume(v: Obj) -> None:
    if not any(v.get(k) is not None for k in _VOLUME_SOURCES):
        v["emptyDir"] = {}
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        _default_mode(v.get(key))
    host_path = v.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""
    downward = v.get("downwardAPI")
    if isinstance(downward, dict):
        for item in _dicts(downward.get("items")):
            _default_field_ref(item.get("fieldRef"))
    projected = v.get("projected")
    if isinstance(projected, dict):
        for src in _dicts(projected.get("sources")):
            token = src.get("serviceAccountToken")
            if isinstance(token, dict) and token.get("expirationSeconds") is None:
                token["expirationSeconds"] = 3600
            if isinstance(src.get("downwardAPI"), dict):
                for item in _dicts(src["downwardAPI"].get("items")):
                    _default_field_ref(item.get("fieldRef"))
    ephemeral = v.get("ephemeral")
    if isinstance(ephemeral, dict) and isinstance(ephemeral.get("volumeClaimTemplate"), dict):
        _default_pvc_spec(ephemeral["volumeClaimTemplate"].get("spec"))
    image = v.get("image")
    if isinstance(image, dict) and not image.get("pullPolicy"):
        image["pullPolicy"] = "Always" if image_tag(image.get("reference") or "") == "latest" \
            else "IfNotPresent"


def default_pod_spec(spec: Obj) -> None:
    """``SetDefaults_PodSpec`` and everything nested in a PodSpec (pods and templates)."""
    if not spec.get("dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    if not isinstance(spec.get("securityContext"), dict):
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    if not spec.get("schedulerName"):
        spec["schedulerName"] = DEFAULT_SCHEDULER
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in _dicts(spec.get(key)):
            _default_container(c)
    for v in _dicts(spec.get("volumes")):
        _default_volume(v)


def _requests_from_limits(containers: list[Obj]) -> None:
    # a container that states limits but not requests asks for what it may use
    for c in containers:
        resources = c.get("resources")
        if not isinstance(resources, dict) or not isinstance(resources.get("limits"), dict):
            continue
        requests = resources.get("requests")
        if not isinstance(requests, dict):
            requests = resources["requests"] = {}
        for name, value in resources["limits"].items():
            requests.setdefault(name, value)


def default_pod(pod: Obj) -> None:
    """``SetDefaults_Pod`` on top of the PodSpec defaults (only real pods, not templates)."""
    spec = _sub(pod, "spec")
    default_pod_spec(spec)
    _requests_from_limits(_dicts(spec.get("containers")))
    _requests_from_limits(_dicts(spec.get("initContainers")))
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    if spec.get("hostNetwork"):
        for key in ("containers", "initContainers"):
            for c in _dicts(spec.get(key)):
                for port in _dicts(c.get("ports")):
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")
    # spec.priority and spec.preemptionPolicy are not defaults: upstream's Priority
    # admission plugin sets them (strategies.cluster.admit_pod_priority), after the field
    # manager ran, and keeps them on updates that leave them out (strategies.pods).


def _default_template(template: Any) -> None:
    if isinstance(template, dict):
        default_pod_spec(_sub(template, "spec"))


# --- core/v1: other kinds ------------------------------------------------------------


def _is_ipv6(ip: str) -> bool:
    return ":" in ip


def default_service(svc: Obj) -> None:
    spec = _sub(svc, "spec")
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client_ip = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        if client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    svc_type = spec["type"]
    for port in _dicts(spec.get("ports")):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    externally_accessible = svc_type in ("NodePort", "LoadBalancer") or \
        (svc_type == "ClusterIP" and bool(spec.get("externalIPs")))
    if externally_accessible and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and svc_type in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec["internalTrafficPolicy"] = "Cluster"
    if svc_type == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    if svc_type != "ExternalName":
        # upstream's IP allocator (not SetDefaults) fills these on a single-stack cluster
        if not spec.get("ipFamilyPolicy"):
            spec["ipFamilyPolicy"] = "SingleStack"
        if not spec.get("ipFamilies"):
            cluster_ip = spec.get("clusterIP") or ""
            v6 = bool(cluster_ip) and cluster_ip != "None" and _is_ipv6(cluster_ip)
            spec["ipFamilies"] = ["IPv6" if v6 else "IPv4"]


def default_namespace(ns: Obj) -> None:
    md = _sub(ns, "metadata")
    if md.get("name"):
        labels = md.get("labels")
        if not isinstance(labels, dict):
            labels = md["labels"] = {}
        labels["kubernetes.io/metadata.name"] = md["name"]
    status = _sub(ns, "status")
    if not status.get("phase"):
        status["phase"] = "Active"
    # upstream's namespace strategy (PrepareForCreate) adds the "kubernetes" finalizer
    spec = _sub(ns, "spec")
    if spec.get("finalizers") is None:
        spec["finalizers"] = ["kubernetes"]


def default_secret(secret: Obj) -> None:
    if not secret.get("type"):
        secret["type"] = "Opaque"


def default_node(node: Obj) -> None:
    status = node.get("status")
    if isinstance(status, dict) and status.get("allocatable") is None \
            and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])


def default_pvc(pvc: Obj) -> None:
    _default_pvc_spec(_sub(pvc, "spec"))
    status = _sub(pvc, "status")
    if not status.get("phase"):
        status["phase"] = "Pending"


def default_pv(pv: Obj) -> None:
    spec = _sub(pv, "spec")
    if not spec.get("persistentVolumeReclaimPolicy"):
        spec["persistentVolumeReclaimPolicy"] = "Retain"
    if not spec.get("volumeMode"):
        spec["volumeMode"] = "Filesystem"
    status = _sub(pv, "status")
    if not status.get("phase"):
        status["phase"] = "Pending"


def default_endpoints(ep: Obj) -> None:
    for subset in _dicts(ep.get("subsets")):
        for port in _dicts(subset.get("ports")):
            if not port.get("protocol"):
                port["protocol"] = "TCP"


def default_replication_controller(rc: Obj) -> None:
    spec = _sub(rc, "spec")
    template = spec.get("template")
    labels = ((template or {}).get("metadata") or {}).get("labels") if isinstance(template, dict) else None
    if labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        md = _sub(rc, "metadata")
        if not md.get("labels"):
            md["labels"] = dict(labels)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    _default_template(template)


# --- apps/v1 -------------------------------------------------------------------------


def default_deployment(d: Obj) -> None:
    spec = _sub(d, "spec")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = _sub(spec, "strategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = _sub(strategy, "rollingUpdate")
        if rolling.get("maxUnavailable") is None:
            rolling["maxUnavailable"] = "25%"
        if rolling.get("maxSurge") is None:
            rolling["maxSurge"] = "25%"
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600
    _default_template(spec.get("template"))


def default_replica_set(rs: Obj) -> None:
    spec = _sub(rs, "spec")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    _default_template(spec.get("template"))


def default_stateful_set(sts: Obj) -> None:
    spec = _sub(sts, "spec")
    if not spec.get("podManagementPolicy"):
        spec["podManagementPolicy"] = "OrderedReady"
    strategy = _sub(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        if not isinstance(strategy.get("rollingUpdate"), dict):
            strategy["rollingUpdate"] = {}
    rolling = strategy.get("rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict) and rolling.get("partition") is None:
        rolling["partition"] = 0
    retention = _sub(spec, "persistentVolumeClaimRetentionPolicy")
    for key in ("whenDeleted", "whenScaled"):
        if not retention.get(key):
            retention[key] = "Retain"
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    _default_template(spec.get("template"))
    for claim in _dicts(spec.get("volumeClaimTemplates")):
        default_pvc(claim)  # they are whole PVC objects upstream, so PVC defaults apply


def default_daemon_set(ds: Obj) -> None:
    spec = _sub(ds, "spec")
    strategy = _sub(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = _sub(strategy, "rollingUpdate")
        if rolling.get("maxUnavailable") is None:
            rolling["maxUnavailable"] = 1
        if rolling.get("maxSurge") is None:
            rolling["maxSurge"] = 0
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    _default_template(spec.get("template"))


# --- batch/v1 ------------------------------------------------------------------------


def job_labels_from_template(job: Obj) -> None:
    """Upstream's SetDefaults_Job: a Job without labels of its own carries its pod
    template's (``kubectl get jobs -l job-name=x`` finds it). Upstream defaults on every
    decode, reads from storage included, so the labels a create generates count too."""
    md = job.get("metadata")
    template_labels = (((job.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")
    if isinstance(md, dict) and isinstance(template_labels, dict) and template_labels and not md.get("labels"):
        md["labels"] = dict(template_labels)


def default_job(job: Obj) -> None:
    job_labels_from_template(job)
    spec = _sub(job, "spec")
    # a non-parallel job may leave both unset: then both are 1
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6
    template = spec.get("template")
    labels = ((template or {}).get("metadata") or {}).get("labels") if isinstance(template, dict) else None
    md = _sub(job, "metadata")
    if labels is not None and not md.get("labels"):
        md["labels"] = dict(labels)
    if spec.get("completionMode") is None:
        spec["completionMode"] = "NonIndexed"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    failure_policy = spec.get("podFailurePolicy")
    if isinstance(failure_policy, dict):
        for rule in _dicts(failure_policy.get("rules")):
            for pattern in _dicts(rule.get("onPodConditions")):
                if not pattern.get("status"):
                    pattern["status"] = "True"
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if isinstance(failure_policy, dict) else "TerminatingOrFailed"
    # restartPolicy is defaulted to Always like any PodSpec; validation then refuses it
    # ("Unsupported value: "Always""), exactly as a real cluster answers
    _default_template(template)


def generate_job_selector(job: Obj) -> None:
    """What upstream's Job strategy does on create unless ``spec.manualSelector`` is true:
    label the template with the job's name and uid and select on the uid. Needs
    ``metadata.name`` and ``metadata.uid`` set; call before validation."""
    spec = _sub(job, "spec")
    if spec.get("manualSelector") is True:
        return
    md = job.get("metadata") or {}
    name, uid = md.get("name") or "", md.get("uid") or ""
    template = _sub(spec, "template")
    tmeta = _sub(template, "metadata")
    labels = tmeta.get("labels")
    if not isinstance(labels, dict):
        labels = tmeta["labels"] = {}
    # a user-set conflicting value is kept on purpose: validation then reports it
    for key, value in (("batch.kubernetes.io/controller-uid", uid), ("batch.kubernetes.io/job-name", name),
                       ("controller-uid", uid), ("job-name", name)):
        labels.setdefault(key, value)
    selector = _sub(spec, "selector")
    match_labels = selector.get("matchLabels")
    if not isinstance(match_labels, dict):
        match_labels = selector["matchLabels"] = {}
    match_labels.setdefault("batch.kubernetes.io/controller-uid", uid)


def default_cron_job(cj: Obj) -> None:
    spec = _sub(cj, "spec")
    if not spec.get("concurrencyPolicy"):
        spec["concurrencyPolicy"] = "Allow"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    if spec.get("successfulJobsHistoryLimit") is None:
        spec["successfulJobsHistoryLimit"] = 3
    if spec.get("failedJobsHistoryLimit") is None:
        spec["failedJobsHistoryLimit"] = 1
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict) and isinstance(job_template.get("spec"), dict):
        _default_template(job_template["spec"].get("template"))


def default_pod_template(pt: Obj) -> None:
    _default_template(pt.get("template"))


# --- discovery, storage, scheduling, policy --------------------------------------------


def default_endpoint_slice(eps: Obj) -> None:
    # SetDefaults_EndpointPort: name "" and protocol TCP when unset
    for port in _dicts(eps.get("ports")):
        if port.get("name") is None:
            port["name"] = ""
        if port.get("protocol") is None:
            port["protocol"] = "TCP"


def default_storage_class(sc: Obj) -> None:
    if not sc.get("reclaimPolicy"):
        sc["reclaimPolicy"] = "Delete"
    if not sc.get("volumeBindingMode"):
        sc["volumeBindingMode"] = "Immediate"


def default_priority_class(pc: Obj) -> None:
    if not pc.get("preemptionPolicy"):
        pc["preemptionPolicy"] = "PreemptLowerPriority"


# --- networking.k8s.io/v1 ------------------------------------------------------------


def default_ingress(ing: Obj) -> None:
    # nothing is defaulted upstream; spec is a non-pointer struct, always serialized
    _sub(ing, "spec")


def default_ingress_class(ic: Obj) -> None:
    params = _sub(ic, "spec").get("parameters")
    if isinstance(params, dict) and params.get("scope") is None:
        params["scope"] = "Cluster"


def default_network_policy(np: Obj) -> None:
    spec = _sub(np, "spec")
    _sub(spec, "podSelector")  # a non-pointer LabelSelector: {} selects every pod
    for direction in ("ingress", "egress"):
        for rule in _dicts(spec.get(direction)):
            for port in _dicts(rule.get("ports")):
                if port.get("protocol") is None:
                    port["protocol"] = "TCP"
    if not spec.get("policyTypes"):
        # a policy that names no types is an Ingress policy, and an Egress one if it has egress rules
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


# --- rbac.authorization.k8s.io/v1 ----------------------------------------------------

RBAC_GROUP = "rbac.authorization.k8s.io"


def default_binding(binding: Obj) -> None:
    """RoleBinding and ClusterRoleBinding: ``roleRef.apiGroup`` and a User's or Group's
    ``apiGroup`` name the RBAC group when left out (a ServiceAccount's stays "")."""
    ref = binding.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = RBAC_GROUP
    for subject in _dicts(binding.get("subjects")):
        if not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = RBAC_GROUP


_DEFAULTERS: dict[tuple[str, str], Any] = {
    ("", "Pod"): default_pod,
    ("", "PodTemplate"): default_pod_template,
    ("", "Service"): default_service,
    ("", "Namespace"): default_namespace,
    ("", "Secret"): default_secret,
    ("", "Node"): default_node,
    ("", "PersistentVolumeClaim"): default_pvc,
    ("", "PersistentVolume"): default_pv,
    ("", "Endpoints"): default_endpoints,
    ("", "ReplicationController"): default_replication_controller,
    ("apps", "Deployment"): default_deployment,
    ("apps", "ReplicaSet"): default_replica_set,
    ("apps", "StatefulSet"): default_stateful_set,
    ("apps", "DaemonSet"): default_daemon_set,
    ("batch", "Job"): default_job,
    ("batch", "CronJob"): default_cron_job,
    ("discovery.k8s.io", "EndpointSlice"): default_endpoint_slice,
    ("storage.k8s.io", "StorageClass"): default_storage_class,
    ("scheduling.k8s.io", "PriorityClass"): default_priority_class,
    ("networking.k8s.io", "Ingress"): default_ingress,
    ("networking.k8s.io", "IngressClass"): default_ingress_class,
    ("networking.k8s.io", "NetworkPolicy"): default_network_policy,
    (RBAC_GROUP, "RoleBinding"): default_binding,
    (RBAC_GROUP, "ClusterRoleBinding"): default_binding,
}


def apply_defaults(group: str, kind: str, obj: Obj) -> None:
    """Fill in upstream's defaults for ``group``/``kind`` in place; other kinds are untouched."""
    fn = _DEFAULTERS.get((group, kind))
    if fn is not None and isinstance(obj, dict):
        fn(obj)
