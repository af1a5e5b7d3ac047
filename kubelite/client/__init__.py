"""kubelite's async Kubernetes client: the only way components other than the API server
reach the cluster (controllers, scheduler, node agent, proxy, CLI helpers).

It speaks the plain Kubernetes API over HTTPS, so it works against kubelite's server and
against real Kubernetes, and it never imports ``kubelite.storage`` or
``kubelite.apiserver``. The pieces, each in its own module:

- ``config``     — ``ClientConfig`` from a kubeconfig, flags or a service account;
- ``rest``       — ``Client``: verbs, watch, failover across servers, retries, throttling;
- ``errors``     — ``ApiError`` and its subclasses, one per Kubernetes ``Status`` reason;
- ``resources``  — ``Resource`` and constants (``PODS``, ``NODES``, ``LEASES``, …);
- ``informer``   — list + watch into a local cache with handlers and indices;
- ``workqueue``  — client-go's rate-limited work queue and ``run_workers``;
- ``leaderelection`` — Lease-based leader election with fencing.

A controller in a few lines::

    async with rest.Client(config.load_kubeconfig()) as client:
        pods = informer.Informer(client, resources.PODS)
        queue: workqueue.WorkQueue[str] = workqueue.WorkQueue(name="pods")
        pods.add_handler(on_add=lambda o: queue.add(informer.key_of(o)))
        async with pods.running():
            await pods.wait_synced()
            workqueue.run_workers(queue, reconcile, workers=4, tg=tg)
"""

from kubelite.client import (
    config,
    errors,
    informer,
    leaderelection,
    resources,
    rest,
    workqueue,
)
from kubelite.client.config import ClientConfig, from_args, load_kubeconfig
from kubelite.client.errors import ApiError
from kubelite.client.informer import Informer, key_of, split_key
from kubelite.client.leaderelection import LeaderElector, Leadership, LeadershipLost
from kubelite.client.resources import Resource
from kubelite.client.rest import Client
from kubelite.client.workqueue import WorkQueue, run_workers

__all__ = [
    "ApiError", "Client", "ClientConfig", "Informer", "LeaderElector", "Leadership",
    "LeadershipLost", "Resource", "WorkQueue", "config", "errors", "from_args", "informer",
    "key_of", "leaderelection", "load_kubeconfig", "resources", "rest", "run_workers",
    "split_key", "workqueue",
]
