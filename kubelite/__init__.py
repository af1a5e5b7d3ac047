"""kubelite: a highly available container orchestrator that speaks the Kubernetes API.

The packages follow the layers drawn in docs/architecture.md; the import contract in
pyproject.toml (checked by tests/unit/test_layers.py) keeps them honest.
"""

__version__ = "0.1.0"
# The Kubernetes API version whose semantics and schemas kubelite serves.
KUBERNETES_VERSION = "v1.37.0"
