"""The in-tree plugins and the default profile, in upstream's order: cheap, selective
filters first (a node is charged to the first plugin that rejects it).

``scheduler.py`` calls ``default_profile`` for the ``default-scheduler`` profile; a
custom profile is any list of plugin instances handed to ``framework.Framework``.
"""

from __future__ import annotations

from typing import Any

from kubelite.client import rest
from kubelite.scheduler import framework
from kubelite.scheduler.plugins import (
    binder,
    imagelocality,
    interpod,
    nodeaffinity,
    nodename,
    ports,
    preemption,
    resources,
    taints,
    topologyspread,
    volumebinding,
)


def default_plugins(*, client: rest.Client | None = None, scoring_strategy: str = "LeastAllocated") -> list[Any]:
    plugins: list[Any] = [
        nodename.NodeUnschedulable(),
        nodename.NodeName(),
        taints.TaintToleration(),
        nodeaffinity.NodeAffinity(),
        ports.NodePorts(),
        resources.NodeResourcesFit(strategy=scoring_strategy),
        volumebinding.VolumeBinding(client),
        topologyspread.PodTopologySpread(),
        interpod.InterPodAffinity(),
        resources.BalancedAllocation(),
        imagelocality.ImageLocality(),
        preemption.DefaultPreemption(),
    ]
    if client is not None:
        plugins.append(binder.DefaultBinder(client))
    return plugins


def default_profile(name: str = "default-scheduler", *, client: rest.Client | None = None,
                    scoring_strategy: str = "LeastAllocated") -> framework.Framework:
    return framework.Framework(name, default_plugins(client=client, scoring_strategy=scoring_strategy))
