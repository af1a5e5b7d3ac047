"""Engine questions that a burst of pods asks at once, answered once for all of them:
whether an image is present (and its config), and which containers a node has.

``EngineQueries`` belongs to ``kubelite.agent.runtime.docker.DockerDriver``, which calls it
for ``ensure_image`` (with the pull that follows a missing image), for the pause image
and the plumbing gate's argv, and for every list of sandboxes and containers. A hundred
pods starting together each ask these before their first container exists; asked one
by one, the engine spends the start-up answering them (its container list walks every
container under a lock), so each answer here is shared by the callers that arrive while
it is pending, or for a short while after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiodocker

from kubelite.agent.runtime import dockerspec
from kubelite.agent.runtime import interface as rt

IMAGE_CHECK_TTL = 2.0  # seconds an image-presence answer serves a burst of pods
LIST_REST_MAX = 0.5  # seconds: the most a node-wide list waits after the previous one


class EngineQueries:
    """Shared image checks, pulls and container lists on the client ``docker()`` returns
    (the driver's, which raises ``rt.DriverError`` until the driver is started)."""

    def __init__(self, *, docker: Callable[[], aiodocker.Docker]) -> None:
        self._docker = docker
        # Image configs (Entrypoint, Cmd, Env) for the gate's argv: ensure_image inspects
        # the image right before every create anyway.
        self._image_ids: dict[str, str] = {}  # image reference → id
        self._image_config: dict[str, dict[str, Any]] = {}  # image id → Config
        self._image_checked: dict[str, tuple[float, asyncio.Future[str | None]]] = {}  # reference → (when, id)
        # Node-wide container lists shared by concurrent callers (``_node_rows``).
        self._list_next: dict[str, asyncio.Future[list[dict[str, Any]]]] = {}
        self._list_running: dict[str, asyncio.Future[list[dict[str, Any]]]] = {}
        self._list_idle_until: dict[str, float] = {}  # monotonic time before which no list starts

    # --- images -----------------------------------------------------------------------

    async def image_id(self, image: str, *, fresh: bool = False) -> str | None:
        """The id of ``image`` if the engine has it, else None."""
        # A burst of pods of one image asks the same question at once: one engine call
        # answers all callers within IMAGE_CHECK_TTL (a pull or a fresh check refreshes it).
        cached = self._image_checked.get(image)
        if not fresh and cached is not None and time.monotonic() - cached[0] < IMAGE_CHECK_TTL:
            return await asyncio.shield(cached[1])
        pending: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        pending.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._image_checked[image] = (time.monotonic(), pending)
        try:
            info = await self._docker().images.inspect(image)
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                pending.set_result(None)
                return None
            self._image_checked.pop(image, None)
            pending.set_exception(rt.DriverError(str(exc)))
            raise rt.DriverError(str(exc)) from exc
        except BaseException as exc:
            self._image_checked.pop(image, None)
            pending.set_exception(rt.DriverError(f"image inspect interrupted: {exc!r}"))
            raise
        image_id = str(info.get("Id") or "")
        self._image_ids[image] = image_id
        self._image_config[image_id] = info.get("Config") or {}
        pending.set_result(image_id)
        return image_id

    async def ensure_image(self, image: str, *, policy: str) -> tuple[bool, str]:
        """``RuntimeDriver.ensure_image``: (pulled, image id) per imagePullPolicy."""
        present = await self.image_id(image, fresh=policy == "Always")
        if present and policy != "Always":
            return False, present
        if policy == "Never":
            raise rt.ImageNeverPullError(
                f'Container image "{image}" is not present with pull policy of Never')
        try:
            await self._docker().images.pull(image if ":" in image.rsplit("/", 1)[-1] or "@" in image
                                             else f"{image}:latest")
        except aiodocker.DockerError as exc:
            message = exc.message if hasattr(exc, "message") else str(exc)
            if present and policy == "Always":
                # upstream also fails here; the local copy is not silently used
                pass
            raise rt.ImagePullError(f'failed to pull image "{image}": {message}') from exc
        image_id = await self.image_id(image, fresh=True)
        if not image_id:
            raise rt.ImagePullError(f'image "{image}" missing after pull')
        return True, image_id

    async def image_config(self, image: str) -> dict[str, Any]:
        """The image's Config (Entrypoint, Cmd, Env); the image must be present."""
        image_id = self._image_ids.get(image) or await self.image_id(image)
        if not image_id:
            raise rt.ContainerConfigError(f'image "{image}" not present')
        return self._image_config.get(image_id) or {}

    # --- container lists --------------------------------------------------------------

    async def containers(self, labels: dict[str, str]) -> list[dict[str, Any]]:
        """The engine's list rows (all states) of the containers carrying ``labels``."""
        node = labels.get(rt.LABEL_NODE)
        if node:
            rows = await self._node_rows(node)
            return [r for r in rows if all((r.get("Labels") or {}).get(k) == v for k, v in labels.items())]
        try:
            found: list[dict[str, Any]] = await self._docker()._query_json(
                "containers/json", params={"all": "1", "filters": dockerspec.labels_filter(labels)})
        except aiodocker.DockerError as exc:
            raise rt.DriverError(f"list containers: {exc}") from exc
        return found

    async def _node_rows(self, node: str) -> list[dict[str, Any]]:
        """Every container of ``node``, listed by one engine call that started after this
        call did (so it shows everything done before), shared by all callers that arrive
        while it waits its turn. The engine's list walks every container under its lock:
        each pod sync listing on its own made a burst of 100 pods cost the engine O(N²)."""
        batch = self._list_next.get(node)
        if batch is not None:
            return list(await asyncio.shield(batch))  # the list about to start is ours too
        batch = asyncio.get_running_loop().create_future()
        batch.add_done_callback(lambda f: f.cancelled() or f.exception())  # followers may be none
        self._list_next[node] = batch
        try:
            while (running := self._list_running.get(node)) is not None:
                await asyncio.wait([running])
            # Lists back to back would keep the engine listing for as long as a burst
            # lasts (each walks every container, and waits for the ones being started):
            # rest at least as long as the last list took, so listing gets at most half
            # of the engine's time and every list serves more callers.
            rest = self._list_idle_until.get(node, 0.0) - time.monotonic()
            if rest > 0:
                await asyncio.sleep(rest)
            self._list_next.pop(node, None)  # from here on, newcomers wait for the next list
            self._list_running[node] = batch
            began = time.monotonic()
            rows: list[dict[str, Any]] = await self._docker()._query_json(
                "containers/json", params={"all": "1", "filters": dockerspec.labels_filter({rt.LABEL_NODE: node})})
            ended = time.monotonic()
            self._list_idle_until[node] = ended + min(ended - began, LIST_REST_MAX)
        except BaseException as exc:
            if self._list_next.get(node) is batch:
                self._list_next.pop(node, None)
            if not batch.done():
                batch.set_exception(rt.DriverError(f"list containers: {exc!r}"))
            if isinstance(exc, aiodocker.DockerError):
                raise rt.DriverError(f"list containers: {exc}") from exc
            raise
        finally:
            if self._list_running.get(node) is batch:
                self._list_running.pop(node, None)
        batch.set_result(rows)
        return list(rows)
