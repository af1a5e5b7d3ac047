"""The ``kubelite`` command: ``server``, ``up``, ``agent``, ``simulate``, ``explain``, ``datastore``.

Each subcommand parses its flags here and hands a config to the package that does the
work; nothing else in kubelite reads ``sys.argv``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
from pathlib import Path

from kubelite.aio import gctune, signals
from kubelite.api import tolerations
from kubelite.cli import priority

DEFAULT_DATA_DIR = Path(os.environ.get("KUBELITE_DATA_DIR", Path.home() / ".kubelite"))


def _server_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                   help="where the datastore, PKI and kubeconfig live (default: %(default)s)")
    p.add_argument("--bind-address", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=6443, help="HTTPS port (default: %(default)s)")
    p.add_argument("--datastore", default="", help="sqlite:///path/state.db (default: sqlite://<data-dir>/state.db)")
    p.add_argument("--advertise-address", default="127.0.0.1",
                   help="address other components use to reach this server (default: %(default)s)")
    p.add_argument("--tls-san", action="append", default=[], help="extra name or IP for the serving certificate")
    p.add_argument("--max-requests-inflight", type=int, default=600,
                   help="short requests served at once before answering 429 (default: %(default)s)")
    p.add_argument("--join", default="", metavar="URL",
                   help="join the cluster of the server at URL (takes its CA and admin token; needs --join-token)")
    p.add_argument("--join-token", default=os.environ.get("KUBELITE_JOIN_TOKEN", ""),
                   help="the join token printed by `kubelite token` on that server")
    p.add_argument("--event-ttl", type=_duration, default=3600.0, metavar="DURATION",
                   help="how long an Event is kept after its last write, as kube-apiserver's "
                        "--event-ttl: 1h, 30m, 90s or seconds (0: for good; default: 1h)")
    p.add_argument("--disable-admission-plugins", type=_admission_plugins, default=(), metavar="PLUGINS",
                   help="admission plugins to turn off, comma-separated, as kube-apiserver's flag; "
                        f"can name: {', '.join(_DISABLEABLE_PLUGINS)}")
    p.add_argument("--default-not-ready-toleration-seconds", type=_seconds, default=_DEFAULT_TOLERATION,
                   metavar="SECONDS",
                   help="tolerationSeconds of the not-ready:NoExecute toleration the DefaultTolerationSeconds "
                        "admission plugin gives every pod without one, as kube-apiserver's flag (default: "
                        f"%(default)s; upstream's: {_UPSTREAM_TOLERATION})")
    p.add_argument("--default-unreachable-toleration-seconds", type=_seconds, default=_DEFAULT_TOLERATION,
                   metavar="SECONDS",
                   help="the same for the unreachable:NoExecute toleration (default: %(default)s; "
                        f"upstream's: {_UPSTREAM_TOLERATION})")
    p.add_argument("--authorization-mode", choices=("RBAC", "AlwaysAllow"), default="RBAC",
                   help="how requests are authorized, as kube-apiserver's flag: RBAC (Roles and their "
                        "bindings; system:masters may do everything) or AlwaysAllow (every authenticated "
                        "user may do everything; default: %(default)s)")
    p.add_argument("--loop-nice", type=int, default=priority.DEFAULT_LOOP_NICE,
                   help="niceness of the API server's event loop thread and SQLite writer process, "
                        "the control plane's serial part, so that its clients on the same cores do not "
                        "take its core (needs root; 0: leave it; default: %(default)s)")


# Admission plugins that can be turned off, by upstream's names (the others kubelite runs
# are part of how it serves the API: NamespaceLifecycle, Priority, DefaultStorageClass).
_DISABLEABLE_PLUGINS = ("ServiceAccount", "DefaultTolerationSeconds", "PodSecurity")
# kubelite's default toleration of failed nodes, shared with the node lifecycle
# controller through the same environment variable (api.tolerations)
_DEFAULT_TOLERATION = int(os.environ.get(tolerations.DEFAULT_SECONDS_ENV, tolerations.DEFAULT_SECONDS))
_UPSTREAM_TOLERATION = tolerations.UPSTREAM_DEFAULT_SECONDS


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seconds {text!r}: use a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid seconds {text!r}: must not be negative")
    return value


def _admission_plugins(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in _DISABLEABLE_PLUGINS]
    if unknown:
        raise argparse.ArgumentTypeError(f"cannot disable admission plugin(s) {', '.join(unknown)}: "
                                         f"only {', '.join(_DISABLEABLE_PLUGINS)} can be")
    return names


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?)(h|ms|m|s)")


# kube-scheduler's and kube-controller-manager's ports (upstream serves them over HTTPS
# with delegated authentication; kubelite serves plain HTTP on loopback, as kube-proxy
# serves its metrics).
DEFAULT_SCHEDULER_METRICS = "127.0.0.1:10259"
DEFAULT_CONTROLLER_MANAGER_METRICS = "127.0.0.1:10257"


def _metrics_address(text: str) -> str:
    from kubelite.telemetry import http as telemetry_http

    try:
        telemetry_http.parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``1h30m`` or ``1h0m0s`` (Go's time.Duration, as
    kube-apiserver's flags take it)."""
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: use e.g. 1h, 30m, 90s or 1h0m0s")
    return sum(float(n) * scale[u] for n, u in parts)


def _server_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from kubelite.apiserver import server

    return server.ServerConfig(data_dir=args.data_dir.expanduser().resolve(), bind_address=args.bind_address,
                               port=args.port, datastore=args.datastore, advertise_address=args.advertise_address,
                               max_inflight=args.max_requests_inflight, extra_sans=args.tls_san,
                               join_url=args.join, join_token=args.join_token, event_ttl=args.event_ttl,
                               disable_admission_plugins=args.disable_admission_plugins,
                               default_not_ready_toleration_seconds=args.default_not_ready_toleration_seconds,
                               default_unreachable_toleration_seconds=args.default_unreachable_toleration_seconds,
                               authorization_mode=args.authorization_mode)


async def _run_components(srv, args: argparse.Namespace, *, agent: bool) -> None:  # type: ignore[no-untyped-def]
    """Controllers, scheduler (each leader-elected) and, for ``up``, a node agent — each in its
    own child process (see ``kubelite.cli.components``)."""
    import socket

    from kubelite.aio import tasks
    from kubelite.cli import components

    kubeconfig = str(srv.config.kubeconfig_path)
    base = ["-v"] if args.verbose else []
    identity = f"{socket.gethostname()}_{srv.url.rsplit(':', 1)[-1]}_{os.getpid()}"
    children: list[components.Component] = []
    if not getattr(args, "disable_controllers", False):
        children.append(components.Component("controller-manager", base + [
            "controller-manager", "--kubeconfig", kubeconfig, "--identity", identity,
            "--metrics-bind-address", args.controller_manager_metrics_bind_address]))
    if not getattr(args, "disable_scheduler", False):
        settings = ["--config", str(args.scheduler_config.expanduser().resolve())] if args.scheduler_config else []
        children.append(components.Component("scheduler", base + [
            "scheduler", "--kubeconfig", kubeconfig, "--identity", identity,
            "--metrics-bind-address", args.scheduler_metrics_bind_address, *settings]))
    if agent:
        children.append(components.Component("agent", base + [
            "agent", "--kubeconfig", kubeconfig, "--node-name", args.node_name or socket.gethostname().lower(),
            "--runtime", args.runtime, "--data-dir", str(args.data_dir.expanduser().resolve() / "agent")]))
    group = tasks.TaskGroup("components")
    for child in children:
        group.spawn(child.supervise(), name=child.name)
    try:
        await srv.serve_forever()
    finally:
        for child in children:
            await child.stop()
        await group.close()


async def _datastore(args: argparse.Namespace) -> int:
    """``kubelite datastore snapshot|restore FILE``."""
    from kubelite import storage
    from kubelite.storage import snapshot

    url = args.datastore or f"sqlite://{args.data_dir.expanduser().resolve() / 'state.db'}"
    backend = await storage.open_backend(url)
    try:
        if args.datastore_command == "snapshot":
            info = await snapshot.snapshot(backend, args.file)
            print(f"snapshot of {url}: {info.keys} keys at revision {info.revision} written to {info.path}")
        else:
            try:
                info = await snapshot.restore(backend, args.file)
            except snapshot.SnapshotError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            print(f"restored {info.keys} keys from {info.path} (snapshot revision {info.revision}) into {url}")
    finally:
        await backend.close()
    return 0


async def _explain(args: argparse.Namespace) -> int:
    """``kubelite explain pod NAME``: the scheduler's per-node reasons, readably."""
    from kubelite.client import config as client_config
    from kubelite.client import errors as client_errors
    from kubelite.client import resources, rest
    from kubelite.scheduler import explain

    cfg = client_config.load_kubeconfig(args.kubeconfig)
    async with rest.Client(cfg) as client:
        try:
            pod = await client.get(resources.PODS, args.name, namespace=args.namespace or cfg.namespace)
        except client_errors.ApiError as exc:
            print(f"Error from server ({exc.reason}): {exc}", file=sys.stderr)
            return 1
    print(explain.format_diagnosis(pod))
    return 0


async def _run_control_component(args: argparse.Namespace) -> None:
    """``kubelite controller-manager`` / ``kubelite scheduler``: one leader-elected component."""
    from kubelite.client import config as client_config

    cfg = client_config.load_kubeconfig(args.kubeconfig)
    cfg.qps, cfg.burst = 5000.0, 10000  # in-cluster components are not throttled like users
    identity = args.identity or f"{os.uname().nodename}_{os.getpid()}"
    from kubelite.telemetry import http as telemetry_http

    metrics_address = telemetry_http.parse_address(args.metrics_bind_address)
    if args.command == "controller-manager":
        from kubelite.controllers import manager

        await manager.run(cfg, identity=identity, metrics_address=metrics_address)
    else:
        from kubelite.scheduler import config as sched_config
        from kubelite.scheduler import runner

        settings = sched_config.load(args.config) if args.config else None
        await runner.run(cfg, identity=identity, settings=settings, metrics_address=metrics_address)


async def _run_server(args: argparse.Namespace, *, agent: bool = False) -> None:
    from kubelite.apiserver import server

    if args.scheduler_config and not getattr(args, "disable_scheduler", False):
        from kubelite.scheduler import config as sched_config

        sched_config.load(args.scheduler_config)  # a bad file stops us here, not in the child

    async with server.APIServer(_server_config(args)) as srv:
        # after the SQLite writer process started (raised with the loop), before the
        # components do (they keep the priority the server started with)
        priority.raise_loop(args.loop_nice, also=getattr(srv.backend, "serial_pids", ()))
        print(f"kubelite API server ready at {srv.url}", flush=True)
        print(f"kubeconfig: {srv.config.kubeconfig_path}", flush=True)
        print(f"  export KUBECONFIG={srv.config.kubeconfig_path}; kubectl get nodes", flush=True)
        await _run_components(srv, args, agent=agent)


def _agent_subcommands(sub) -> None:  # type: ignore[no-untyped-def]
    """``kubelite agent`` and ``kubelite simulate``: clients of an existing API server."""
    p_agent = sub.add_parser("agent", help="run a node agent against an API server")
    p_sim = sub.add_parser("simulate", help="N fake nodes in one process, for scale tests")
    for p in (p_agent, p_sim):
        p.add_argument("--kubeconfig", help="kubeconfig to reach the API server")
        p.add_argument("--server", help="API server URL(s), comma-separated (instead of --kubeconfig)")
        p.add_argument("--token", help="bearer token (with --server)")
        p.add_argument("--certificate-authority", help="CA file (with --server)")
    p_agent.add_argument("--node-name", default="", help="the node's name (default: the host name)")
    p_agent.add_argument("--runtime", choices=("auto", "docker", "process", "fake"), default="auto")
    p_agent.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR / "agent")
    p_agent.add_argument("--stream-port", type=int, default=10250, help="logs/exec endpoint port (0: any)")
    p_agent.add_argument("--pod-cidr", default=os.environ.get("KUBELITE_POD_CIDR", ""),
                         help="subnet of the docker runtime's pod network (env KUBELITE_POD_CIDR; "
                              "default 10.88.0.0/16)")
    p_agent.add_argument("--cluster-dns", default="10.43.0.10",
                         help="the cluster DNS address pods with dnsPolicy ClusterFirst use (kube-dns's ClusterIP; "
                              "empty: the node's resolver)")
    p_agent.add_argument("--cluster-domain", default="cluster.local", help="the cluster's DNS domain")
    p_agent.add_argument("--no-service-proxy", action="store_true",
                         default=os.environ.get("KUBELITE_NO_SERVICE_PROXY", "") not in ("", "0", "false"),
                         help="run no Service proxy or cluster DNS on this node (kube-proxy's part of the agent; "
                              "env KUBELITE_NO_SERVICE_PROXY=1)")
    p_sim.add_argument("--nodes", type=int, required=True)
    p_sim.add_argument("--prefix", default="sim", help="node names are <prefix>-0000 …")


async def _run_agent(args: argparse.Namespace) -> None:
    import socket

    from kubelite.client import config as client_config

    if args.kubeconfig or not args.server:
        cfg = client_config.load_kubeconfig(args.kubeconfig)
    else:
        cfg = client_config.from_args(server=args.server, token=args.token, ca_file=args.certificate_authority)
    # Node agents are cluster components: a burst of pod starts must not queue behind a
    # user-sized client rate limit (kubelet's default is 50 qps; kubelite's pods start in bursts).
    cfg.qps, cfg.burst = 1000.0, 2000
    if args.command == "simulate":
        from kubelite.agent import simulate

        await simulate.run(cfg, nodes=args.nodes, prefix=args.prefix)
        return
    from kubelite.agent import runner as agent_runner

    await agent_runner.run(cfg, node_name=args.node_name or socket.gethostname().lower(), runtime=args.runtime,
                           data_dir=args.data_dir.expanduser().resolve(), stream_port=args.stream_port,
                           pod_cidr=args.pod_cidr,
                           services=agent_runner.ServiceNetworkOptions(cluster_dns=args.cluster_dns,
                                                                       cluster_domain=args.cluster_domain,
                                                                       proxy=not args.no_service_proxy))


def main(argv: list[str] | None = None) -> int:
    from kubelite.cli import components

    components.adopt_parent()  # a component of a server: die with it, at its starting niceness
    parser = argparse.ArgumentParser(prog="kubelite", description="A highly available container orchestrator "
                                     "that speaks the Kubernetes API.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    p_server = sub.add_parser("server", help="run an API server (with controllers and scheduler)")
    _server_flags(p_server)
    for p in (p_server,):
        p.add_argument("--disable-controllers", action="store_true", help="do not run the controller manager")
        p.add_argument("--disable-scheduler", action="store_true", help="do not run the scheduler")
    p_up = sub.add_parser("up", help="a whole single-node cluster: server, controllers, scheduler and an agent")
    _server_flags(p_up)
    for p in (p_server, p_up):
        p.add_argument("--scheduler-config", type=Path, default=None, help="the scheduler's "
                       "KubeSchedulerConfiguration file (kubescheduler.config.k8s.io/v1)")
        p.add_argument("--scheduler-metrics-bind-address", type=_metrics_address, default=DEFAULT_SCHEDULER_METRICS,
                       metavar="HOST:PORT", help="where the scheduler serves GET /metrics, plain HTTP "
                       "(empty or port 0: not served; default: %(default)s)")
        p.add_argument("--controller-manager-metrics-bind-address", type=_metrics_address,
                       default=DEFAULT_CONTROLLER_MANAGER_METRICS, metavar="HOST:PORT",
                       help="where the controller manager serves GET /metrics, plain HTTP "
                       "(empty or port 0: not served; default: %(default)s)")
    p_up.add_argument("--node-name", default="", help="the node's name (default: the host name)")
    p_up.add_argument("--runtime", choices=("auto", "docker", "process", "fake"), default="auto",
                      help="container runtime (default: docker when an engine answers, else process)")
    _agent_subcommands(sub)
    p_explain = sub.add_parser("explain", help="why a pod is where it is (or pending): the scheduler's reasons")
    p_explain.add_argument("kind", choices=("pod", "pods", "po"))
    p_explain.add_argument("name")
    p_explain.add_argument("-n", "--namespace", default="")
    p_explain.add_argument("--kubeconfig",
                           default=os.environ.get("KUBECONFIG", str(DEFAULT_DATA_DIR / "kubeconfig.yaml")))
    p_token = sub.add_parser("token", help="print the join token other servers use to join this cluster")
    p_token.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p_ds = sub.add_parser("datastore", help="snapshot, restore and migrate the datastore (server stopped)")
    ds_sub = p_ds.add_subparsers(dest="datastore_command", required=True)
    for verb, what in (("snapshot", "write a snapshot of the datastore to FILE"),
                       ("restore", "load FILE into an empty datastore (also: migration SQLite <-> etcd)")):
        p = ds_sub.add_parser(verb, help=what)
        p.add_argument("file", type=Path)
        p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
        p.add_argument("--datastore", default="", help="sqlite:///path or etcd://h1:2379,h2:2379 "
                       "(default: sqlite://<data-dir>/state.db)")
    for name, what in (("controller-manager", "the controllers"), ("scheduler", "the scheduler")):
        p = sub.add_parser(name, help=f"run {what} alone against an API server (leader-elected)")
        p.add_argument("--kubeconfig", required=True, help="kubeconfig to reach the API server")
        p.add_argument("--identity", default="", help="leader-election identity (default: host_pid)")
        if name == "scheduler":
            p.add_argument("--config", type=Path, default=None, help="a KubeSchedulerConfiguration file "
                           "(kubescheduler.config.k8s.io/v1): profiles, plugins and their args")
        p.add_argument("--metrics-bind-address", type=_metrics_address,
                       default=DEFAULT_SCHEDULER_METRICS if name == "scheduler" else DEFAULT_CONTROLLER_MANAGER_METRICS,
                       metavar="HOST:PORT", help="serve GET /metrics here, plain HTTP (empty or port 0: "
                       "not served; default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    gctune.tune()
    try:
        import uvloop  # optional: a faster event loop when installed

        uvloop.install()
    except ImportError:
        pass
    try:
        # SIGTERM (systemd's stop, a supervisor's) and SIGINT end a server the way out it
        # has for any stop: components stopped (leaders release their Leases, so another
        # server takes over at once), datastore closed; exit 0.
        if args.command == "server":
            asyncio.run(signals.until_signalled(_run_server(args)))
        elif args.command == "up":
            asyncio.run(signals.until_signalled(_run_server(args, agent=True)))
        elif args.command == "token":
            from kubelite.apiserver import join, pki

            print(join.join_token(pki.load_pki(args.data_dir.expanduser().resolve())))
        elif args.command == "datastore":
            return asyncio.run(_datastore(args))
        elif args.command == "explain":
            return asyncio.run(_explain(args))
        elif args.command in ("controller-manager", "scheduler"):
            asyncio.run(signals.until_signalled(_run_control_component(args)))
        elif args.command in ("agent", "simulate"):
            asyncio.run(_run_agent(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a refusal we can explain beats a traceback
        from kubelite.apiserver import join, server

        if isinstance(exc, (join.JoinError, ValueError, server.StoreStopped)):  # incl. a bad scheduler config
            print(f"kubelite: error: {exc}", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
