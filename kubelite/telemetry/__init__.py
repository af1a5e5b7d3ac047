"""Prometheus metrics shared by every component: instruments, registry, ``/metrics``.

The API server (``kubelite.apiserver.monitoring``), the scheduler
(``kubelite.scheduler.metrics``) and the node agent (``kubelite.agent.server``) each keep
one ``prometheus_client.CollectorRegistry`` made by ``instruments.new_registry`` and answer
``GET /metrics`` with ``instruments.render``. Imports nothing from kubelite, so every layer
may use it.
"""
