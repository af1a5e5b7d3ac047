"""What the ResourceQuota controller writes: ``status.hard`` is the spec's, ``used`` has
exactly the hard names, both printed as Go prints quantities (``kubectl get quota``
shows these strings)."""

from __future__ import annotations

from kubelite.api import quantity
from kubelite.controllers import resourcequota


def test_status_copies_hard_and_keeps_used_to_the_hard_names() -> None:
    quota = {"spec": {"hard": {"requests.cpu": "1000m", "pods": "10"}}}
    used = {"requests.cpu": quantity.must("500m"), "pods": quantity.must("2"), "count/pods": quantity.must("3")}
    assert resourcequota.desired_status(quota, used) == {
        "hard": {"pods": "10", "requests.cpu": "1"},
        "used": {"pods": "2", "requests.cpu": "500m"}}
