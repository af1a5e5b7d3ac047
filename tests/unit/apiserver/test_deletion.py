"""``deletion.plan``: what a DELETE does to an object before anything is written."""

from __future__ import annotations

import pytest

from kubelite.api import errors, scheme
from kubelite.apiserver import deletion, requests
from kubelite.apiserver.strategies import base


class Graceful(base.Strategy):
    def grace_period(self, obj: dict, requested: int | None) -> int:
        return 30 if requested is None else requested


INFO = scheme.ResourceInfo(group="example.com", version="v1", kind="Widget", plural="widgets",
                           singular="widget", namespaced=True)


def widget(**meta: object) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "default", "uid": "u-1", "resourceVersion": "7",
                         "generation": 1, **meta}}


def conflict(why: str) -> errors.Conflict:
    return errors.conflict(resource="widgets", group="example.com", name="w", why=why)


def test_no_grace_and_no_finalizers_is_gone_at_once() -> None:
    outcome = deletion.plan(base.Strategy(INFO), widget(), requests.DeleteOptions(), conflict)
    assert outcome.delete_now


def test_a_precondition_that_does_not_hold_is_a_conflict_naming_both_values() -> None:
    with pytest.raises(errors.Conflict, match="UID in precondition: u-2, UID in object meta: u-1"):
        deletion.plan(base.Strategy(INFO), widget(), requests.DeleteOptions(preconditions={"uid": "u-2"}),
                      conflict)
    with pytest.raises(errors.Conflict, match="ResourceVersion in precondition: 6"):
        deletion.plan(base.Strategy(INFO), widget(),
                      requests.DeleteOptions(preconditions={"resourceVersion": "6"}), conflict)


@pytest.mark.parametrize("opts, finalizer", [
    (requests.DeleteOptions(propagation_policy="Orphan"), "orphan"),
    (requests.DeleteOptions(orphan_dependents=True), "orphan"),  # the deprecated spelling
    (requests.DeleteOptions(propagation_policy="Foreground"), "foregroundDeletion"),
])
def test_a_propagation_policy_leaves_the_object_with_its_finalizer(opts: requests.DeleteOptions,
                                                                   finalizer: str) -> None:
    outcome = deletion.plan(base.Strategy(INFO), widget(), opts, conflict)
    assert not outcome.delete_now
    md = outcome.new["metadata"]
    assert md["finalizers"] == [finalizer] and md["deletionTimestamp"]
    assert md["generation"] == 2  # marking for deletion is a change of the desired state


def test_a_second_delete_only_shortens_the_grace_period() -> None:
    first = deletion.plan(Graceful(INFO), widget(), requests.DeleteOptions(), conflict)
    assert not first.delete_now and first.new["metadata"]["deletionGracePeriodSeconds"] == 30
    longer = deletion.plan(Graceful(INFO), first.new, requests.DeleteOptions(grace_period_seconds=60), conflict)
    assert longer.new["metadata"]["deletionGracePeriodSeconds"] == 30
    now = deletion.plan(Graceful(INFO), first.new, requests.DeleteOptions(grace_period_seconds=0), conflict)
    assert now.delete_now
