"""Concurrent in-flight requests are bounded: past the bound the server answers 429
TooManyRequests with Retry-After, as a Status, and serves everything else normally.
Leases, leader election's requests, are never refused for other clients' load."""

from __future__ import annotations

import asyncio
import base64
import ssl
from pathlib import Path

import aiohttp
import yaml

from tests.support import processes


def test_requests_past_the_inflight_bound_get_429(tmp_path: Path) -> None:
    srv = processes.ServerProcess(data_dir=tmp_path / "data", extra_args=[
        "--disable-controllers", "--disable-scheduler", "--max-requests-inflight", "2"]).start()
    try:
        cfg = yaml.safe_load(srv.kubeconfig.read_text())
        cluster = cfg["clusters"][0]["cluster"]
        ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        headers = {"Authorization": f"Bearer {cfg['users'][0]['user']['token']}"}

        leases: list[int] = []

        async def burst() -> list[tuple[int, str | None, dict | None]]:  # type: ignore[type-arg]
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=240),
                                             headers=headers) as session:
                async def one(i: int) -> tuple[int, str | None, dict | None]:  # type: ignore[type-arg]
                    # Creates wait for the datastore's commit, so they overlap in the server.
                    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"}}
                    async with session.post(f"{cluster['server']}/api/v1/namespaces/default/configmaps",
                                            json=cm) as resp:
                        body = await resp.json()
                        return resp.status, resp.headers.get("Retry-After"), body

                async def lease(i: int) -> None:
                    body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                            "metadata": {"name": f"leader-{i}"}, "spec": {"holderIdentity": "me"}}
                    async with session.post(
                            f"{cluster['server']}/apis/coordination.k8s.io/v1/namespaces/default/leases",
                            json=body) as resp:
                        leases.append(resp.status)

                results = await asyncio.gather(*(one(i) for i in range(200)), *(lease(i) for i in range(40)))
                return results[:200]  # type: ignore[return-value]

        results = asyncio.run(burst())
        assert leases == [201] * 40, f"leader election's Lease writes were refused under load: {leases}"
        refused = [(s, ra, b) for s, ra, b in results if s == 429]
        served = [s for s, _, _ in results if s == 201]
        assert refused, "no request was refused although 200 arrived at once with a bound of 2"
        assert served, "the server stopped serving altogether"
        assert len(refused) + len(served) == len(results), {s for s, _, _ in results}
        _, retry_after, body = refused[0]
        assert retry_after == "1"
        assert body["kind"] == "Status" and body["reason"] == "TooManyRequests" and body["code"] == 429
    finally:
        srv.stop()
