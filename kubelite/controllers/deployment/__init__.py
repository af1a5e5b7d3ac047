"""The Deployment controller, split by concern: ``controller`` (events and the
reconcile entry), ``sync`` (ReplicaSets: claim, new-RS, scale, cleanup), ``rolling`` and
``recreate`` (the strategies), ``rollback`` (revisions, how ``rollout undo`` lands),
``progress`` (status and conditions), ``util`` (pure arithmetic and hashing)."""

from kubelite.controllers.deployment.controller import DeploymentController

__all__ = ["DeploymentController"]
