"""What the Docker driver asks the engine for, and how it reads the answers
(``kubelite.agent.runtime.dockerspec``), without an engine. The driver's behaviour with a
real Docker engine is shown by ``tests/node``."""

from __future__ import annotations

import datetime

import pytest

from kubelite.agent.runtime import dockerspec
from kubelite.agent.runtime import interface as rt


def container(**overrides: object) -> rt.ContainerConfig:
    base: dict = {"pod_uid": "u1", "pod_name": "web", "namespace": "default", "node_name": "n1",
                  "name": "app", "attempt": 2, "image": "busybox"}
    return rt.ContainerConfig(**{**base, **overrides})


def test_command_replaces_the_entrypoint_and_drops_the_images_cmd() -> None:
    config, _, _ = dockerspec.container_body(container(command=["sh", "-c"]))
    assert config["Entrypoint"] == ["sh", "-c"] and config["Cmd"] == []
    config, _, _ = dockerspec.container_body(container(command=["sh", "-c"], args=["echo hi"]))
    assert config["Entrypoint"] == ["sh", "-c"] and config["Cmd"] == ["echo hi"]
    config, _, _ = dockerspec.container_body(container(args=["--port", "80"]))
    assert "Entrypoint" not in config and config["Cmd"] == ["--port", "80"]
    config, _, _ = dockerspec.container_body(container())
    assert "Entrypoint" not in config and "Cmd" not in config


def test_limits_mounts_and_identity_reach_the_engine() -> None:
    cfg = container(memory_bytes=64 << 20, nano_cpus=500_000_000, cpu_shares=512, env={"A": "1"}, user="1000:1000",
                    mounts=[rt.Mount("/h/data", "/data", read_only=True), rt.Mount("/h/tmp", "/tmp")])
    config, host, labels = dockerspec.container_body(cfg)
    assert host["Memory"] == host["MemorySwap"] == 64 << 20  # no swap beyond the limit
    assert host["NanoCpus"] == 500_000_000 and host["CpuShares"] == 512
    assert host["Binds"] == ["/h/data:/data:ro", "/h/tmp:/tmp:rw"]
    assert host["Init"] is True and host["RestartPolicy"] == {"Name": "no"}  # the agent restarts, not the engine
    assert config["Env"] == ["A=1"] and config["User"] == "1000:1000"
    assert config["HostConfig"] is host and config["Labels"] is labels
    assert labels[rt.LABEL_ATTEMPT] == "2" and labels[rt.LABEL_CONTAINER] == "app" and labels[rt.LABEL_NODE] == "n1"


def test_a_sandbox_owns_the_pods_network_unless_it_is_the_hosts() -> None:
    cfg = rt.SandboxConfig(pod_uid="u1", pod_name="web", namespace="default", node_name="n1", hostname="w" * 70,
                           ports=[rt.PortMapping(container_port=80, host_port=8080)],
                           dns=rt.DNSConfig(use_host=False, nameservers=["10.0.0.10"], searches=["default.svc"]))
    config, labels = dockerspec.sandbox_body(cfg, image="kubelite/pause:1.0", network="kubelite")
    host = config["HostConfig"]
    assert host["NetworkMode"] == "kubelite" and host["IpcMode"] == "shareable"
    assert config["Hostname"] == "w" * 63  # a hostname is at most 63 characters
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert config["ExposedPorts"] == {"80/tcp": {}}
    assert host["Dns"] == ["10.0.0.10"] and "default.svc" in host["DnsSearch"]
    assert config["Labels"] is labels and labels[rt.LABEL_KIND] == "sandbox"
    cfg.host_network = True
    config, _ = dockerspec.sandbox_body(cfg, image="kubelite/pause:1.0", network="")
    assert config["HostConfig"]["NetworkMode"] == "host"
    assert "Hostname" not in config and "Dns" not in config["HostConfig"]  # the node's own files


@pytest.mark.parametrize("text, expected", [
    ("0001-01-01T00:00:00Z", 0.0),
    ("", 0.0),
    (None, 0.0),
    ("2026-11-22T20:00:00.123456789Z", datetime.datetime(2026, 11, 22, 20, tzinfo=datetime.UTC).timestamp() + 0.123456789),
    ("2026-11-22T22:00:00.5+02:00", datetime.datetime(2026, 11, 22, 20, tzinfo=datetime.UTC).timestamp() + 0.5),
])
def test_engine_times(text: str | None, expected: float) -> None:
    assert dockerspec.parse_time(text) == pytest.approx(expected)


def test_an_inspect_answer_becomes_container_info() -> None:
    info = dockerspec.container_info({
        "Id": "c1", "Image": "sha256:abc", "Created": "2026-11-22T20:00:00Z",
        "Config": {"Image": "busybox", "Labels": {rt.LABEL_POD_UID: "u1", rt.LABEL_CONTAINER: "app",
                                                  rt.LABEL_ATTEMPT: "3", rt.LABEL_KIND: "init"}},
        "State": {"Status": "exited", "ExitCode": 137, "OOMKilled": True, "StartedAt": "2026-11-22T20:00:01Z",
                  "FinishedAt": "2026-11-22T20:00:02Z", "Error": ""}})
    assert (info.id, info.pod_uid, info.name, info.attempt, info.kind) == ("c1", "u1", "app", 3, "init")
    assert info.state is rt.State.EXITED and info.exit_code == 137 and info.oom_killed
    assert info.finished_at - info.started_at == pytest.approx(1.0)
    assert dockerspec.state_of("paused") is rt.State.RUNNING and dockerspec.state_of("created") is rt.State.CREATED
    assert dockerspec.state_of("removing") is rt.State.UNKNOWN


def test_the_working_set_leaves_out_inactive_page_cache() -> None:
    v2 = {"cpu_stats": {"cpu_usage": {"total_usage": 5_000}},
          "memory_stats": {"usage": 100.0, "stats": {"inactive_file": 30}}}
    assert dockerspec.stats_of(v2) == {"cpu_usage_ns": 5000.0, "memory_bytes": 70.0, "memory_usage_bytes": 100.0}
    v1 = {"memory_stats": {"usage": 100.0, "stats": {"total_inactive_file": 130}}}
    assert dockerspec.stats_of(v1)["memory_bytes"] == 0.0
