"""``kill -9`` of the server while 16 clients write: every acknowledged write survives.

Each round starts a real server process on the same data directory, lets 16 concurrent
clients create ConfigMaps, kills the server with SIGKILL at a random moment, restarts it
and checks that every create that got a 2xx answer is there, then runs SQLite's
``PRAGMA integrity_check`` on the datastore.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import signal
import sqlite3
import ssl
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.support import processes

ROUNDS = 20
WRITERS = 16


def _client_settings(kubeconfig: Path) -> tuple[str, str, ssl.SSLContext]:
    cfg = yaml.safe_load(kubeconfig.read_text())
    cluster = cfg["clusters"][0]["cluster"]
    token = cfg["users"][0]["user"]["token"]
    ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    return cluster["server"], token, ctx


async def _write_until_killed(url: str, token: str, ctx: ssl.SSLContext, acked: set[str], round_no: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(ssl=ctx, limit=WRITERS)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def writer(w: int) -> None:
            for i in range(100_000):
                name = f"r{round_no}-w{w}-{i}"
                body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"i": str(i)}}
                try:
                    async with session.post(f"{url}/api/v1/namespaces/default/configmaps", json=body) as resp:
                        if 200 <= resp.status < 300:
                            acked.add(name)
                except (TimeoutError, aiohttp.ClientError, ConnectionError):
                    return  # the server died under us

        await asyncio.wait_for(asyncio.gather(*(writer(w) for w in range(WRITERS))), timeout=30)


async def _names_present(url: str, token: str, ctx: ssl.SSLContext) -> set[str]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx), headers=headers) as session:
        async with session.get(f"{url}/api/v1/namespaces/default/configmaps") as resp:
            assert resp.status == 200
            body = await resp.json()
    return {item["metadata"]["name"] for item in body["items"]}


def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # Only the API server: the durability of its datastore is what is under test.
    flags = ["--disable-controllers", "--disable-scheduler"]
    srv = processes.ServerProcess(data_dir=data_dir, extra_args=flags).start()
    all_acked: set[str] = set()
    try:
        for round_no in range(ROUNDS):
            url, token, ctx = _client_settings(srv.kubeconfig)
            acked: set[str] = set()

            async def run_round() -> None:
                writes = asyncio.ensure_future(_write_until_killed(url, token, ctx, acked, round_no))
                deadline = asyncio.get_running_loop().time() + 30
                while not acked and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.01)  # writes are flowing once the first is acknowledged
                await asyncio.sleep(random.uniform(0.0, 0.5))  # then the kill lands at a random moment
                srv.kill(signal.SIGKILL)
                await writes

            asyncio.run(run_round())
            assert acked, f"round {round_no}: no write was acknowledged before the kill"
            all_acked |= acked
            srv = processes.ServerProcess(data_dir=data_dir, port=srv.port, extra_args=flags).start()
            url, token, ctx = _client_settings(srv.kubeconfig)
            present = asyncio.run(_names_present(url, token, ctx))
            missing = all_acked - present
            assert not missing, f"round {round_no}: {len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:5]}"
    finally:
        srv.stop()
    with sqlite3.connect(data_dir / "state.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(all_acked) > ROUNDS * WRITERS


def _writer_pid(server_pid: int) -> int:
    for task in Path(f"/proc/{server_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"sqlite_writer" in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
    raise AssertionError("the server has no SQLite writer process")


def test_the_server_exits_when_its_sqlite_writer_dies(tmp_path: Path) -> None:
    """A server that can no longer write exits (non-zero, saying why), so that a supervisor
    restarts it and clients fail over, instead of answering every write 503; the restart
    recovers the database."""
    data_dir = tmp_path / "data"
    flags = ["--disable-controllers", "--disable-scheduler"]
    srv = processes.ServerProcess(data_dir=data_dir, extra_args=flags).start()
    try:
        url, token, ctx = _client_settings(srv.kubeconfig)
        acked: set[str] = set()

        async def write_one() -> None:
            await asyncio.wait_for(_write_until_killed(url, token, ctx, acked, 0), timeout=0.5)

        with pytest.raises(TimeoutError):  # writes flow until the 0.5 s are up
            asyncio.run(write_one())
        assert acked
        assert srv.proc is not None
        os.kill(_writer_pid(srv.proc.pid), signal.SIGKILL)
        code = srv.proc.wait(timeout=20)
        assert code != 0
        assert "sqlite writer process stopped" in srv.tail()
    finally:
        srv.stop()
    srv = processes.ServerProcess(data_dir=data_dir, port=srv.port, extra_args=flags).start()
    try:
        url, token, ctx = _client_settings(srv.kubeconfig)
        assert acked <= asyncio.run(_names_present(url, token, ctx))
    finally:
        srv.stop()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
