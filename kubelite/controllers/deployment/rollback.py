"""Revisions and rollback: how ``kubectl rollout undo`` works against this controller.

kubectl undoes a rollout client-side: it JSON-patches the Deployment's ``spec.template``
back to an old ReplicaSet's template (hash label removed) and its annotations back to
that ReplicaSet's (keeping the Deployment-only ones). The controller then finds the old
ReplicaSet as the *new* one (its template matches) and, instead of creating a copy,
gives it revision ``max+1`` and records the revision it had before in
``deployment.kubernetes.io/revision-history`` — so ``rollout history`` lists each
template once, under its latest revision. ``kubectl rollout history`` and
``undo --to-revision`` read exactly these annotations.

Called by ``deployment.sync`` when it settles the new ReplicaSet.
"""

from __future__ import annotations

from typing import Any

from kubelite.controllers import base
from kubelite.controllers.deployment import util

Obj = dict[str, Any]

MAX_HISTORY_CHARS = 2000  # upstream caps revision-history the same way (by length)


def set_new_rs_annotations(d: Obj, rs: Obj, *, new_revision: int, exists: bool) -> bool:
    """Bring ``rs`` (the Deployment's new ReplicaSet) up to ``new_revision``; True when
    anything changed. A ReplicaSet whose revision is already at least ``new_revision``
    keeps it (revisions never go down)."""
    changed = util.copy_annotations(d, rs)
    ann = rs.setdefault("metadata", {}).setdefault("annotations", {})
    old = ann.get(util.REVISION, "")
    try:
        old_n = int(old) if old else 0
    except ValueError:
        old_n = 0
    if old_n < new_revision:
        ann[util.REVISION] = str(new_revision)
        changed = True
        if old:
            history = [h for h in (ann.get(util.REVISION_HISTORY) or "").split(",") if h]
            history.append(old)
            text = ",".join(history)
            while len(text) > MAX_HISTORY_CHARS and history:
                history.pop(0)
                text = ",".join(history)
            ann[util.REVISION_HISTORY] = text
    if not exists:
        util.set_replica_annotations(rs, desired=util.replicas(d),
                                     maximum=util.replicas(d) + util.max_surge(d))
        changed = True
    return changed


def deployment_revision_patch(d: Obj, rev: str) -> Obj | None:
    """The merge patch that sets the Deployment's revision annotation, if it differs."""
    if not rev or base.annotations_of(d).get(util.REVISION) == rev:
        return None
    return {"metadata": {"annotations": {util.REVISION: rev}}}
