"""``kubelite.scheduler.config``: what a KubeSchedulerConfiguration file turns into, and
the refusals (each naming its field) for what kubelite cannot honour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubelite.scheduler import config, framework, plugins


def parse(text: str) -> config.SchedulerConfig:
    doc = yaml.safe_load(text) or {}
    return config.parse({"apiVersion": config.API_VERSION, "kind": config.KIND, **doc})


def at(fw: framework.Framework) -> dict[str, list[str]]:
    return {"preFilter": [p.name for p in fw.pre_filter], "filter": [p.name for p in fw.filters],
            "postFilter": [p.name for p in fw.post_filters], "preScore": [p.name for p in fw.pre_score],
            "score": [f"{p.name}={p.weight}" for p in fw.scorers], "reserve": [p.name for p in fw.reserve],
            "permit": [p.name for p in fw.permit], "preBind": [p.name for p in fw.pre_bind],
            "bind": [p.name for p in fw.binders]}


def refused(text: str) -> str:
    with pytest.raises(config.ConfigError) as info:
        parse(text)
    return str(info.value)


def test_no_file_is_the_default_profile() -> None:
    built = config.default().frameworks(None)
    assert list(built) == ["default-scheduler"]
    assert at(built["default-scheduler"]) == at(plugins.default_profile())


def test_a_second_profile_with_most_allocated_scoring_and_weights() -> None:
    cfg = parse("""
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packing
  plugins:
    score:
      disabled: [{name: NodeResourcesBalancedAllocation}]
      enabled: [{name: NodeResourcesFit, weight: 5}]
  pluginConfig:
  - args:
      scoringStrategy:
        resources: [{name: cpu, weight: 2}, {name: memory, weight: 1}]
        type: MostAllocated
    name: NodeResourcesFit
""")
    built = cfg.frameworks(None)
    packing = built["bin-packing"]
    fit = next(p for p in packing.plugins if p.name == "NodeResourcesFit")
    assert (fit.strategy, fit.resources, fit.weight) == ("MostAllocated", [("cpu", 2), ("memory", 1)], 5)
    assert "NodeResourcesBalancedAllocation=1" not in at(packing)["score"]
    assert "NodeResourcesFit=5" in at(packing)["score"]
    # the default profile is untouched by the other one's settings
    assert at(built["default-scheduler"]) == at(plugins.default_profile())


def test_disabling_at_one_point_keeps_the_plugin_at_the_others() -> None:
    fw = parse("""
profiles:
- plugins:
    score:
      disabled: [{name: TaintToleration}]
""").frameworks(None)["default-scheduler"]
    assert "TaintToleration" in at(fw)["filter"]
    assert not any(s.startswith("TaintToleration=") for s in at(fw)["score"])


def test_multipoint_star_then_a_chosen_few() -> None:
    fw = parse("""
profiles:
- plugins:
    multiPoint:
      disabled: [{name: "*"}]
      enabled: [{name: NodeResourcesFit}, {name: DefaultBinder}, {name: NodeName}]
""").frameworks(None)["default-scheduler"]
    assert at(fw)["filter"] == ["NodeName", "NodeResourcesFit"]  # the default order, not the file's
    assert at(fw)["score"] == ["NodeResourcesFit=1"]
    assert at(fw)["postFilter"] == []  # no preemption


def test_requested_to_capacity_ratio_with_its_shape() -> None:
    cfg = parse("""
profiles:
- pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: RequestedToCapacityRatio
        requestedToCapacityRatio:
          shape: [{utilization: 0, score: 0}, {utilization: 100, score: 10}]
""")
    fit = next(p for p in cfg.frameworks(None)["default-scheduler"].plugins if p.name == "NodeResourcesFit")
    assert fit.strategy == "RequestedToCapacityRatio"
    assert list(fit.shape_x) == [0.0, 100.0] and list(fit.shape_y) == [0.0, 100.0]


def test_backoff_lease_and_accepted_knobs() -> None:
    cfg = parse("""
podInitialBackoffSeconds: 2
podMaxBackoffSeconds: 30
percentageOfNodesToScore: 50
parallelism: 16
leaderElection: {leaderElect: true, resourceName: my-scheduler, resourceNamespace: infra}
profiles:
- plugins:
    queueSort: {enabled: [{name: PrioritySort}]}
    filter: {disabled: [{name: NodeVolumeLimits}, {name: VolumeZone}]}
  pluginConfig:
  - name: DefaultPreemption
    args: {minCandidateNodesPercentage: 20, minCandidateNodesAbsolute: 5}
  - name: PodTopologySpread
    args: {defaultingType: List, defaultConstraints: []}
  - name: InterPodAffinity
    args: {hardPodAffinityWeight: 0}
""")
    assert (cfg.initial_backoff, cfg.max_backoff) == (2.0, 30.0)
    assert (cfg.lease_name, cfg.lease_namespace) == ("my-scheduler", "infra")
    fw = cfg.frameworks(None)["default-scheduler"]
    spread = next(p for p in fw.plugins if p.name == "PodTopologySpread")
    affinity = next(p for p in fw.plugins if p.name == "InterPodAffinity")
    assert spread.default_constraints is False and affinity.hard_pod_affinity_weight == 0
    preempt = next(p for p in fw.plugins if p.name == "DefaultPreemption")
    assert (preempt.min_candidate_percent, preempt.min_candidates) == (20, 5)


@pytest.mark.parametrize(("args", "error"), [
    ("{minCandidateNodesPercentage: 101}", r"minCandidateNodesPercentage: Invalid value: 101: not in valid range"),
    ("{minCandidateNodesAbsolute: -1}", r"minCandidateNodesAbsolute: Invalid value: -1: not in valid range"),
    ("{minCandidateNodesPercentage: 0, minCandidateNodesAbsolute: 0}", r"cannot be zero at the same time"),
])
def test_preemption_args_are_checked_as_upstream(args: str, error: str) -> None:
    with pytest.raises(config.ConfigError, match=error):
        parse(f"profiles:\n- pluginConfig:\n  - name: DefaultPreemption\n    args: {args}\n")


def test_load_reads_yaml_and_names_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(f"apiVersion: {config.API_VERSION}\nkind: {config.KIND}\nprofiles:\n- schedulerName: a\n")
    assert [p.name for p in config.load(good).profiles] == ["a"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("profiles: [")
    with pytest.raises(config.ConfigError, match=r"bad.yaml: not YAML"):
        config.load(bad)
    with pytest.raises(config.ConfigError, match=r"missing.yaml: No such file"):
        config.load(tmp_path / "missing.yaml")


@pytest.mark.parametrize(("text", "message"), [
    ("profile: []", 'unknown field "profile"'),
    ("profiles: [{schedulerName: a}, {schedulerName: a}]", "profiles[1].schedulerName: Duplicate value: 'a'"),
    ("profiles: []", "profiles: Required value: at least one profile"),
    ("profiles: [{plugins: {score: {enabled: [{name: NodeResourcesFitt}]}}}]",
     "profiles[0].plugins.score.enabled[0].name: Invalid value: 'NodeResourcesFitt': no such plugin"),
    ("profiles: [{plugins: {score: {enabled: [{name: VolumeZone}]}}}]", "'VolumeZone': no such plugin in kubelite"),
    ("profiles: [{plugins: {score: {enabled: [{name: NodePorts}]}}}]", "the plugin does not extend score"),
    ("profiles: [{plugins: {score: {enabled: [{name: NodeResourcesFit, weight: 0}]}}}]",
     "profiles[0].plugins.score.enabled[0].weight: Invalid value: 0: must be an integer in 1..100"),
    ("profiles: [{plugins: {filter: {enabled: [{name: NodeResourcesFit, weight: 2}]}}}]",
     "only score plugins have a weight"),
    ("profiles: [{plugins: {bind: {disabled: [{name: '*'}]}}}]",
     "at least one bind plugin is needed for profile with scheduler name 'default-scheduler'"),
    ("profiles: [{plugins: {queueSort: {enabled: [{name: MySort}]}}}]", "kubelite's queueSort is PrioritySort"),
    ("profiles: [{pluginConfig: [{name: NodeResourcesFit, args: {scoringStrategy: {type: Most}}}]}]",
     "NodeResourcesFit.args.scoringStrategy.type: Unsupported value: 'Most'"),
    ("profiles: [{pluginConfig: [{name: NodeResourcesFit, args: {scoringStrategy: {type: RequestedToCapacityRatio}}}]}]",
     "requestedToCapacityRatio: Required value"),
    (("profiles: [{pluginConfig: [{name: NodeResourcesFit, args: {scoringStrategy: {type: RequestedToCapacityRatio, "
     "requestedToCapacityRatio: {shape: [{utilization: 50, score: 1}, {utilization: 10, score: 2}]}}}}]}]"),
     "utilization values must be sorted in increasing order"),
    ("profiles: [{pluginConfig: [{name: NodeResourcesFit, args: {ignoredResources: [x]}}]}]",
     'unknown field "profiles[0].pluginConfig[0].args.ignoredResources"'),
    ("profiles: [{pluginConfig: [{name: ImageLocality, args: {x: 1}}]}]",
     'unknown field "profiles[0].pluginConfig[0].args.x"'),
    (("profiles: [{pluginConfig: [{name: PodTopologySpread, args: {defaultConstraints: "
     "[{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: ScheduleAnyway}]}}]}]"),
     'when .defaultingType is "System", .defaultConstraints must be empty'),
    ("profiles: [{pluginConfig: [{name: InterPodAffinity, args: {hardPodAffinityWeight: 101}}]}]",
     "not in valid range [0-100]"),
    ("podInitialBackoffSeconds: 5\npodMaxBackoffSeconds: 2", "podMaxBackoffSeconds: Invalid value: 2"),
    ("leaderElection: {leaderElect: false}", "leaderElection.leaderElect: Unsupported value: false"),
    ("percentageOfNodesToScore: 120", "percentageOfNodesToScore: Invalid value: 120"),
])
def test_refusals_name_the_field(text: str, message: str) -> None:
    assert message in refused(text)


@pytest.mark.parametrize("doc", [
    None, [], {"apiVersion": "kubescheduler.config.k8s.io/v1beta3", "kind": config.KIND},
    {"apiVersion": config.API_VERSION, "kind": "KubeProxyConfiguration"},
])
def test_not_a_scheduler_configuration(doc: Any) -> None:
    with pytest.raises(config.ConfigError):
        config.parse(doc)
