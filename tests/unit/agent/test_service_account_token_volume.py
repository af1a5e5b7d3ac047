"""A projected serviceAccountToken source: the agent asks for a token bound to the pod
(TokenRequest), writes it, and asks again only after 80 % of its lifetime, as kubelet does."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from kubelite.agent import volumes
from kubelite.client import errors

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
       "spec": {"serviceAccountName": "robot", "volumes": [{"name": "kube-api-access-x", "projected": {
           "defaultMode": 420, "sources": [
               {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
               {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
           ]}}]}}


class Client:
    def __init__(self, ttl: float = 3607) -> None:
        self.asked: list[tuple[str, dict[str, Any]]] = []
        self.ttl = ttl
        self.fail: Exception | None = None

    async def request(self, method: str, path: str, *, json: dict[str, Any]) -> dict[str, Any]:
        if self.fail is not None:
            raise self.fail
        self.asked.append((path, json))
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=self.ttl)
        return {"status": {"token": f"tok-{len(self.asked)}",
                           "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}}


async def test_the_token_is_bound_to_the_pod_and_written(tmp_path: Path) -> None:
    client = Client()
    manager = volumes.VolumeManager(client, root=tmp_path)  # type: ignore[arg-type]
    paths = await manager.prepare(POD)
    base = Path(paths["kube-api-access-x"])
    assert (base / "token").read_text() == "tok-1"
    assert (base / "namespace").read_text() == "ns"
    path, body = client.asked[0]
    assert path == "/api/v1/namespaces/ns/serviceaccounts/robot/token"
    assert body["spec"] == {"expirationSeconds": 3607,
                            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u1"}}
    await manager.prepare(POD)  # a refresh well before 80 % of the hour: the same token
    assert len(client.asked) == 1 and (base / "token").read_text() == "tok-1"


async def test_a_token_near_its_end_is_renewed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client(ttl=100)
    manager = volumes.VolumeManager(client, root=tmp_path)  # type: ignore[arg-type]
    await manager.prepare(POD)
    now = volumes.time.time()
    monkeypatch.setattr(volumes.time, "time", lambda: now + 85)  # past 80 % of 100 s
    paths = await manager.prepare(POD)
    assert (Path(paths["kube-api-access-x"]) / "token").read_text() == "tok-2"


async def test_a_refused_token_request_is_a_mount_error(tmp_path: Path) -> None:
    client = Client()
    client.fail = errors.NotFound({"message": 'serviceaccounts "robot" not found', "code": 404})
    manager = volumes.VolumeManager(client, root=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(volumes.VolumeError, match="failed to fetch token"):
        await manager.prepare(POD)
