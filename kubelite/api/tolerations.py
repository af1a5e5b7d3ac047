"""Upstream's ``DefaultTolerationSeconds`` admission plugin
(plugin/pkg/admission/defaulttolerationseconds), on pod create only.

A pod that does not tolerate the node lifecycle controller's NoExecute taints
``node.kubernetes.io/not-ready`` and ``node.kubernetes.io/unreachable`` gets a toleration
of each, ``operator: Exists``, for a limited time: so its eviction from a failed node is
written in its spec, where ``kubectl get pod -o yaml`` shows it and a user can change it,
and the node lifecycle controller's taint-based eviction needs no default of its own.
A toleration already counts when its key is the taint's or empty and its effect is
NoExecute or empty, whatever its operator, as upstream's.

Called by ``apiserver.strategies.pods.PodStrategy.admit_create`` unless the server runs
with ``--disable-admission-plugins=DefaultTolerationSeconds``; the seconds are the
server's ``--default-not-ready-toleration-seconds`` and
``--default-unreachable-toleration-seconds`` (``cli.main``). Their default is kubelite's,
``DEFAULT_SECONDS``, not upstream's 300: kubelite moves the work of a lost node within
seconds (docs/ha.md); ``controllers.nodelifecycle`` uses the same number for pods that
were admitted without the plugin.

Every pod create runs this, so it is a loop over the pod's own tolerations (mostly
none) and two small dicts made for this pod alone: no copies, nothing shared between
pods (a later writer may change one pod's toleration in place).
"""

from __future__ import annotations

from typing import Any, Final

Obj = dict[str, Any]

PLUGIN: Final = "DefaultTolerationSeconds"  # its name for --disable-admission-plugins
NOT_READY: Final = "node.kubernetes.io/not-ready"
UNREACHABLE: Final = "node.kubernetes.io/unreachable"
# kubelite's default toleration of not-ready and unreachable, in seconds; upstream's is 300
DEFAULT_SECONDS: Final = 3
UPSTREAM_DEFAULT_SECONDS: Final = 300
# the environment variable that changes DEFAULT_SECONDS for the server's flags and the
# node lifecycle controller alike (tests run with short timings)
DEFAULT_SECONDS_ENV: Final = "KUBELITE_DEFAULT_TOLERATION_SECONDS"


def add_default_tolerations(pod: Obj, *, not_ready_seconds: int, unreachable_seconds: int) -> None:
    """Append the not-ready and unreachable NoExecute tolerations the pod lacks, in place.
    The pod has passed validation: ``spec.tolerations`` is absent or a list of dicts."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    tolerations = spec.get("tolerations")
    not_ready = unreachable = False
    for t in tolerations or ():
        effect = t.get("effect")
        if effect and effect != "NoExecute":
            continue
        key = t.get("key")
        if not key:
            not_ready = unreachable = True
            break
        if key == NOT_READY:
            not_ready = True
        elif key == UNREACHABLE:
            unreachable = True
    if not_ready and unreachable:
        return
    if tolerations is None:
        tolerations = spec["tolerations"] = []
    if not not_ready:
        tolerations.append({"key": NOT_READY, "operator": "Exists", "effect": "NoExecute",
                            "tolerationSeconds": not_ready_seconds})
    if not unreachable:
        tolerations.append({"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                            "tolerationSeconds": unreachable_seconds})
