"""Per-kind Table columns and cells, as upstream's pkg/printers/internalversion prints them.

``kubelite.apiserver.tables`` looks a kind up in ``PRINTERS`` (keyed by group and kind)
to build the Table answer of ``kubectl get``; kinds not listed get the default
Name / Created At table. Every cells function returns all cells, ``-o wide`` ones
included (kubectl hides columns with ``priority > 0`` unless asked), and optional row
conditions (a finished pod is ``Completed``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]
Conditions = list[dict[str, str]] | None
Cells = Callable[[Obj, datetime], tuple[list[Any], Conditions]]
# (name, type, priority, description); a "Name" column gets format "name"
Column = tuple[str, str, int, str]


# ---------------------------------------------------------------------------- formatting


def human_duration(seconds: float) -> str:
    """kubectl's ``duration.HumanDuration``: ``5s``, ``3m20s``, ``5h2m``, ``2d3h``, ``3y120d``."""
    s = int(seconds)  # truncates toward zero, as Go's int(d.Seconds())
    if s < -1:
        return "<invalid>"  # allow one second of clock skew, as upstream
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, (hours // 24) % 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def since(value: Any, now: datetime) -> str:
    ts = parse_time(value)
    return "<unknown>" if ts is None else human_duration((now - ts).total_seconds())


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


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


def pod_status(pod: Obj) -> tuple[int, int, str, int, datetime | None]:
    """(ready, total, status, restarts, last restart) as ``kubectl get pods`` shows them."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    restartable = {n for n, c in init_specs.items() if c.get("restartPolicy") == "Always"}
    total = len(spec.get("containers") or []) + len(restartable)
    ready = restarts = sidecar_restarts = 0
    last: datetime | None = None
    last_sidecar: datetime | None = None
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    def finished(cs: Obj) -> datetime | None:
        return parse_time(_get(cs, "lastTerminationState", "terminated", "finishedAt"))

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(cs.get("restartCount", 0))
        if (t := finished(cs)) and (last is None or t > last):
            last = t
        sidecar = cs.get("name") in restartable
        if sidecar:
            sidecar_restarts += int(cs.get("restartCount", 0))
            if t and (last_sidecar is None or t > last_sidecar):
                last_sidecar = t
        state = cs.get("state") or {}
        term, wait = state.get("terminated"), state.get("waiting")
        if term is not None and term.get("exitCode", 0) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if term is not None:
            if term.get("reason"):
                reason = "Init:" + term["reason"]
            elif term.get("signal"):
                reason = f"Init:Signal:{term['signal']}"
            else:
                reason = f"Init:ExitCode:{term.get('exitCode', 0)}"
        elif wait is not None and wait.get("reason") and wait["reason"] != "PodInitializing":
            reason = "Init:" + wait["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    initialized = any(c.get("type") == "Initialized" and c.get("status") == "True"
                      for c in status.get("conditions") or [])
    if not initializing or initialized:
        restarts, last = sidecar_restarts, last_sidecar
        has_running, error_reason = False, ""
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount", 0))
            if (t := finished(cs)) and (last is None or t > last):
                last = t
            state = cs.get("state") or {}
            wait, term = state.get("waiting"), state.get("terminated")
            if wait is not None and wait.get("reason"):
                reason = wait["reason"]
            elif term is not None:
                if term.get("reason"):
                    reason = term["reason"]
                elif term.get("signal"):
                    reason = f"Signal:{term['signal']}"
                else:
                    reason = f"ExitCode:{term.get('exitCode', 0)}"
                if term.get("exitCode", 0) != 0:
                    error_reason = reason
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        # a pod whose last container completed but another still runs is not "Completed"
        if reason == "Completed":
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in status.get("conditions") or [])
            if has_running and pod_ready:
                reason = "Running"
            elif error_reason:
                reason = error_reason
            elif has_running:
                reason = "NotReady"

    if _meta(pod).get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return ready, total, reason, restarts, last


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
    ready, total, reason, restarts, last = pod_status(pod)
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    restarts_text = str(restarts)
    if restarts and last is not None:
        restarts_text = f"{restarts} ({human_duration((now - last).total_seconds())} ago)"
    ips = status.get("podIPs") or []
    ip = (ips[0].get("ip") if ips else "") or status.get("podIP") or "<none>"
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        gates_text = f"{sum(1 for g in gates if conds.get(g.get('conditionType')) == 'True')}/{len(gates)}"
    cells = [_meta(pod).get("name", ""), f"{ready}/{total}", reason, restarts_text,
             since(_meta(pod).get("creationTimestamp"), now), ip, spec.get("nodeName") or "<none>",
             status.get("nominatedNodeName") or "<none>", gates_text]
    return cells, _POD_DONE.get(status.get("phase", ""))


@_printer("apps", "Deployment", _NAME,
          ("Ready", "string", 0, "Number of the pod with ready state"),
          ("Up-to-date", "string", 0, "Number of pods that have the desired template spec."),
          ("Available", "string", 0, "Total number of available pods targeted by this deployment."),
          _AGE, *_WIDE_TEMPLATE)
def _deployment(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_get(spec, "template", "spec"))
    return [_meta(obj).get("name", ""), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0),
            since(_meta(obj).get("creationTimestamp"), now), names, images,
            selector_string(spec.get("selector"))], None


@_printer("apps", "ReplicaSet", _NAME,
          ("Desired", "integer", 0, "Number of desired pods."),
          ("Current", "integer", 0, "Number of most recently observed pods."),
          ("Ready", "integer", 0, "Number of pods with a Ready condition."),
          _AGE, *_WIDE_TEMPLATE)
def _replicaset(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_get(spec, "template", "spec"))
    return [_meta(obj).get("name", ""), spec.get("replicas", 1), status.get("replicas", 0),
            status.get("readyReplicas", 0), since(_meta(obj).get("creationTimestamp"), now), names, images,
            _format_selector(spec.get("selector"))], None


@_printer("apps", "StatefulSet", _NAME, ("Ready", "string", 0, "Number of the pod with ready state"),
          _AGE, *_WIDE_TEMPLATE[:2])
def _statefulset(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_get(spec, "template", "spec"))
    return [_meta(obj).get("name", ""), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            since(_meta(obj).get("creationTimestamp"), now), names, images], None


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
    names, images = _containers(_get(spec, "template", "spec"))
    return [_meta(obj).get("name", ""), status.get("desiredNumberScheduled", 0),
            status.get("currentNumberScheduled", 0), status.get("numberReady", 0),
            status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
            _format_labels(_get(spec, "template", "spec", "nodeSelector")),
            since(_meta(obj).get("creationTimestamp"), now), names, images,
            _format_selector(spec.get("selector"))], None


@_printer("apps", "ControllerRevision", _NAME, ("Controller", "string", 0, "Controller of the object"),
          ("Revision", "string", 0, "Revision number of the state."), _AGE)
def _controllerrevision(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    controller = "<none>"
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            group = ref.get("apiVersion", "").rpartition("/")[0]
            kind = f"{ref.get('kind', '')}.{group}" if group else ref.get("kind", "")
            controller = f"{kind.lower()}/{ref.get('name', '')}"
            break
    return [_meta(obj).get("name", ""), controller, obj.get("revision", 0),
            since(_meta(obj).get("creationTimestamp"), now)], None


def _job_condition(obj: Obj, type_: str) -> bool:
    for cond in _get(obj, "status", "conditions") or []:
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
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    duration = "" if start is None else human_duration(((end or now) - start).total_seconds())
    if _job_condition(obj, "Complete"):
        state = "Complete"
    elif _job_condition(obj, "Failed"):
        state = "Failed"
    elif _meta(obj).get("deletionTimestamp"):
        state = "Terminating"
    else:
        state = next((s for s in ("Suspended", "FailureTarget", "SuccessCriteriaMet") if _job_condition(obj, s)),
                     "Running")
    names, images = _containers(_get(spec, "template", "spec"))
    return [_meta(obj).get("name", ""), state, completions, duration,
            since(_meta(obj).get("creationTimestamp"), now), names, images,
            _format_selector(spec.get("selector"))], None


@_printer("batch", "CronJob", _NAME, ("Schedule", "string", 0, "The schedule in Cron format."),
          ("Timezone", "string", 0, "The time zone of the schedule."),
          ("Suspend", "boolean", 0, "Whether new runs are suspended."),
          ("Active", "integer", 0, "Number of running jobs."),
          ("Last Schedule", "string", 0, "When a job was last scheduled."), _AGE, *_WIDE_TEMPLATE)
def _cronjob(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    job_spec = _get(spec, "jobTemplate", "spec") or {}
    names, images = _containers(_get(job_spec, "template", "spec"))
    last = status.get("lastScheduleTime")
    return [_meta(obj).get("name", ""), spec.get("schedule", ""), spec.get("timeZone") or "<none>",
            _bool_ptr(spec.get("suspend")), len(status.get("active") or []),
            since(last, now) if last else "<none>", since(_meta(obj).get("creationTimestamp"), now),
            names, images, _format_selector(job_spec.get("selector"))], None


def _external_ip(spec: Obj, status: Obj) -> str:
    kind, external = spec.get("type") or "ClusterIP", spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        lb = sorted({i.get("ip") or i.get("hostname") for i in _get(status, "loadBalancer", "ingress") or []
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
    return [_meta(obj).get("name", ""), spec.get("type") or "ClusterIP", ips[0] if ips else "<none>",
            _external_ip(spec, status), ports or "<none>", since(_meta(obj).get("creationTimestamp"), now),
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
    return [_meta(obj).get("name", ""), text, since(_meta(obj).get("creationTimestamp"), now)], None


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
    for key, value in (_meta(obj).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key.partition("/")[2]:
            roles.add(key.partition("/")[2])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    info = status.get("nodeInfo") or {}

    def address(kind: str) -> str:
        return next((a.get("address", "") for a in status.get("addresses") or [] if a.get("type") == kind),
                    "<none>")

    return [_meta(obj).get("name", ""), ",".join(states), ",".join(sorted(roles)) or "<none>",
            since(_meta(obj).get("creationTimestamp"), now), info.get("kubeletVersion", ""),
            address("InternalIP"), address("ExternalIP"), info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>", info.get("containerRuntimeVersion") or "<unknown>"], None


@_printer("", "Namespace", _NAME, ("Status", "string", 0, "The status of the namespace"), _AGE)
def _namespace(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    return [_meta(obj).get("name", ""), _get(obj, "status", "phase") or "",
            since(_meta(obj).get("creationTimestamp"), now)], None


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
    first = since(first_ts, now) if first_ts else since(obj.get("eventTime"), now)
    last_ts = obj.get("lastTimestamp") or obj.get("deprecatedLastTimestamp")
    last = since(last_ts, now) if last_ts else first
    count = obj.get("count") or obj.get("deprecatedCount") or 0
    if obj.get("series"):
        last = since(obj["series"].get("lastObservedTime"), now)
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
            _meta(obj).get("name", "")], None


PRINTERS[("", "Event")] = (list(_EVENT_COLUMNS), _event)
PRINTERS[("events.k8s.io", "Event")] = (list(_EVENT_COLUMNS), _event)


@_printer("", "ConfigMap", _NAME, ("Data", "string", 0, "Number of data keys."), _AGE)
def _configmap(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    return [_meta(obj).get("name", ""), len(obj.get("data") or {}) + len(obj.get("binaryData") or {}),
            since(_meta(obj).get("creationTimestamp"), now)], None


@_printer("", "Secret", _NAME, ("Type", "string", 0, "Used to facilitate programmatic handling of secret data."),
          ("Data", "string", 0, "Number of data keys."), _AGE)
def _secret(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    return [_meta(obj).get("name", ""), obj.get("type") or "Opaque", len(obj.get("data") or {}),
            since(_meta(obj).get("creationTimestamp"), now)], None


@_printer("", "ServiceAccount", _NAME, _AGE)
def _serviceaccount(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    # upstream dropped the Secrets column when token secrets stopped being generated
    return [_meta(obj).get("name", ""), since(_meta(obj).get("creationTimestamp"), now)], None


def _access_modes(modes: list[str] | None) -> str:
    short = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
    return ",".join(v for k, v in short.items() if k in (modes or []))


def _storage_class(obj: Obj) -> str:
    beta = (_meta(obj).get("annotations") or {}).get("volume.beta.kubernetes.io/storage-class")
    return str(beta if beta is not None else _get(obj, "spec", "storageClassName") or "")


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
    phase = "Terminating" if _meta(obj).get("deletionTimestamp") else status.get("phase", "")
    return [_meta(obj).get("name", ""), str(_get(spec, "capacity", "storage") or "0"),
            _access_modes(spec.get("accessModes")), spec.get("persistentVolumeReclaimPolicy", ""), phase,
            f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else "", _storage_class(obj),
            spec.get("volumeAttributesClassName") or "<unset>", status.get("reason", ""),
            since(_meta(obj).get("creationTimestamp"), now), spec.get("volumeMode") or "<unset>"], None


@_printer("", "PersistentVolumeClaim", _NAME, ("Status", "string", 0, "Phase of the claim."),
          ("Volume", "string", 0, "The bound volume."), ("Capacity", "string", 0, "Capacity of the volume."),
          ("Access Modes", "string", 0, "Ways the volume can be mounted."),
          ("StorageClass", "string", 0, "StorageClass of the pvc"),
          ("VolumeAttributesClass", "string", 0, "VolumeAttributesClass of the pvc"), _AGE,
          ("VolumeMode", "string", 1, "Filesystem or Block."))
def _pvc(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    phase = "Terminating" if _meta(obj).get("deletionTimestamp") else status.get("phase", "")
    bound = bool(spec.get("volumeName"))
    return [_meta(obj).get("name", ""), phase, spec.get("volumeName", ""),
            str(_get(status, "capacity", "storage") or "") if bound else "",
            _access_modes(status.get("accessModes")) if bound else "", _storage_class(obj),
            spec.get("volumeAttributesClassName") or "<unset>", since(_meta(obj).get("creationTimestamp"), now),
            spec.get("volumeMode") or "<unset>"], None


@_printer("coordination.k8s.io", "Lease", _NAME, ("Holder", "string", 0, "Identity of the holder."), _AGE)
def _lease(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    return [_meta(obj).get("name", ""), _get(obj, "spec", "holderIdentity") or "",
            since(_meta(obj).get("creationTimestamp"), now)], None


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
    return [_meta(obj).get("name", ""), obj.get("addressType", ""), _first_three(ports, len(ports)),
            _first_three(addresses, len(addresses)), since(_meta(obj).get("creationTimestamp"), now)], None


@_printer("storage.k8s.io", "StorageClass", _NAME,
          ("Provisioner", "string", 0, "Name of the volume provisioner."),
          ("ReclaimPolicy", "string", 0, "What happens to dynamically provisioned volumes when released."),
          ("VolumeBindingMode", "string", 0, "When volumes are bound and provisioned."),
          ("AllowVolumeExpansion", "string", 0, "Whether volumes of this class can be expanded."), _AGE)
def _storageclass(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    annotations = _meta(obj).get("annotations") or {}
    name = _meta(obj).get("name", "")
    if "true" in (annotations.get("storageclass.kubernetes.io/is-default-class"),
                  annotations.get("storageclass.beta.kubernetes.io/is-default-class")):
        name += " (default)"
    return [name, obj.get("provisioner", ""), obj.get("reclaimPolicy") or "Delete",
            obj.get("volumeBindingMode") or "Immediate", bool(obj.get("allowVolumeExpansion")),
            since(_meta(obj).get("creationTimestamp"), now)], None


@_printer("scheduling.k8s.io", "PriorityClass", _NAME,
          ("Value", "integer", 0, "The priority of pods that name this class."),
          ("Global-Default", "boolean", 0, "Whether pods without a class get this one."), _AGE,
          ("PreemptionPolicy", "string", 0, "Whether pods of this class may preempt lower-priority pods."))
def _priorityclass(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    return [_meta(obj).get("name", ""), obj.get("value", 0), bool(obj.get("globalDefault")),
            since(_meta(obj).get("creationTimestamp"), now),
            obj.get("preemptionPolicy") or "PreemptLowerPriority"], None


@_printer("policy", "PodDisruptionBudget", _NAME,
          ("Min Available", "string", 0, "The minimum number of pods that must be available."),
          ("Max Unavailable", "string", 0, "The maximum number of pods that may be unavailable."),
          ("Allowed Disruptions", "integer", 0, "Calculated number of pods that may be disrupted at this time."),
          _AGE)
def _pdb(obj: Obj, now: datetime) -> tuple[list[Any], Conditions]:
    spec = obj.get("spec") or {}
    shown = ["N/A" if spec.get(k) is None else str(spec[k]) for k in ("minAvailable", "maxUnavailable")]
    return [_meta(obj).get("name", ""), *shown, int(_get(obj, "status", "disruptionsAllowed") or 0),
            since(_meta(obj).get("creationTimestamp"), now)], None
