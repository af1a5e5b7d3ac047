"""The ReplicationController controller: core/v1 ReplicationControllers kept as the
ReplicaSet controller keeps ReplicaSets (upstream's replication manager is the ReplicaSet
controller behind a conversion, pkg/controller/replication).

An RC differs only in its names and its selector, a plain label map (``spec.selector:
{app: web}``; defaulting copies the template's labels into it). Its pods carry the
controller reference ``v1``/``ReplicationController``; the garbage collector deletes them
with it (``kubectl delete rc`` asks for Background) or orphans them (a v1 DELETE that
names no propagation policy, as upstream).
"""

from __future__ import annotations

from typing import Any

from kubelite.api import selectors
from kubelite.client import resources
from kubelite.controllers import replicaset

Obj = dict[str, Any]


def map_selector(obj: Obj) -> selectors.LabelSelector:
    """``spec.selector`` as a matcher; a missing or empty map matches nothing."""
    selector = (obj.get("spec") or {}).get("selector")
    if not isinstance(selector, dict) or not selector:
        return selectors.LabelSelector.match_nothing()
    return selectors.from_selector_dict({"matchLabels": selector})


class ReplicationControllerController(replicaset.ReplicaSetController):
    name = "replicationcontroller"
    event_source = "replication-controller"
    workers = 4
    resource = resources.REPLICATIONCONTROLLERS
    kind = "ReplicationController"
    api_version = "v1"

    def selector_of(self, rs: Obj) -> selectors.LabelSelector:
        return map_selector(rs)
