"""Where the API servers are and how to prove who we are: ``ClientConfig``.

Built from a kubeconfig file (``load_kubeconfig``, the same keys kubectl reads), from
command-line flags (``from_args``) or from a pod's service account (``in_cluster``).
``kubelite.client.rest.Client`` consumes it; the agent, the controller manager, the
scheduler and the CLI build it at start-up.

Several servers: ``ClientConfig.servers`` is an ordered list the client fails over through
when one does not answer. A kubeconfig cluster names one ``server`` (what kubectl uses);
kubelite writes the others into the cluster's extension ``kubelite.io/servers``, which
kubectl ignores::

    clusters:
    - name: kubelite
      cluster:
        server: https://10.0.0.1:6443
        certificate-authority-data: ...
        extensions:
        - name: kubelite.io/servers
          extension: {servers: [https://10.0.0.2:6443, https://10.0.0.3:6443]}
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SERVERS_EXTENSION = "kubelite.io/servers"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ConfigError(ValueError):
    """The kubeconfig (or the flags) do not describe a usable connection."""


@dataclass
class ClientConfig:
    """Everything ``Client`` needs to reach and authenticate to the API servers."""

    servers: list[str]
    token: str | None = None
    # A token file is re-read when it changes: projected service-account tokens rotate.
    token_file: str | None = None
    ca_pem: bytes | None = None
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = None
    insecure: bool = False
    tls_server_name: str | None = None
    namespace: str = "default"
    # Client-side rate limit (token bucket). client-go defaults to 5/10, far too low for a
    # controller manager; kube-controller-manager itself runs with 20/30. <= 0 disables.
    qps: float = 50.0
    burst: int = 100
    # Per-request deadline for ordinary calls (watches and streams have none).
    timeout: float = 30.0
    connect_timeout: float = 5.0
    user_agent: str = "kubelite-client"  # its part before "/" names the fields a write sets
    _token_cache: tuple[float, str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.servers = [s.rstrip("/") for s in self.servers if s]
        if not self.servers:
            raise ConfigError("no API server URL configured")
        if (self.client_cert_pem is None) != (self.client_key_pem is None):
            raise ConfigError("client certificate and key must be given together")

    def bearer_token(self) -> str | None:
        """The token to send now: the inline one, or the token file's current content."""
        if self.token:
            return self.token
        if not self.token_file:
            return None
        try:
            mtime = os.stat(self.token_file).st_mtime
        except OSError:
            # A rotating file may briefly vanish; the last good token is still our best bet.
            return self._token_cache[1] if self._token_cache else None
        if self._token_cache is None or self._token_cache[0] != mtime:
            self._token_cache = (mtime, Path(self.token_file).read_text().strip())
        return self._token_cache[1]

    def ssl_context(self) -> ssl.SSLContext:
        """A TLS context trusting ``ca_pem`` (or the system store) and presenting our cert."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_pem:
            ctx.load_verify_locations(cadata=self.ca_pem.decode())
        if self.client_cert_pem is not None and self.client_key_pem is not None:
            _load_cert_chain(ctx, self.client_cert_pem, self.client_key_pem)
        return ctx


def _load_cert_chain(ctx: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    # ssl only loads certificate chains from files; a private 0700 directory keeps the key
    # unreadable to others for the instant it exists on disk.
    with tempfile.TemporaryDirectory(prefix="kubelite-tls-") as tmp:
        cert_path, key_path = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
        cert_path.write_bytes(cert_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        ctx.load_cert_chain(str(cert_path), str(key_path))


def _named(entries: Any, name: str, what: str) -> dict[str, Any]:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(what)
            return body if isinstance(body, dict) else {}
    raise ConfigError(f"kubeconfig has no {what} named {name!r}")


def _data_or_file(section: dict[str, Any], key: str, base: Path) -> bytes | None:
    """``<key>-data`` (base64) wins over ``<key>`` (a path, relative to the kubeconfig)."""
    data = section.get(f"{key}-data")
    if data:
        return base64.b64decode(data)
    path = section.get(key)
    if path:
        return (base / Path(path).expanduser()).read_bytes()
    return None


def default_kubeconfig_path() -> Path:
    """``$KUBECONFIG`` (its first entry) or ``~/.kube/config``, as kubectl looks."""
    env = os.environ.get("KUBECONFIG")
    if env:
        return Path(env.split(os.pathsep)[0]).expanduser()
    return Path.home() / ".kube" / "config"


def load_kubeconfig(path: str | os.PathLike[str] | None = None, context: str | None = None) -> ClientConfig:
    """Read a kubeconfig file and return the connection for ``context`` (default: current).

    Understands certificate-authority(-data), client-certificate(-data), client-key(-data),
    token, tokenFile, insecure-skip-tls-verify, tls-server-name, the context's namespace,
    and kubelite's extra-servers extension. ``exec`` and ``auth-provider`` plugins are not
    supported and raise ``ConfigError`` rather than connecting anonymously.
    """
    file = Path(path).expanduser() if path is not None else default_kubeconfig_path()
    try:
        doc = yaml.safe_load(file.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read kubeconfig {file}: {exc}") from exc
    base = file.parent
    ctx_name = context or doc.get("current-context")
    if not ctx_name:
        raise ConfigError(f"kubeconfig {file} has no current-context")
    ctx = _named(doc.get("contexts"), ctx_name, "context")
    cluster = _named(doc.get("clusters"), ctx.get("cluster", ""), "cluster")
    user = _named(doc.get("users"), ctx["user"], "user") if ctx.get("user") else {}
    if "exec" in user or "auth-provider" in user:
        raise ConfigError(f"user {ctx.get('user')!r}: exec/auth-provider credentials are not supported")

    servers = [cluster.get("server", "")]
    for ext in cluster.get("extensions") or []:
        if isinstance(ext, dict) and ext.get("name") == SERVERS_EXTENSION:
            extra = (ext.get("extension") or {}).get("servers") or []
            servers += [s for s in extra if s not in servers]

    token_file = user.get("tokenFile")
    return ClientConfig(
        servers=servers,
        token=user.get("token") or None,
        token_file=str(base / token_file) if token_file else None,
        ca_pem=_data_or_file(cluster, "certificate-authority", base),
        client_cert_pem=_data_or_file(user, "client-certificate", base),
        client_key_pem=_data_or_file(user, "client-key", base),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=cluster.get("tls-server-name") or None,
        namespace=ctx.get("namespace") or "default",
    )


def from_args(
    *,
    server: str | list[str],
    token: str | None = None,
    token_file: str | None = None,
    ca_file: str | None = None,
    client_cert_file: str | None = None,
    client_key_file: str | None = None,
    insecure: bool = False,
    namespace: str = "default",
    qps: float = 50.0,
    burst: int = 100,
) -> ClientConfig:
    """A config from flags; ``server`` may be a list or a comma-separated string."""
    servers = server.split(",") if isinstance(server, str) else list(server)
    return ClientConfig(
        servers=[s.strip() for s in servers],
        token=token,
        token_file=token_file,
        ca_pem=Path(ca_file).read_bytes() if ca_file else None,
        client_cert_pem=Path(client_cert_file).read_bytes() if client_cert_file else None,
        client_key_pem=Path(client_key_file).read_bytes() if client_key_file else None,
        insecure=insecure,
        namespace=namespace,
        qps=qps,
        burst=burst,
    )


def in_cluster(sa_dir: Path = SERVICE_ACCOUNT_DIR) -> ClientConfig:
    """The config a pod gets from ``KUBERNETES_SERVICE_HOST``/``_PORT`` and its service account."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError("not running in a cluster: KUBERNETES_SERVICE_HOST/PORT are unset")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    ns_file = sa_dir / "namespace"
    return ClientConfig(
        servers=[f"https://{host}:{port}"],
        token_file=str(sa_dir / "token"),
        ca_pem=(sa_dir / "ca.crt").read_bytes(),
        namespace=ns_file.read_text().strip() if ns_file.exists() else "default",
    )


def component_user_agent(component: str) -> str:
    """The User-Agent of a kubelite component, in client-go's shape
    (``kube-scheduler/v1.37.0 (linux/amd64) kubelite/0.1.0``): the server names the
    ``managedFields`` manager of the component's writes by its part before the ``/``, so
    they read as upstream's (``kube-controller-manager``, ``kube-scheduler``, ``kubelet``)."""
    import platform

    import kubelite

    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return f"{component}/{kubelite.KUBERNETES_VERSION} (linux/{machine}) kubelite/{kubelite.__version__}"
