"""``kubelite datastore snapshot|restore``: a cluster of 1,000 objects migrates SQLite →
etcd → SQLite exactly (same keys, same bytes, so the same objects with the same uids), and
a server started on each copy serves those objects.

Runs the real CLI, as an operator would: server stopped, snapshot, restore into an empty
datastore, start a server on it (with the first server's pki/, the cluster identity).
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import subprocess
from concurrent import futures
from pathlib import Path

import pytest

from tests.support import etcd, ha, processes

OBJECTS = 1000
NAMESPACES = ["alpha", "beta", "gamma", "delta"]


def _cli(*args: str) -> str:
    out = subprocess.run(processes.kubelite_command() + list(args), capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _keys(snapshot: Path) -> dict[str, bytes]:
    with gzip.open(snapshot, "rb") as f:
        lines = f.read().splitlines()
    return {item["k"]: base64.b64decode(item["v"]) for item in map(json.loads, lines[1:])}


def _api(srv: processes.ServerProcess) -> ha.Api:
    pki = srv.data_dir / "pki"
    return ha.Api(srv.url, (pki / "admin.token").read_text().strip(), pki / "ca.crt")


def _objects(api: ha.Api) -> dict[tuple[str, str, str], tuple[str, str, object]]:
    """(kind, namespace, name) → (uid, creationTimestamp, data) of what the tests made."""
    out = {}
    for ns in NAMESPACES:
        for plural in ("configmaps", "secrets"):
            for obj in api.items(f"/api/v1/namespaces/{ns}/{plural}"):
                md = obj["metadata"]
                out[(plural, ns, md["name"])] = (md["uid"], md["creationTimestamp"], obj.get("data"))
    return out


def _server(data_dir: Path, datastore: str = "") -> processes.ServerProcess:
    args = ["--disable-controllers", "--disable-scheduler"] + (["--datastore", datastore] if datastore else [])
    return processes.ServerProcess(data_dir, extra_args=args).start(timeout=60)


@pytest.mark.timeout(240)
def test_snapshot_restore_migrates_sqlite_to_etcd_and_back_exactly(tmp_path: Path) -> None:
    first = _server(tmp_path / "sqlite-a")
    try:
        api = _api(first)
        for ns in NAMESPACES:
            api.create("/api/v1/namespaces", {"metadata": {"name": ns}})

        def make(i: int) -> None:
            ns, plural = NAMESPACES[i % len(NAMESPACES)], ("secrets" if i % 10 == 0 else "configmaps")
            body = {"metadata": {"name": f"obj-{i}", "labels": {"i": str(i)}},
                    "data": {"v": base64.b64encode(f"value {i}".encode()).decode() if plural == "secrets"
                             else f"value {i}"}}
            _api(first).create(f"/api/v1/namespaces/{ns}/{plural}", body)

        with futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(make, range(OBJECTS)))
        original = _objects(api)
        assert len(original) == OBJECTS
    finally:
        first.stop()

    # SQLite → snapshot → etcd.
    snap1, snap2, snap3 = tmp_path / "sqlite.snap", tmp_path / "etcd.snap", tmp_path / "back.snap"
    print(_cli("datastore", "snapshot", str(snap1), "--data-dir", str(first.data_dir)).strip())
    cluster = etcd.EtcdCluster(tmp_path / "etcd", members=3).start()
    try:
        print(_cli("datastore", "restore", str(snap1), "--datastore", cluster.url).strip())
        print(_cli("datastore", "snapshot", str(snap2), "--datastore", cluster.url).strip())
        keys = _keys(snap1)
        assert len(keys) >= OBJECTS
        assert _keys(snap2) == keys, "etcd holds different keys or bytes than the SQLite snapshot"
        # Restoring into a datastore that has data is refused (it would mix two clusters).
        refused = subprocess.run(processes.kubelite_command() + ["datastore", "restore", str(snap1),
                                 "--datastore", cluster.url], capture_output=True, text=True, timeout=60, check=False)
        assert refused.returncode != 0 and "not empty" in refused.stderr

        # A server on etcd, with the same cluster identity, serves the same objects.
        on_etcd = tmp_path / "etcd-server"
        on_etcd.mkdir()
        shutil.copytree(first.data_dir / "pki", on_etcd / "pki")
        srv = _server(on_etcd, cluster.url)
        try:
            assert _objects(_api(srv)) == original
        finally:
            srv.stop()
        print(_cli("datastore", "snapshot", str(snap2), "--datastore", cluster.url).strip())
    finally:
        cluster.stop()

    # etcd → snapshot → a fresh SQLite.
    back = tmp_path / "sqlite-b"
    back.mkdir()
    shutil.copytree(first.data_dir / "pki", back / "pki")
    print(_cli("datastore", "restore", str(snap2), "--data-dir", str(back)).strip())
    print(_cli("datastore", "snapshot", str(snap3), "--data-dir", str(back)).strip())
    assert _keys(snap3) == keys, "the SQLite copy differs from the original"
    srv = _server(back)
    try:
        assert _objects(_api(srv)) == original
    finally:
        srv.stop()
