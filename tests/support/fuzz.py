"""The write-path fuzzer of ``tests/api/test_bad_input_fuzz.py``: valid objects of a
dozen kinds, the ways hypothesis breaks them (``Mutation``, ``write_cases``,
``json_patches``), and ``Fuzzer``, the raw-HTTP client that sends each case to a real
server and checks the answer (a success, or a ``Status`` that is never a 5xx) and what it
left behind. The test module holds the tests and the examples found."""

from __future__ import annotations

import copy
import datetime
import itertools
import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import requests as http
import yaml
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from tests.support import processes
from tests.support.rawapi import Api

Obj = dict[str, Any]
Steps = tuple[str | int, ...]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
EXAMPLES = int(os.environ.get("KUBELITE_FUZZ_EXAMPLES") or 0)  # per test; 0: each test's default
REQUEST_TIMEOUT = 10.0  # seconds; a 1 MiB body on a slow CI core takes well under one
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
UNSCHEDULED = "fuzz-no-such-scheduler"  # pods the fuzzer creates never take a place on a node
# Words of Python, not of Kubernetes: a message carrying them was an exception's str().
PYTHON_WORDS = ("Traceback", "NoneType", "object has no attribute", "not subscriptable", "is not iterable",
                "unhashable type", "unsupported operand", "positional argument", "KeyError", "TypeError",
                "AttributeError", "ValueError", "RecursionError", "maximum recursion depth")


def fuzz_settings(default_examples: int) -> Callable[[Any], Any]:
    """Hypothesis settings and a pytest timeout for ``default_examples`` examples (or the override)."""
    examples = EXAMPLES or default_examples
    bounded = pytest.mark.timeout(120 + examples)  # an example takes ~50 ms; 1 s each is a hang
    # No "explain" phase: it traces this process, and the failing code runs in the server's.
    # CI does not shrink either: a failure's message already holds the exact request, the
    # answer and the server's traceback, and shrinking a hang costs a request timeout a step.
    # A bug hunt (KUBELITE_FUZZ_EXAMPLES) skips the pinned examples: one that still fails would
    # end each test before it generated anything new.
    phases = ([] if EXAMPLES else [Phase.explicit]) + [Phase.reuse, Phase.generate, Phase.target] \
        + ([] if IN_CI else [Phase.shrink])
    chosen = settings(max_examples=examples, deadline=None, derandomize=IN_CI, print_blob=not IN_CI, phases=phases,
                      suppress_health_check=list(HealthCheck), **({"database": None} if IN_CI else {}))
    return lambda test: bounded(chosen(test))


# --- valid objects to start from ------------------------------------------------------------

def _pod_spec() -> Obj:
    return {"schedulerName": UNSCHEDULED, "restartPolicy": "Always", "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "app", "image": "busybox:1.36", "command": ["sleep", "3600"],
                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                            "env": [{"name": "MODE", "value": "fuzz"}],
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                          "limits": {"cpu": "1", "memory": "128Mi"}},
                            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
                            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}]}],
            "volumes": [{"name": "cfg", "configMap": {"name": "settings"}}],
            "nodeSelector": {"disk": "ssd"},
            "tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}]}


def _meta(name: str, **extra: Any) -> Obj:
    return {"name": name, "labels": {"app": "fuzz"}, "annotations": {"fuzz.kubelite.io/note": "x"}, **extra}


def _template(app: str = "fuzz") -> Obj:
    return {"metadata": {"labels": {"app": app}}, "spec": _pod_spec()}


def _workload(kind: str, name: str, spec: Obj) -> Obj:
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": _meta(name),
            "spec": {"selector": {"matchLabels": {"app": "fuzz"}}, "template": _template(), **spec}}


TIME = "2024-01-01T00:00:00Z"
MICROTIME = "2024-01-01T00:00:00.000000Z"


@dataclass(frozen=True)
class Kind:
    """A resource the fuzzer writes: where it lives, and a valid object of it."""

    plural: str
    api_version: str
    build: Callable[[str, str], Obj]  # (name, namespace) → a valid object

    def collection(self, namespace: str | None) -> str:
        root = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        return f"{root}/namespaces/{namespace}/{self.plural}" if namespace else f"{root}/{self.plural}"

    def item(self, namespace: str, name: str) -> str:
        return f"{self.collection(namespace)}/{quote(name, safe='')}"

    def __repr__(self) -> str:
        return f"Kind({self.api_version}/{self.plural})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how Hypothesis prints a failing case
        printer.text(repr(self))


KINDS = (
    Kind("pods", "v1", lambda n, ns: {"apiVersion": "v1", "kind": "Pod", "metadata": _meta(n), "spec": _pod_spec()}),
    Kind("deployments", "apps/v1", lambda n, ns: _workload("Deployment", n, {
        "replicas": 1, "paused": True, "revisionHistoryLimit": 2, "minReadySeconds": 0,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}}})),
    Kind("statefulsets", "apps/v1", lambda n, ns: _workload("StatefulSet", n, {
        "replicas": 0, "serviceName": "fuzz", "podManagementPolicy": "Parallel",
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]})),
    Kind("services", "v1", lambda n, ns: {"apiVersion": "v1", "kind": "Service", "metadata": _meta(n), "spec": {
        "type": "ClusterIP", "selector": {"app": "fuzz"}, "sessionAffinity": "None",
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}),
    Kind("configmaps", "v1", lambda n, ns: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(n),
                                            "data": {"k": "v", "config.yaml": "a: 1\n"},
                                            "binaryData": {"blob": "AAEC"}}),
    Kind("secrets", "v1", lambda n, ns: {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(n),
                                         "type": "Opaque", "data": {"password": "aHVudGVyMg=="},
                                         "stringData": {"user": "admin"}}),
    Kind("jobs", "batch/v1", lambda n, ns: {"apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(n), "spec": {
        "suspend": True, "backoffLimit": 2, "completions": 1, "parallelism": 1, "activeDeadlineSeconds": 600,
        "template": {"spec": {**_pod_spec(), "restartPolicy": "Never"}}}}),
    Kind("cronjobs", "batch/v1", lambda n, ns: {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": _meta(n),
                                                "spec": {"schedule": "*/5 * * * *", "suspend": True,
                                                         "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid",
                                                         "jobTemplate": {"spec": {"template": {"spec": {
                                                             **_pod_spec(), "restartPolicy": "Never"}}}}}}),
    Kind("events", "v1", lambda n, ns: {
        "apiVersion": "v1", "kind": "Event", "metadata": _meta(n), "reason": "Fuzzed", "message": "fuzzed",
        "type": "Normal", "count": 1, "firstTimestamp": TIME, "lastTimestamp": TIME,
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": ns, "name": "somepod"},
        "source": {"component": "fuzz"}, "reportingComponent": "fuzz", "reportingInstance": "fuzz-1"}),
    Kind("events", "events.k8s.io/v1", lambda n, ns: {
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": _meta(n), "eventTime": MICROTIME,
        "reportingController": "fuzz.kubelite.io/fuzzer", "reportingInstance": "fuzz-1", "action": "Fuzz",
        "reason": "Fuzzed", "note": "fuzzed", "type": "Warning",
        "regarding": {"apiVersion": "v1", "kind": "Pod", "namespace": ns, "name": "somepod"}}),
    Kind("persistentvolumeclaims", "v1", lambda n, ns: {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta(n),
        "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem", "storageClassName": "fuzz-none",
                 "resources": {"requests": {"storage": "1Gi"}}}}),
    Kind("leases", "coordination.k8s.io/v1", lambda n, ns: {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": _meta(n),
        "spec": {"holderIdentity": "fuzz-1", "leaseDurationSeconds": 15, "acquireTime": MICROTIME,
                 "renewTime": MICROTIME, "leaseTransitions": 0}}),
    Kind("poddisruptionbudgets", "policy/v1", lambda n, ns: {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(n),
        "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "fuzz"}}}}),
    Kind("replicationcontrollers", "v1", lambda n, ns: {
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": _meta(n),
        "spec": {"replicas": 0, "minReadySeconds": 0, "selector": {"app": "fuzz"}, "template": _template()}}),
    Kind("ingresses", "networking.k8s.io/v1", lambda n, ns: {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": _meta(n),
        "spec": {"ingressClassName": "fuzz", "tls": [{"hosts": ["fuzz.example.com"], "secretName": "fuzz-tls"}],
                 "rules": [{"host": "fuzz.example.com", "http": {"paths": [
                     {"path": "/api", "pathType": "Prefix",
                      "backend": {"service": {"name": "fuzz", "port": {"name": "http"}}}}]}}]}}),
    Kind("networkpolicies", "networking.k8s.io/v1", lambda n, ns: {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(n),
        "spec": {"podSelector": {"matchLabels": {"app": "fuzz"}}, "policyTypes": ["Ingress", "Egress"],
                 "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                                       {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "fuzz"}}}],
                              "ports": [{"protocol": "TCP", "port": 80, "endPort": 90}]}],
                 "egress": [{"to": [{"podSelector": {}}], "ports": [{"port": "dns", "protocol": "UDP"}]}]}}),
)


# --- how objects are broken ---------------------------------------------------------------------

class Deep:
    """A value nested ``depth`` levels (lists or objects), written straight into the body text:
    no encoder in this process would write it."""

    def __init__(self, depth: int, shape: str) -> None:
        self.depth, self.shape = depth, shape

    def text(self) -> str:
        if self.shape == "[":
            return "[" * self.depth + "]" * self.depth
        return '{"a":' * self.depth + "1" + "}" * self.depth

    def __repr__(self) -> str:
        return f"Deep({self.depth}, {self.shape!r})"


def short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}...({len(text)} characters)"


@dataclass(frozen=True)
class Mutation:
    op: str  # replace | delete | unknown (add a field) | deep | directive (a strategic-merge "$" key)
    path: Steps
    value: Any = None
    key: str = ""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # a megabyte value printed whole helps nobody
        key = f", key={self.key!r}" if self.key else ""
        printer.text(f"Mutation({self.op!r}, {self.path!r}, {short(self.value)}{key})")


ODD_STRINGS = (
    "", " ", "12Q", "-1", "1e400", "0x1F", "1.5.5", "-5Mi", "1Ei", "99999999999999999999999Ki", "100m", "NaN",
    "Bad_Name!", "-leading-dash", "trailing-dash-", "UPPER", "a/b", "..", "a" * 64, "a" * 254, "a.-b",
    "2024-13-45T99:99:99Z", "yesterday", "999.1.1.1", "::1", "None", "NodePort", "LoadBalancer", "ExternalName",
    "Never", "OnFailure", "IfNotPresent", "UDP", "SCTP", "Exists", "*/0 * * * *", "@every 0s", "Mars/Olympus",
    "\x00", "\ud800", "\udfff\ud800", "\u202e", "\U0001f600", "\u00e9", "$(UNDEFINED)", "key=value", "a,b", "%zz",
    "\\xff\\xfe", "line\nbreak", "50%%", "101%", "-1%",
)
# Nesting around the limits a decoder, an encoder or Python's recursion has: orjson writes 254
# levels and reads 1023, Python recurses about 1000 frames, libyaml does not stop at all.
DEPTHS = (64, 600, 1100, 5000, 50_000)
LONG_STRINGS = ("x" * 100_000, "y" * (1024 * 1024 + 1))
EDGE_INTS = (-1, 0, 2**31 - 1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**100)
# Values a YAML body can carry and a JSON body cannot (sent as strings in JSON bodies).
YAML_ONLY = (datetime.date(2024, 1, 1), datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
             b"\x00\xffbinary", {"a", "b"}, {1: "int key"}, {None: "null key"}, {True: "bool key"},
             {1.5: "float key"})
# Right-looking shapes with wrong insides.
ODD_SHAPES = (
    [{"manager": "m", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": 5}}],
    [{"manager": 5, "operation": "Bogus", "time": "never"}], ["not-an-entry"],
    [{"apiVersion": "v1", "kind": "Pod", "name": "x", "uid": "not-a-uid", "controller": True,
      "blockOwnerDeletion": "yes"}],
    [{"name": "a"}], [{}], [{"name": "app", "image": ""}], [{"name": "app"}, {"name": "app"}],
    {"cpu": "12Q", "memory": -1}, {"nvidia.com/gpu": "1.5"}, {"requests": {"storage": "-1Gi"}},
    {"matchExpressions": [{"key": "a", "operator": "Bogus", "values": 5}]}, {"matchLabels": {"a": 5}},
    {"httpGet": {"port": "a-port-name-far-too-long"}},
    [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "nope"}}}],
    [{"containerPort": 70000}], [{"port": 80}, {"port": 80}], {"$patch": "delete"},
    {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "x%", "maxUnavailable": -3}},
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.sampled_from(EDGE_INTS),
                    st.floats(), st.text(max_size=12), st.sampled_from(ODD_STRINGS))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.text(max_size=6), SCALARS, max_size=3),
                   st.sampled_from(YAML_ONLY), st.sampled_from(ODD_SHAPES), st.sampled_from(LONG_STRINGS))
FIELD_NAMES = st.one_of(st.sampled_from(["fuzzUnknown", "spec", "metadata", "", "$patch", "a\nb", "\u00e9t\u00e9",
                                         "x" * 300]), st.text(max_size=8))
DIRECTIVES = ("$patch", "$retainKeys", "$setElementOrder/containers", "$setElementOrder/ports",
              "$deleteFromPrimitiveList/finalizers", "$deleteFromPrimitiveList/command", "$unknownDirective")
# Fields a server fills in: a client may send them anyway, broken.
SERVER_FIELDS: tuple[Steps, ...] = (
    ("metadata", "resourceVersion"), ("metadata", "uid"), ("metadata", "generateName"), ("metadata", "namespace"),
    ("metadata", "creationTimestamp"), ("metadata", "deletionTimestamp"), ("metadata", "deletionGracePeriodSeconds"),
    ("metadata", "generation"), ("metadata", "finalizers"), ("metadata", "ownerReferences"),
    ("metadata", "managedFields"), ("metadata", "selfLink"), ("status",), ("status", "phase"), ("status", "conditions"),
)


def walk(doc: Any, prefix: Steps = ()) -> Iterator[Steps]:
    """Every path in ``doc``: the root, then each key and list index, depth first."""
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from walk(value, prefix + (key,))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from walk(value, prefix + (index,))


def _paths(kind: Kind) -> list[Steps]:
    return sorted(set(walk(kind.build("placeholder", "ns"))) | set(SERVER_FIELDS), key=lambda p: (len(p), repr(p)))


PATHS = {kind: _paths(kind) for kind in KINDS}


def _descend(doc: Any, steps: Steps) -> Any:
    """The node at ``steps``, making the missing objects on the way; None where a step cannot go."""
    for step in steps:
        if isinstance(doc, dict) and isinstance(step, str):
            doc = doc.setdefault(step, {})
        elif isinstance(doc, list) and isinstance(step, int) and step < len(doc):
            doc = doc[step]
        else:
            return None
    return doc


def mutate(doc: Obj, plan: list[Mutation]) -> Any:
    """``doc`` with each mutation applied in turn (a mutation whose path is gone is skipped)."""
    out: Any = copy.deepcopy(doc)
    for m in plan:
        value = copy.deepcopy(m.value)  # strategies hand out shared constants
        if m.op in ("unknown", "directive"):
            target = _descend(out, m.path)
            if isinstance(target, dict):
                target[m.key] = value
            elif isinstance(target, list):
                target.append({m.key: value})
            continue
        if not m.path:
            out = {} if m.op == "delete" else value
            continue
        parent, last = _descend(out, m.path[:-1]), m.path[-1]
        if isinstance(parent, dict) and isinstance(last, str):
            if m.op == "delete":
                parent.pop(last, None)
            else:
                parent[last] = value
        elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
            if m.op == "delete":
                del parent[last]
            else:
                parent[last] = value
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise TypeError(repr(value))


def encode(doc: Any, fmt: str) -> tuple[bytes, str]:
    """(body, content type) of ``doc`` as ``json`` (\\u escapes), ``json-raw`` (lone surrogates
    as the invalid UTF-8 they make) or ``yaml``; ``Deep`` values are spliced into the text."""
    deep: dict[str, Deep] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, Deep):
            marker = f"fuzzdeepmarker{len(deep)}x"
            deep[marker] = value
            return marker
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    plain = swap(doc)
    if fmt == "yaml":
        text = yaml.safe_dump(plain, allow_unicode=True, sort_keys=False, width=1 << 30)
        for marker, value in deep.items():
            text = text.replace(marker, value.text(), 1)
        return text.encode("utf-8", "surrogatepass"), "application/yaml"
    text = json.dumps(plain, default=_json_default, ensure_ascii=fmt == "json")
    for marker, value in deep.items():
        text = text.replace(f'"{marker}"', value.text(), 1)
    return text.encode("utf-8", "surrogatepass"), "application/json"


@st.composite
def mutations(draw: st.DrawFn, kind: Kind, ops: tuple[str, ...]) -> Mutation:
    op = draw(st.sampled_from(ops))
    path = draw(st.sampled_from(PATHS[kind]))
    if op == "replace":
        return Mutation(op, path, draw(VALUES))
    if op == "unknown":
        return Mutation(op, path, draw(VALUES), key=draw(FIELD_NAMES))
    if op == "deep":
        return Mutation(op, path, Deep(draw(st.sampled_from(DEPTHS)), draw(st.sampled_from("[{"))))
    if op == "directive":
        value = draw(st.one_of(st.sampled_from(("delete", "replace", "merge", "bogus")), VALUES))
        return Mutation(op, path, value, key=draw(st.sampled_from(DIRECTIVES)))
    return Mutation(op, path)


BREAKING = ("replace", "replace", "replace", "delete", "unknown", "deep")


def plans(kind: Kind, ops: tuple[str, ...] = BREAKING) -> st.SearchStrategy[list[Mutation]]:
    return st.lists(mutations(kind, ops), min_size=1, max_size=3)


def write_params(**extra: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries({}, optional={
        "fieldValidation": st.sampled_from(("Strict", "Warn", "Ignore", "strict", "Bogus", "")),
        "dryRun": st.sampled_from(("All", "All", "Some", "")),
        "fieldManager": st.sampled_from(("fuzz", "", "m" * 200, "bad\nmanager", "\u00fc")),
        **extra})


@dataclass(frozen=True)
class WriteCase:
    """One broken write: the kind, how its object is broken, the body format, the query."""

    kind: Kind
    plan: list[Mutation]
    fmt: str
    params: dict[str, str]
    extra: Any = None  # whether an update sends resourceVersion, the patch, or apply's target


FORMATS = ("json", "json-raw", "yaml")


@st.composite
def write_cases(draw: st.DrawFn, *, ops: tuple[str, ...] = BREAKING, fmts: tuple[str, ...] = FORMATS,
                params: st.SearchStrategy[dict[str, str]] | None = None,
                extra: Callable[[Kind], st.SearchStrategy[Any]] = lambda kind: st.none()) -> WriteCase:
    kind = draw(st.sampled_from(KINDS))
    return WriteCase(kind, draw(plans(kind, ops)), draw(st.sampled_from(fmts)),
                     draw(params if params is not None else write_params()), draw(extra(kind)))


POINTER_ODDITIES = ("", "/", "no-leading-slash", "/metadata/labels/a~1b", "/metadata/~2", "/spec/containers/-",
                    "/spec/containers/99", "/spec/containers/-1", "/spec/containers/01", "/metadata/name/x",
                    "/metadata/labels/new", "/data/-", "/status")


def _pointer(steps: Steps) -> str:
    return "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in steps)


@st.composite
def json_patches(draw: st.DrawFn, kind: Kind) -> list[Any]:
    """A JSON patch: operations on the object's own paths and on odd ones, some not operations at all."""
    pointers = st.one_of(st.sampled_from([_pointer(p) for p in PATHS[kind]]), st.sampled_from(POINTER_ODDITIES),
                         st.text(max_size=8))
    operation = st.fixed_dictionaries(
        {"op": st.sampled_from(("add", "remove", "replace", "move", "copy", "test", "bogus", "ADD"))},
        optional={"path": pointers, "value": st.one_of(VALUES, st.builds(Deep, st.sampled_from(DEPTHS),
                                                                        st.sampled_from("[{"))),
                  "from": pointers})
    return draw(st.lists(st.one_of(operation, operation, operation, SCALARS), max_size=4))


# --- the client, the checks and the invariants ----------------------------------------------

@dataclass
class Exchange:
    """One request and the server's answer, with what the server logged meanwhile."""

    method: str
    path: str
    params: dict[str, str]
    content_type: str
    body: bytes | None
    status: int
    text: str
    headers: Any
    log: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def __str__(self) -> str:
        body = self.body or b""
        shown = body[:2000] + (b"...(%d bytes)" % len(body) if len(body) > 2000 else b"")
        return (f"{self.method} {self.path} params={self.params} Content-Type: {self.content_type!r}\n"
                f"body: {shown!r}\n→ {self.status} {self.headers.get('Content-Type')}: {self.text[:2000]}\n"
                f"server log meanwhile:\n{head_and_tail(self.log)}")


def _context(ex: Exchange, after: Exchange | None) -> str:
    return str(ex) if after is None else f"{ex}\n... after this write:\n{after}"


def head_and_tail(log: str) -> str:
    """A log excerpt that keeps both where a traceback starts and the exception it ends with."""
    return log if len(log) <= 8000 else f"{log[:4000]}\n[... {len(log) - 7000} characters ...]\n{log[-3000:]}"


class Fuzzer:
    """Sends raw requests into one namespace and checks the answers against the rule."""

    def __init__(self, api: Api, server: processes.ServerProcess, namespace: str) -> None:
        self.api, self.server, self.ns = api, server, namespace
        self.names = itertools.count()
        self.log_start = self._log_size()  # the tail written while this module runs
        self.crashes: list[str] = []  # the server's deaths (it is restarted after each)

    def _log_size(self) -> int:
        return self.server.log_path.stat().st_size if self.server.log_path else 0

    def _revive(self) -> None:
        """Restart a server an earlier request took down (same data, port and credentials), so
        that only the request that crashed it fails, and Hypothesis can shrink that one."""
        assert self.server.proc is not None
        tail = self.log_since(max(0, self._log_size() - 3000))
        self.crashes.append(f"exit code {self.server.proc.returncode}; log:\n{tail}")
        self.server.start()

    def _exit_code(self) -> int | None:
        """The server's exit code if it is dying or dead (a crash takes a moment to be seen)."""
        try:
            return self.server.proc.wait(timeout=2) if self.server.proc else None
        except subprocess.TimeoutExpired:
            return None

    def log_since(self, offset: int) -> str:
        if self.server.log_path is None:
            return ""
        with open(self.server.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def send(self, method: str, path: str, *, body: bytes | None = None, content_type: str = "application/json",
             params: dict[str, str] | None = None, accept: str | None = None) -> Exchange:
        if self.server.proc is not None and self.server.proc.poll() is not None:
            self._revive()
        offset, params = self._log_size(), params or {}
        headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
        try:
            resp = self.api.session.request(method, self.api.url + path, data=body, headers=headers, params=params,
                                            verify=str(self.api.ca), timeout=REQUEST_TIMEOUT)
        except http.RequestException as exc:
            died = self._exit_code()
            raise AssertionError(f"no answer to {method} {path} params={params} Content-Type: {content_type!r} "
                                 f"body: {(body or b'')[:2000]!r}: {exc!r}"
                                 + (f"\nthe server exited with {died}" if died is not None else "")
                                 + f"\nserver log meanwhile:\n{head_and_tail(self.log_since(offset))}") from None
        log = self.log_since(offset) if resp.status_code >= 500 or b"Traceback" in resp.content else ""
        return Exchange(method, path, params, content_type, body, resp.status_code, resp.text, resp.headers, log)

    def check(self, ex: Exchange, *, after: Exchange | None = None) -> Any:
        """The rule for one answer (``after``: the write it reads back); returns the answer's JSON."""
        assert ex.status < 500, f"a server error instead of a Status:\n{_context(ex, after)}"
        assert "Traceback (most recent call last)" not in ex.text, f"a traceback in the answer:\n{_context(ex, after)}"
        try:
            answer = json.loads(ex.text)
        except ValueError:
            raise AssertionError(f"the answer is not JSON:\n{_context(ex, after)}") from None
        if ex.ok:
            assert isinstance(answer, dict), f"a success that is not an object:\n{_context(ex, after)}"
            return answer
        assert ex.headers.get("Content-Type", "").startswith("application/json"), f"not JSON:\n{ex}"
        assert isinstance(answer, dict) and answer.get("kind") == "Status" and answer.get("apiVersion") == "v1", \
            f"an error that is not a Status:\n{_context(ex, after)}"
        assert answer.get("status") == "Failure" and answer.get("code") == ex.status, \
            f"a Status that lies:\n{_context(ex, after)}"
        assert isinstance(answer.get("reason"), str) and answer["reason"], \
            f"a Status without a reason:\n{_context(ex, after)}"
        message = answer.get("message")
        assert isinstance(message, str) and message.strip(), f"a Status without a message:\n{_context(ex, after)}"
        leaked = [w for w in PYTHON_WORDS if w in message]
        assert not leaked, f"a message in Python's words {leaked}, not one a person can act on:\n{_context(ex, after)}"
        return answer

    def name(self, kind: Kind) -> str:
        return f"fz-{kind.plural[:6]}-{next(self.names)}-{uuid.uuid4().hex[:4]}"

    def create_valid(self, kind: Kind) -> Obj:
        """A fresh valid object of ``kind``, as the server stored it."""
        body, _ = encode(kind.build(self.name(kind), self.ns), "json")
        ex = self.send("POST", kind.collection(self.ns), body=body)
        created = self.check(ex)
        assert ex.status == 201, f"the valid {kind.plural} template was refused:\n{ex}"
        return created  # type: ignore[no-any-return]

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> Exchange:
        return self.send("GET", kind.item(namespace or self.ns, name))

    def assert_readable(self, kind: Kind, written: Obj, cause: Exchange) -> None:
        """What a write stored answers a GET, a list and a Table list."""
        md = written.get("metadata")
        assert isinstance(md, dict) and isinstance(md.get("name"), str), f"a write answered without a name:\n{cause}"
        got = self.get(kind, md["name"], md.get("namespace") or self.ns)
        self.check(got, after=cause)
        gone_by_gc = got.status == 404 and bool(md.get("ownerReferences"))  # its owner does not exist
        assert got.status == 200 or gone_by_gc, f"a write that succeeded cannot be read back:\n{cause}\n{got}"
        for accept in (None, TABLE):
            listed = self.send("GET", kind.collection(md.get("namespace") or self.ns), accept=accept)
            self.check(listed, after=cause)
            assert listed.status == 200, f"the list fails:\n{_context(listed, cause)}"

    def assert_unchanged(self, kind: Kind, before: Obj, cause: Exchange) -> None:
        """A refused or dry-run write left the object as it was."""
        got = self.get(kind, before["metadata"]["name"])
        after = self.check(got, after=cause)
        assert got.status == 200, f"the object is gone after a refused or dry-run write:\n{cause}\n{got}"
        assert content(after) == content(before), \
            f"a refused or dry-run write changed the object:\n{cause}\nbefore: {before}\nafter: {after}"

    def assert_absent(self, kind: Kind, name: str, cause: Exchange) -> None:
        got = self.get(kind, name)
        self.check(got, after=cause)
        assert got.status == 404, f"a refused or dry-run create stored the object:\n{cause}\n{got}"

    def after_write(self, kind: Kind, ex: Exchange, *, before: Obj | None, name: str) -> None:
        """The invariants after a write of ``name`` (``before``: the object it found, None for a create)."""
        answer = self.check(ex)
        dry_run = ex.params.get("dryRun") == "All"
        if ex.ok and not dry_run:
            self.assert_readable(kind, answer, ex)
        elif before is not None:
            self.assert_unchanged(kind, before, ex)
        elif ex.status != 409:  # AlreadyExists: a broken name that an earlier example used
            self.assert_absent(kind, name, ex)

    def remove(self, kind: Kind, name: str) -> None:
        self.check(self.send("DELETE", kind.item(self.ns, name), params={"gracePeriodSeconds": "0"}))


def content(obj: Obj) -> Obj:
    """What a user wrote into an object: its fields but status, and the metadata a user sets
    (not finalizers: the PVC protection controller adds one to a new claim whenever it gets to it)."""
    md = obj.get("metadata") or {}
    return {**{k: v for k, v in obj.items() if k not in ("metadata", "status")},
            "metadata": {k: md.get(k) for k in ("name", "labels", "annotations")}}
