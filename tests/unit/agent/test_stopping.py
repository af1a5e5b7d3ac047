"""The order a pod's containers stop in (``stopping``): every preStop hook at once, the app
containers' SIGTERM right after, each sidecar's only once the app containers and the later
sidecars are gone, all within the one grace period."""

from __future__ import annotations

import asyncio
import time

from kubelite.agent import stopping
from kubelite.agent.runtime import interface as rt


def container(name: str) -> rt.ContainerInfo:
    return rt.ContainerInfo(id=f"id-{name}", pod_uid="u1", pod_name="p", namespace="ns", name=name, attempt=0,
                            kind="app", state=rt.State.RUNNING)


class Engine:
    """Containers that take ``takes[name]`` seconds to exit after SIGTERM."""

    def __init__(self, takes: dict[str, float]) -> None:
        self.takes = takes
        self.log: list[str] = []
        self.began = time.monotonic()

    async def pre_stop(self, c: rt.ContainerInfo, left: float) -> None:
        self.log.append(f"prestop {c.name}")

    async def stop(self, c: rt.ContainerInfo, left: float) -> None:
        self.log.append(f"term {c.name}")
        await asyncio.sleep(min(self.takes.get(c.name, 0.0), left))
        self.log.append(f"gone {c.name}")


async def test_sidecars_stop_after_the_app_containers_in_reverse_order() -> None:
    engine = Engine({"main": 0.2, "helper": 0.1, "proxy": 0.05})
    containers = [container(n) for n in ("logs", "proxy", "main", "helper")]
    await stopping.stop_in_order(containers, sidecars={"logs": 0, "proxy": 1}, grace=5,
                                 pre_stop=engine.pre_stop, stop=engine.stop)
    at = engine.log.index
    assert max(at(f"prestop {n}") for n in ("logs", "proxy", "main", "helper")) < at("gone helper")
    assert at("term main") < at("gone helper") and at("term helper") < at("gone helper")  # together
    assert engine.log[-4:] == ["term proxy", "gone proxy", "term logs", "gone logs"]
    assert at("gone main") < at("term proxy")


async def test_a_sidecar_still_waiting_when_the_grace_period_ends_is_stopped_then() -> None:
    engine = Engine({"main": 10.0})  # ignores SIGTERM: stopped only by the period's end
    began = time.monotonic()
    await stopping.stop_in_order([container("side"), container("main")], sidecars={"side": 0}, grace=0.3,
                                 pre_stop=engine.pre_stop, stop=engine.stop)
    assert time.monotonic() - began < 1.0
    assert engine.log.index("term side") > engine.log.index("term main")


async def test_without_sidecars_everything_stops_at_once() -> None:
    engine = Engine({"a": 0.1, "b": 0.1})
    await stopping.stop_in_order([container("a"), container("b")], sidecars={}, grace=5,
                                 pre_stop=engine.pre_stop, stop=engine.stop)
    assert engine.log.index("term b") < engine.log.index("gone a")
    assert engine.log.index("term a") < engine.log.index("gone b")
