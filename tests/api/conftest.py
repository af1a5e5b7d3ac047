"""Fixtures of the api tier: one real ``kubelite server`` process per test session.

Clients under test are configured only from the kubeconfig the server wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import processes


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[processes.ServerProcess]:
    srv = processes.ServerProcess(data_dir=tmp_path_factory.mktemp("kubelite-server"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def kubeconfig(server: processes.ServerProcess) -> Path:
    return server.kubeconfig


@pytest.fixture(scope="session")
def k8s(kubeconfig: Path):  # type: ignore[no-untyped-def]
    """The official ``kubernetes`` client's ApiClient, from the written kubeconfig only."""
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    with client.ApiClient(cfg) as api:
        yield api


@pytest.fixture
def namespace(k8s) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh namespace per test."""
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:8]}"
    api = client.CoreV1Api(k8s)
    api.create_namespace({"metadata": {"name": name}})
    yield name
    # Gone with the test: pods a test leaves pending would otherwise take the places of
    # later tests' pods on their simulated nodes (the server is shared by the module).
    try:
        api.delete_namespace(name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
