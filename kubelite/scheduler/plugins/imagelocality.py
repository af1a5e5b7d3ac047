"""ImageLocality: prefer nodes that already hold the pod's images (from
``node.status.images``), weighted by how widely each image is spread so one popular
node does not attract everything. Score only; upstream's thresholds (23 MB … 1000 MB
per container).
"""

from __future__ import annotations

import numpy as np

from kubelite.scheduler import cache as cache_mod
from kubelite.scheduler import framework, objects

MIN_THRESHOLD = 23 * 1024 * 1024
MAX_CONTAINER_THRESHOLD = 1000 * 1024 * 1024


class ImageLocality:
    name = "ImageLocality"

    def __init__(self, *, weight: int = 1) -> None:
        self.weight = weight

    def score(self, state: framework.CycleState, cache: cache_mod.NodeCache,
              rows: np.ndarray) -> np.ndarray | None:
        if not cache.images:
            return None  # no node reports images: no preference
        containers = (state.pod.get("spec") or {}).get("containers") or []
        total = np.zeros(cache.rows, np.float64)
        n = max(cache.node_count, 1)
        for c in containers:
            entry = cache.images.get(objects.normalize_image(c.get("image") or ""))
            if entry is None or not entry[1]:
                continue
            size, have = entry
            idx = np.fromiter(have, np.int64, len(have))
            idx = idx[idx < cache.rows]
            total[idx] += size * (len(have) / n)
        hi = MAX_CONTAINER_THRESHOLD * max(len(containers), 1)
        s = np.clip(total, MIN_THRESHOLD, hi)
        return framework.MAX_NODE_SCORE * (s - MIN_THRESHOLD) / (hi - MIN_THRESHOLD)
