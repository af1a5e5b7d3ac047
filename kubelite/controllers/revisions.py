"""ControllerRevisions for StatefulSets and DaemonSets: one immutable snapshot of the
pod template per distinct template, named ``<owner>-<hash>``, numbered by
``revision`` (max+1 when a template is (re)introduced, so ``kubectl rollout history``
and ``undo`` work on them), with old ones pruned beyond ``revisionHistoryLimit``.

Called by ``statefulset`` and ``daemonset``.
"""

from __future__ import annotations

from typing import Any

import orjson

from kubelite.client import errors, resources, rest
from kubelite.controllers import base
from kubelite.controllers.deployment import util

Obj = dict[str, Any]
HASH_LABEL = "controller-revision-hash"


def revision_data(template: Obj) -> Obj:
    """What upstream stores: a strategic-merge patch that replaces the template."""
    t = util.strip_hash(template)
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return {"spec": {"template": {**t, "$patch": "replace"}}}


def template_of(rev: Obj) -> Obj:
    data = base.copy(rev.get("data") or {})
    t: Obj = ((data.get("spec") or {}).get("template")) or {}
    t.pop("$patch", None)
    return t


def revision_name(owner: Obj, template: Obj, collisions: int | None) -> str:
    data = orjson.dumps(util._normalize(revision_data(template)), option=orjson.OPT_SORT_KEYS)
    if collisions:
        data += int(collisions).to_bytes(4, "little")
    digits = str(util.fnv32a(data))
    return f"{base.name_of(owner)}-{''.join(util._SAFE[int(c) % len(util._SAFE)] for c in digits)}"[:63]


async def ensure(client: rest.Client, *, owner: Obj, kind: str, owned: list[Obj]) -> tuple[Obj, list[Obj]]:
    """The revision for ``owner``'s current template (created or re-numbered as needed),
    and all revisions it owns."""
    template = (owner.get("spec") or {}).get("template") or {}
    data = util._normalize(revision_data(template))
    latest = max((int(r.get("revision") or 0) for r in owned), default=0)
    for rev in owned:
        if util._normalize(rev.get("data") or {}) == data:
            if int(rev.get("revision") or 0) < latest:
                rev = await client.patch(resources.CONTROLLERREVISIONS, base.name_of(rev),
                                         {"revision": latest + 1}, namespace=base.ns_of(rev))
                owned = [r for r in owned if base.uid_of(r) != base.uid_of(rev)] + [rev]
            return rev, owned
    name = revision_name(owner, template, (owner.get("status") or {}).get("collisionCount"))
    labels = dict(((template.get("metadata") or {}).get("labels")) or {})
    labels[HASH_LABEL] = name.rsplit("-", 1)[-1]
    body = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": name, "namespace": base.ns_of(owner), "labels": labels,
                         "ownerReferences": [base.owner_reference(owner, kind=kind, api_version="apps/v1")]},
            "data": revision_data(template), "revision": latest + 1}
    try:
        rev = await client.create(resources.CONTROLLERREVISIONS, body, namespace=base.ns_of(owner))
    except errors.AlreadyExists:
        rev = await client.get(resources.CONTROLLERREVISIONS, name, namespace=base.ns_of(owner))
    return rev, owned + [rev]


async def prune(client: rest.Client, *, owner: Obj, owned: list[Obj], in_use: set[str]) -> None:
    limit = (owner.get("spec") or {}).get("revisionHistoryLimit")
    limit = 10 if limit is None else int(limit)
    spare = sorted((r for r in owned if base.name_of(r) not in in_use), key=lambda r: int(r.get("revision") or 0))
    for rev in spare[:max(0, len(spare) - limit)]:
        try:
            await client.delete(resources.CONTROLLERREVISIONS, base.name_of(rev), namespace=base.ns_of(rev))
        except errors.NotFound:
            pass
