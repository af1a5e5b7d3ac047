"""Per-kind Table columns and cells, as upstream's pkg/printers/internalversion prints them.

``kubelite.apiserver.tables`` looks a kind up in ``PRINTERS`` (keyed by group and kind)
to build the Table answer of ``kubectl get``; kinds not listed get the default
Name / Created At table. Every cells function returns all cells, ``-o wide`` ones
included (kubectl hides columns with ``priority > 0`` unless asked), and optional row
conditions (a finished pod is ``Completed``). Ages and a pod's status line are worded by
``kubelite.apiserver.humanize``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from kubelite.apiserver import humanize
from kubelite.apiserver.strategies import autoscaling as hpa_strategy
from kubelite.apiserver.strategies import resourcequotas

Obj = dict[str, Any]
Conditions = list[dict[str, str]] | None
Cells = Callable[[Obj, datetime], tuple[list[Any], Conditions]]
# (name, type, priority, description); a "Name" column gets format "name"
Column = tuple[str, str, int, str]


# ---------------------------------------------------------------------------- formatting


def _format_labels(labels: dict[str, str] | None) -> str:
    """labels.FormatLabels: ``a=1,b=2`` sorted, ``<none>`` when empty."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def selector_string(selector: Obj | None) -> str:
    """A LabelSelector as ``labels.Selector.String()``: requirements sorted by key."""
    reqs: list[tuple[str, str]] = []
    for key, value in ((selector or {}).get("matchLabels") or {}).items():
        reqs.append((key, f"{key}={value}"))
    for expr in (selector or {}).get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), sorted(expr.get("values") or [])
        text = {"In": f"{key} in ({','.join(values)})", "NotIn": f"{key} notin ({','.join(values)})",
                "Exists": key, "DoesNotExist": f"!{key}"}.get(op, f"{key} {op}")
        reqs.append((key, text))
    return ",".join(text for _, text in sorted(reqs, key=lambda r: r[0]))


def _format_selector(selector: Obj | None) -> str:
    return selector_string(selector) or "<none>"


def _containers(template_spec: Obj | None) -> tuple[str, str]:
    containers = (template_spec or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def _bool_ptr(value: Any) -> str:
    return "<unset>" if value is None else ("True" if value else "False")


# ---------------------------------------------------------------------------- printers

PRINTERS: dict[tuple[str, str], tuple[list[Column], Cells]] = {}


def _printer(group: str, kind: str, *columns: Column) -> Callable[[Cells], Cells]:
    def register(cells: Cells) -> Cells:
        PRINTERS[(group, kind)] = (list(columns), cells)
        return cells
    return register


_NAME: Column = ("Name", "string", 0, "Name of the object.")
_AGE: Column = ("Age", "string", 0, "Time since the object was created.")
_WIDE_TEMPLATE: tuple[Column, ...] = (
    ("Containers", "string", 1, "Names of each container in the template."),
    ("Images", "string", 1, "Images referenced by each container in the template."),
    ("Selector", "string", 1, "Label selector of the pods."),
)


_POD_DONE = {
    "Succeeded": [{"type": "Completed", "status": "True", "reason": "Succeeded",
                   "message": "The pod has completed successfully."}],
    "Failed": [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}],
}


@_printer("", "Pod", _NAME,
          ("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
          ("Status", "string", 0, "The aggregate status of the containers in this pod."),
          ("Restarts", "string", 0, "Restarts of the pod's containers, and how long ago the last one was."),
          _AGE,
          ("IP", "string", 1, "IP address allocated to the pod."),
          ("Node", "string", 1, "Node the pod is bound to."),
          ("Nominated Node", "string", 1, "Node the scheduler nominated after preemption."),
          ("Readiness Gates", "string", 1, "Readiness gates that are true."))
def _pod(pod: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    ready, total, reason, restarts, last = humanize.pod_status(pod)
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    restarts_text = str(restarts)
    if restarts and last is not None:
        restarts_text = f"{restarts} ({humanize.human_duration((now - last).total_seconds())} ago)"
    ips = status.get("podIPs") or []
    ip = (ips[0].get("ip") if ips else "") or status.get("podIP") or "<none>"
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        gates_text = f"{sum(1 for g in gates if conds.get(g.get('conditionType')) == 'True')}/{len(gates)}"
    cells = [humanize.meta(pod).get("name", ""), f"{ready}/{total}", reason, restarts_text,
             humanize.since(humanize.meta(pod).get("creationTimestamp"), now), ip, spec.get("nodeName") or "<none>",
             status.get("nominatedNodeName") or "<none>", gates_text]
    return cells, _POD_DONE.get(status.get("phase", ""))


@_printer("apps", "Deployment", _NAME,
          ("Ready", "string", 0, "Number of the pod with ready state"),
          ("Up-to-date", "string", 0, "Number of pods that have the desired template spec."),
          ("Available", "string", 0, "Total number of available pods targeted by this deployment."),
          _AGE, *_WIDE_TEMPLATE)
def _deployment(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(humanize.dig(spec, "template", "spec"))
    return [humanize.meta(obj).get("name", ""), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0),
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now), names, images,
            selector_string(spec.get("selector"))], None


_REPLICA_COLUMNS: tuple[Column, ...] = (
    _NAME,
    ("Desired", "integer", 0, "Number of desired pods."),
    ("Current", "integer", 0, "Number of most recently observed pods."),
    ("Ready", "integer", 0, "Number of pods with a Ready condition."),
    _AGE, *_WIDE_TEMPLATE)


def _replica_cells(obj: Obj, now: datetime, selector: str) -> tuple[list[Any], Conditions]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(humanize.dig(spec, "template", "spec"))
    return [humanize.meta(obj).get("name", ""), spec.get("replicas", 1), status.get("replicas", 0),
            status.get("readyReplicas", 0), humanize.since(humanize.meta(obj).get("creationTimestamp"), now),
            names, images, selector], None


@_printer("apps", "ReplicaSet", *_REPLICA_COLUMNS)
def _replicaset(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    return _replica_cells(obj, now, _format_selector((obj.get("spec") or {}).get("selector")))


@_printer("", "ReplicationController", *_REPLICA_COLUMNS)
def _replicationcontroller(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    # the selector is a plain label map here
    return _replica_cells(obj, now, _format_labels((obj.get("spec") or {}).get("selector")))


@_printer("", "PodTemplate", _NAME,
          ("Containers", "string", 0, "Names of each container in the template."),
          ("Images", "string", 0, "Images referenced by each container in the template."),
          ("Pod Labels", "string", 0, "The labels for the pod template."))
def _podtemplate(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    names, images = _containers(humanize.dig(obj, "template", "spec"))
    return [humanize.meta(obj).get("name", ""), names, images,
            _format_labels(humanize.dig(obj, "template", "metadata", "labels"))], None


@_printer("apps", "StatefulSet", _NAME, ("Ready", "string", 0, "Number of the pod with ready state"),
          _AGE, *_WIDE_TEMPLATE[:2])
def _statefulset(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(humanize.dig(spec, "template", "spec"))
    return [humanize.meta(obj).get("name", ""), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now), names, images], None


@_printer("apps", "DaemonSet", _NAME,
          ("Desired", "integer", 0, "Number of nodes that should run the daemon pod."),
          ("Current", "integer", 0, "Number of nodes running at least one daemon pod."),
          ("Ready", "integer", 0, "Number of nodes whose daemon pod is ready."),
          ("Up-to-date", "integer", 0, "Number of nodes running the updated daemon pod."),
          ("Available", "integer", 0, "Number of nodes whose daemon pod is available."),
          ("Node Selector", "string", 0, "Node selector of the pod template."),
          _AGE, *_WIDE_TEMPLATE)
def _daemonset(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(humanize.dig(spec, "template", "spec"))
    return [humanize.meta(obj).get("name", ""), status.get("desiredNumberScheduled", 0),
            status.get("currentNumberScheduled", 0), status.get("numberReady", 0),
            status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
            _format_labels(humanize.dig(spec, "template", "spec", "nodeSelector")),
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now), names, images,
            _format_selector(spec.get("selector"))], None


@_printer("apps", "ControllerRevision", _NAME, ("Controller", "string", 0, "Controller of the object"),
          ("Revision", "string", 0, "Revision number of the state."), _AGE)
def _controllerrevision(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    controller = "<none>"
    for ref in humanize.meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            group = ref.get("apiVersion", "").rpartition("/")[0]
            kind = f"{ref.get('kind', '')}.{group}" if group else ref.get("kind", "")
            controller = f"{kind.lower()}/{ref.get('name', '')}"
            break
    return [humanize.meta(obj).get("name", ""), controller, obj.get("revision", 0),
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now)], None


def _job_condition(obj: Obj, type_: str) -> bool:
    for cond in humanize.dig(obj, "status", "conditions") or []:
        if cond.get("type") == type_:
            return bool(cond.get("status") == "True")
    return False


@_printer("batch", "Job", _NAME, ("Status", "string", 0, "Status of the job."),
          ("Completions", "string", 0, "The number of pods which reached phase Succeeded."),
          ("Duration", "string", 0, "Time required to complete the job."), _AGE, *_WIDE_TEMPLATE)
def _job(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start, end = humanize.parse_time(status.get("startTime")), humanize.parse_time(status.get("completionTime"))
    duration = "" if start is None else humanize.human_duration(((end or now) - start).total_seconds())
    if _job_condition(obj, "Complete"):
        state = "Complete"
    elif _job_condition(obj, "Failed"):
        state = "Failed"
    elif humanize.meta(obj).get("deletionTimestamp"):
        state = "Terminating"
    else:
        state = next((s for s in ("Suspended", "FailureTarget", "SuccessCriteriaMet") if _job_condition(obj, s)),
                     "Running")
    names, images = _containers(humanize.dig(spec, "template", "spec"))
    return [humanize.meta(obj).get("name", ""), state, completions, duration,
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now), names, images,
            _format_selector(spec.get("selector"))], None


@_printer("batch", "CronJob", _NAME, ("Schedule", "string", 0, "The schedule in Cron format."),
          ("Timezone", "string", 0, "The time zone of the schedule."),
          ("Suspend", "boolean", 0, "Whether new runs are suspended."),
          ("Active", "integer", 0, "Number of running jobs."),
          ("Last Schedule", "string", 0, "When a job was last scheduled."), _AGE, *_WIDE_TEMPLATE)
def _cronjob(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    job_spec = humanize.dig(spec, "jobTemplate", "spec") or {}
    names, images = _containers(humanize.dig(job_spec, "template", "spec"))
    last = status.get("lastScheduleTime")
    return [humanize.meta(obj).get("name", ""), spec.get("schedule", ""), spec.get("timeZone") or "<none>",
            _bool_ptr(spec.get("suspend")), len(status.get("active") or []),
            humanize.since(last, now) if last else "<none>", humanize.since(humanize.meta(obj).get("creationTimestamp"), now),
            names, images, _format_selector(job_spec.get("selector"))], None


def _external_ip(spec: Obj, status: Obj) -> str:
    kind, external = spec.get("type") or "ClusterIP", spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        lb = sorted({i.get("ip") or i.get("hostname") for i in humanize.dig(status, "loadBalancer", "ingress") or []
                     if i.get("ip") or i.get("hostname")})
        return ",".join([*lb, *external]) or "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName", ""))
    return "<unknown>"


@_printer("", "Service", _NAME, ("Type", "string", 0, "How the service is exposed."),
          ("Cluster-IP", "string", 0, "The IP address of the service inside the cluster."),
          ("External-IP", "string", 0, "Addresses the service is reachable at from outside."),
          ("Port(s)", "string", 0, "The ports the service exposes."), _AGE,
          ("Selector", "string", 1, "Labels of the pods the service routes to."))
def _service(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    ports = ",".join(
        f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort")
        else f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    return [humanize.meta(obj).get("name", ""), spec.get("type") or "ClusterIP", ips[0] if ips else "<none>",
            _external_ip(spec, status), ports or "<none>", humanize.since(humanize.meta(obj).get("creationTimestamp"), now),
            _format_labels(spec.get("selector"))], None


@_printer("", "Endpoints", _NAME, ("Endpoints", "string", 0, "Addresses of the endpoints."), _AGE)
def _endpoints(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    shown: list[str] = []
    count = 0
    for subset in obj.get("subsets") or []:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or [None]  # headless services may have no ports
        for port in ports:
            count += len(addresses)
            for ip in addresses:
                if len(shown) < 3:
                    host = f"[{ip}]" if ":" in ip else ip
                    shown.append(ip if port is None else f"{host}:{port.get('port')}")
    text = ",".join(shown) if shown else "<none>"
    if count > 3:
        text = f"{text} + {count - 3} more..."
    return [humanize.meta(obj).get("name", ""), text, humanize.since(humanize.meta(obj).get("creationTimestamp"), now)], None


@_printer("", "Node", _NAME, ("Status", "string", 0, "The status of the node"),
          ("Roles", "string", 0, "The roles of the node"), _AGE,
          ("Version", "string", 0, "Kubelet version reported by the node."),
          ("Internal-IP", "string", 1, "Internal address of the node."),
          ("External-IP", "string", 1, "External address of the node."),
          ("OS-Image", "string", 1, "OS image reported by the node."),
          ("Kernel-Version", "string", 1, "Kernel version reported by the node."),
          ("Container-Runtime", "string", 1, "Container runtime reported by the node."))
def _node(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    states = [("Ready" if c.get("status") == "True" else "NotReady")
              for c in status.get("conditions") or [] if c.get("type") == "Ready"][:1] or ["Unknown"]
    if spec.get("unschedulable"):
        states.append("SchedulingDisabled")
    roles = set()
    for key, value in (humanize.meta(obj).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key.partition("/")[2]:
            roles.add(key.partition("/")[2])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    info = status.get("nodeInfo") or {}

    def address(kind: str) -> str:
        return next((a.get("address", "") for a in status.get("addresses") or [] if a.get("type") == kind),
                    "<none>")

    return [humanize.meta(obj).get("name", ""), ",".join(states), ",".join(sorted(roles)) or "<none>",
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now), info.get("kubeletVersion", ""),
            address("InternalIP"), address("ExternalIP"), info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>", info.get("containerRuntimeVersion") or "<unknown>"], None


@_printer("", "Namespace", _NAME, ("Status", "string", 0, "The status of the namespace"), _AGE)
def _namespace(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    return [humanize.meta(obj).get("name", ""), humanize.dig(obj, "status", "phase") or "",
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now)], None


_EVENT_COLUMNS: tuple[Column, ...] = (
    ("Last Seen", "string", 0, "When the event was last observed."),
    ("Type", "string", 0, "Type of the event (Normal, Warning)."),
    ("Reason", "string", 0, "Why the event happened."),
    ("Object", "string", 0, "The object the event is about."),
    ("Subobject", "string", 1, "The part of the object the event is about."),
    ("Source", "string", 1, "The component that reported the event."),
    ("Message", "string", 0, "A human-readable description of the event."),
    ("First Seen", "string", 1, "When the event was first observed."),
    ("Count", "string", 1, "How many times the event has occurred."),
    ("Name", "string", 1, "Name of the object."),
)


def _event(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    # core/v1 and events.k8s.io/v1 spell the same facts differently
    first_ts = obj.get("firstTimestamp") or obj.get("deprecatedFirstTimestamp")
    first = humanize.since(first_ts, now) if first_ts else humanize.since(obj.get("eventTime"), now)
    last_ts = obj.get("lastTimestamp") or obj.get("deprecatedLastTimestamp")
    last = humanize.since(last_ts, now) if last_ts else first
    count = obj.get("count") or obj.get("deprecatedCount") or 0
    if obj.get("series"):
        last = humanize.since(obj["series"].get("lastObservedTime"), now)
        count = obj["series"].get("count", count)
    elif not count:
        count = 1
    ref = obj.get("involvedObject") or obj.get("regarding") or {}
    kind = str(ref.get("kind", "")).lower()
    target = f"{kind}/{ref['name']}" if ref.get("name") else kind
    source = obj.get("source") or obj.get("deprecatedSource") or {}
    component = source.get("component") or obj.get("reportingController") or ""
    host = source.get("host") or obj.get("reportingInstance") or ""
    message = (obj.get("message") if "message" in obj else obj.get("note")) or ""
    return [last, obj.get("type", ""), obj.get("reason", ""), target, ref.get("fieldPath", ""),
            f"{component}, {host}" if host else component, message.strip(), first, count,
            humanize.meta(obj).get("name", "")], None


PRINTERS[("", "Event")] = (list(_EVENT_COLUMNS), _event)
PRINTERS[("events.k8s.io", "Event")] = (list(_EVENT_COLUMNS), _event)


@_printer("", "ConfigMap", _NAME, ("Data", "string", 0, "Number of data keys."), _AGE)
def _configmap(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    return [humanize.meta(obj).get("name", ""), len(obj.get("data") or {}) + len(obj.get("binaryData") or {}),
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now)], None


@_printer("", "Secret", _NAME, ("Type", "string", 0, "Used to facilitate programmatic handling of secret data."),
          ("Data", "string", 0, "Number of data keys."), _AGE)
def _secret(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    return [humanize.meta(obj).get("name", ""), obj.get("type") or "Opaque", len(obj.get("data") or {}),
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now)], None


@_printer("", "ServiceAccount", _NAME, _AGE)
def _serviceaccount(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    # upstream dropped the Secrets column when token secrets stopped being generated
    return [humanize.meta(obj).get("name", ""), humanize.since(humanize.meta(obj).get("creationTimestamp"), now)], None


def _access_modes(modes: list[str] | None) -> str:
    short = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
    return ",".join(v for k, v in short.items() if k in (modes or []))


def _storage_class(obj: Obj) -> str:
    beta = (humanize.meta(obj).get("annotations") or {}).get("volume.beta.kubernetes.io/storage-class")
    return str(beta if beta is not None else humanize.dig(obj, "spec", "storageClassName") or "")


@_printer("", "PersistentVolume", _NAME, ("Capacity", "string", 0, "Capacity of the volume."),
          ("Access Modes", "string", 0, "Ways the volume can be mounted."),
          ("Reclaim Policy", "string", 0, "What happens to the volume when released."),
          ("Status", "string", 0, "Phase of the volume."), ("Claim", "string", 0, "The bound claim."),
          ("StorageClass", "string", 0, "StorageClass of the pv"),
          ("VolumeAttributesClass", "string", 0, "VolumeAttributesClass of the pv"),
          ("Reason", "string", 0, "Why the volume is in this phase."), _AGE,
          ("VolumeMode", "string", 1, "Filesystem or Block."))
def _pv(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    claim = spec.get("claimRef")
    phase = "Terminating" if humanize.meta(obj).get("deletionTimestamp") else status.get("phase", "")
    return [humanize.meta(obj).get("name", ""), str(humanize.dig(spec, "capacity", "storage") or "0"),
            _access_modes(spec.get("accessModes")), spec.get("persistentVolumeReclaimPolicy", ""), phase,
            f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else "", _storage_class(obj),
            spec.get("volumeAttributesClassName") or "<unset>", status.get("reason", ""),
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now), spec.get("volumeMode") or "<unset>"], None


@_printer("", "PersistentVolumeClaim", _NAME, ("Status", "string", 0, "Phase of the claim."),
          ("Volume", "string", 0, "The bound volume."), ("Capacity", "string", 0, "Capacity of the volume."),
          ("Access Modes", "string", 0, "Ways the volume can be mounted."),
          ("StorageClass", "string", 0, "StorageClass of the pvc"),
          ("VolumeAttributesClass", "string", 0, "VolumeAttributesClass of the pvc"), _AGE,
          ("VolumeMode", "string", 1, "Filesystem or Block."))
def _pvc(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    phase = "Terminating" if humanize.meta(obj).get("deletionTimestamp") else status.get("phase", "")
    bound = bool(spec.get("volumeName"))
    return [humanize.meta(obj).get("name", ""), phase, spec.get("volumeName", ""),
            str(humanize.dig(status, "capacity", "storage") or "") if bound else "",
            _access_modes(status.get("accessModes")) if bound else "", _storage_class(obj),
            spec.get("volumeAttributesClassName") or "<unset>", humanize.since(humanize.meta(obj).get("creationTimestamp"), now),
            spec.get("volumeMode") or "<unset>"], None


@_printer("coordination.k8s.io", "Lease", _NAME, ("Holder", "string", 0, "Identity of the holder."), _AGE)
def _lease(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    return [humanize.meta(obj).get("name", ""), humanize.dig(obj, "spec", "holderIdentity") or "",
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now)], None


def _first_three(items: list[str], count: int) -> str:
    """Upstream's listWithMoreString: three items, then ``+ N more...``; ``<unset>`` when empty."""
    text = ",".join(items[:3])
    if count > 3:
        return f"{text} + {count - 3} more..."
    return text or "<unset>"


@_printer("discovery.k8s.io", "EndpointSlice", _NAME,
          ("AddressType", "string", 0, "Type of address carried by this EndpointSlice."),
          ("Ports", "string", 0, "Ports of the endpoints."),
          ("Endpoints", "string", 0, "Addresses of the endpoints."), _AGE)
def _endpointslice(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    ports = [str(p["port"]) if p.get("port") is not None else (p.get("name") or "*")
             for p in obj.get("ports") or []]
    addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    return [humanize.meta(obj).get("name", ""), obj.get("addressType", ""), _first_three(ports, len(ports)),
            _first_three(addresses, len(addresses)), humanize.since(humanize.meta(obj).get("creationTimestamp"), now)], None


@_printer("storage.k8s.io", "StorageClass", _NAME,
          ("Provisioner", "string", 0, "Name of the volume provisioner."),
          ("ReclaimPolicy", "string", 0, "What happens to dynamically provisioned volumes when released."),
          ("VolumeBindingMode", "string", 0, "When volumes are bound and provisioned."),
          ("AllowVolumeExpansion", "string", 0, "Whether volumes of this class can be expanded."), _AGE)
def _storageclass(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    annotations = humanize.meta(obj).get("annotations") or {}
    name = humanize.meta(obj).get("name", "")
    if "true" in (annotations.get("storageclass.kubernetes.io/is-default-class"),
                  annotations.get("storageclass.beta.kubernetes.io/is-default-class")):
        name += " (default)"
    return [name, obj.get("provisioner", ""), obj.get("reclaimPolicy") or "Delete",
            obj.get("volumeBindingMode") or "Immediate", bool(obj.get("allowVolumeExpansion")),
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now)], None


@_printer("scheduling.k8s.io", "PriorityClass", _NAME,
          ("Value", "integer", 0, "The priority of pods that name this class."),
          ("Global-Default", "boolean", 0, "Whether pods without a class get this one."), _AGE,
          ("PreemptionPolicy", "string", 0, "Whether pods of this class may preempt lower-priority pods."))
def _priorityclass(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    return [humanize.meta(obj).get("name", ""), obj.get("value", 0), bool(obj.get("globalDefault")),
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now),
            obj.get("preemptionPolicy") or "PreemptLowerPriority"], None


@_printer("policy", "PodDisruptionBudget", _NAME,
          ("Min Available", "string", 0, "The minimum number of pods that must be available."),
          ("Max Unavailable", "string", 0, "The maximum number of pods that may be unavailable."),
          ("Allowed Disruptions", "integer", 0, "Calculated number of pods that may be disrupted at this time."),
          _AGE)
def _pdb(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec = obj.get("spec") or {}
    shown = ["N/A" if spec.get(k) is None else str(spec[k]) for k in ("minAvailable", "maxUnavailable")]
    return [humanize.meta(obj).get("name", ""), *shown, int(humanize.dig(obj, "status", "disruptionsAllowed") or 0),
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now)], None


def _ingress_hosts(rules: list[Obj]) -> str:
    """Upstream's formatHosts: three hosts, then ``+ N more...`` (counting every rule)."""
    shown: list[str] = []
    more = False
    for rule in rules:
        if len(shown) == 3:
            more = True
        if not more and rule.get("host"):
            shown.append(str(rule["host"]))
    if not shown:
        return "*"
    text = ",".join(shown)
    return f"{text} + {len(rules) - 3} more..." if more else text


@_printer("networking.k8s.io", "Ingress", _NAME,
          ("Class", "string", 0, "The name of the IngressClass resource that should be used for additional "
                                 "configuration"),
          ("Hosts", "string", 0, "Hosts that incoming requests are matched against before the ingress rule"),
          ("Address", "string", 0, "Address is a list containing ingress points for the load-balancer"),
          ("Ports", "string", 0, "Ports of TLS configurations that open"), _AGE)
def _ingress(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec = obj.get("spec") or {}
    # tables are printed wide on the server (kubectl hides columns), so the address is never clipped
    entries = humanize.dig(obj, "status", "loadBalancer", "ingress") or []
    addresses = sorted({e.get("ip") or e.get("hostname") for e in entries if e.get("ip") or e.get("hostname")})
    class_name = spec.get("ingressClassName")
    return [humanize.meta(obj).get("name", ""), "<none>" if class_name is None else class_name,
            _ingress_hosts(spec.get("rules") or []), ",".join(addresses), "80, 443" if spec.get("tls") else "80",
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now)], None


@_printer("networking.k8s.io", "IngressClass", _NAME,
          ("Controller", "string", 0, "Controller that is responsible for handling this class"),
          ("Parameters", "string", 0, "A reference to a resource with additional parameters"), _AGE)
def _ingressclass(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec = obj.get("spec") or {}
    params = spec.get("parameters")
    parameters = "<none>"
    if isinstance(params, dict):
        parameters = str(params.get("kind") or "")
        if params.get("apiGroup") is not None:
            parameters += f".{params['apiGroup']}"
        parameters += f"/{params.get('name') or ''}"
    return [humanize.meta(obj).get("name", ""), spec.get("controller") or "", parameters,
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now)], None


@_printer("networking.k8s.io", "NetworkPolicy", _NAME,
          ("Pod-Selector", "string", 0, "Selects the pods to which this NetworkPolicy object applies."), _AGE)
def _networkpolicy(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    return [humanize.meta(obj).get("name", ""), _format_selector(humanize.dig(obj, "spec", "podSelector")),
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now)], None


# ---------------------------------------------------------------------------- autoscaling


def _hpa_metrics(specs: list[Obj], statuses: list[Obj]) -> str:
    """upstream formatHPAMetrics: ``cpu: 250%/50%``, two metrics at most then ``+ N more...``."""
    if not specs:
        return "<none>"
    out: list[str] = []

    def status_of(i: int, key: str) -> Obj | None:
        return statuses[i].get(key) if i < len(statuses) and isinstance(statuses[i].get(key), dict) else None

    for i, spec in enumerate(specs):
        mtype = spec.get("type")
        key = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
               "Object": "object", "External": "external"}.get(str(mtype))
        src = (spec.get(key) or {}) if key else {}
        target = src.get("target") or {}
        current = (status_of(i, key) or {}).get("current") or {} if key else {}
        if key in ("resource", "containerResource"):
            if target.get("averageValue") is not None:
                now = current.get("averageValue", "<unknown>")
                out.append(f"{src.get('name', '')}: {now}/{target['averageValue']}")
            else:
                now = f"{current['averageUtilization']}%" if current.get("averageUtilization") is not None \
                    else "<unknown>"
                goal = f"{target['averageUtilization']}%" if target.get("averageUtilization") is not None \
                    else "<auto>"
                out.append(f"{src.get('name', '')}: {now}/{goal}")
        elif key == "pods":
            out.append(f"{current.get('averageValue', '<unknown>')}/{target.get('averageValue', '')}")
        elif key in ("object", "external"):
            if target.get("averageValue") is not None:
                out.append(f"{current.get('averageValue', '<unknown>')}/{target['averageValue']} (avg)")
            else:
                out.append(f"{current.get('value', '<unknown>')}/{target.get('value', '')}")
        else:
            out.append("<unknown type>")
    if len(out) > 2:
        return f"{', '.join(out[:2])} + {len(out) - 2} more..."
    return ", ".join(out)


@_printer("autoscaling", "HorizontalPodAutoscaler", _NAME,
          ("Reference", "string", 0, "reference to scaled resource; horizontal pod autoscaler will learn the "
                                     "current resource consumption and will set the desired number of pods by "
                                     "using its Scale subresource."),
          ("Targets", "string", 0, "metrics contains the specifications for which to use to calculate the "
                                   "desired replica count."),
          ("MinPods", "string", 0, "minReplicas is the lower limit for the number of replicas to which the "
                                   "autoscaler can scale down."),
          ("MaxPods", "string", 0, "maxReplicas is the upper limit for the number of pods that can be set by "
                                   "the autoscaler; cannot be smaller than MinReplicas."),
          ("Replicas", "string", 0, "currentReplicas is current number of replicas of pods managed by this "
                                    "autoscaler, as last seen by the autoscaler."),
          _AGE)
def _hpa(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    if obj.get("apiVersion") == "autoscaling/v1":
        obj = hpa_strategy.from_v1(obj)  # the table of a v1 list is printed from its v2 shape
    spec = obj.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    min_pods = spec.get("minReplicas")
    return [humanize.meta(obj).get("name", ""), f"{ref.get('kind', '')}/{ref.get('name', '')}",
            _hpa_metrics([m for m in spec.get("metrics") or [] if isinstance(m, dict)],
                         [m for m in humanize.dig(obj, "status", "currentMetrics") or [] if isinstance(m, dict)]),
            "<unset>" if min_pods is None else str(min_pods), int(spec.get("maxReplicas") or 0),
            int(humanize.dig(obj, "status", "currentReplicas") or 0),
            humanize.since(humanize.meta(obj).get("creationTimestamp"), now)], None


# ---------------------------------------------------------------------------- quota


@_printer("", "ResourceQuota", _NAME, _AGE,
          ("Request", "string", 0, "Request represents a minimum amount of cpu/memory that a container may consume."),
          ("Limit", "string", 0, "Limits control the maximum amount of cpu/memory that a container may use "
                                 "independent of contention on the node."))
def _resourcequota(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    request, limit = resourcequotas.request_and_limit(obj)
    return [humanize.meta(obj).get("name", ""), humanize.since(humanize.meta(obj).get("creationTimestamp"), now),
            request, limit], None
