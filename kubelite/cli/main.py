"""The ``kubelite`` command: ``server``, ``up``, ``agent``, ``simulate``, ``explain``, ``datastore``.

Each subcommand parses its flags here and hands a config to the package that does the
work; nothing else in kubelite reads ``sys.argv``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

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


def _server_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from kubelite.apiserver import server

    return server.ServerConfig(data_dir=args.data_dir.expanduser().resolve(), bind_address=args.bind_address,
                               port=args.port, datastore=args.datastore, advertise_address=args.advertise_address,
                               max_inflight=args.max_requests_inflight, extra_sans=args.tls_san)


def _client_config_for(srv):  # type: ignore[no-untyped-def]
    """In-process components reach the API server like any client: over HTTPS with a token."""
    from kubelite.client import config as client_config

    return client_config.ClientConfig(servers=[srv.url], token=srv.pki.token, ca_pem=srv.pki.ca_pem(),
                                      qps=5000.0, burst=10000, user_agent="kubelite-server")


async def _run_components(srv, args: argparse.Namespace, *, agent: bool) -> None:  # type: ignore[no-untyped-def]
    """Controllers, scheduler (each leader-elected) and, for ``up``, a node agent."""
    import socket

    from kubelite.aio import tasks

    cfg = _client_config_for(srv)
    identity = f"{socket.gethostname()}_{srv.url.rsplit(':', 1)[-1]}_{os.getpid()}"
    group = tasks.TaskGroup("components")
    if not getattr(args, "disable_controllers", False):
        from kubelite.controllers import manager

        group.spawn(manager.run(cfg, identity=identity), name="controller-manager")
    if not getattr(args, "disable_scheduler", False):
        from kubelite.scheduler import runner

        group.spawn(runner.run(cfg, identity=identity), name="scheduler")
    if agent:
        from kubelite.agent import runner as agent_runner

        group.spawn(agent_runner.run(cfg, node_name=args.node_name or socket.gethostname().lower(),
                                     runtime=args.runtime, data_dir=args.data_dir.expanduser().resolve() / "agent"),
                    name="agent")
    try:
        await srv.serve_forever()
    finally:
        await group.close()


async def _run_server(args: argparse.Namespace, *, agent: bool = False) -> None:
    from kubelite.apiserver import server

    async with server.APIServer(_server_config(args)) as srv:
        print(f"kubelite API server ready at {srv.url}", flush=True)
        print(f"kubeconfig: {srv.config.kubeconfig_path}", flush=True)
        print(f"  export KUBECONFIG={srv.config.kubeconfig_path}; kubectl get nodes", flush=True)
        await _run_components(srv, args, agent=agent)


def main(argv: list[str] | None = None) -> int:
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
    p_up.add_argument("--node-name", default="", help="the node's name (default: the host name)")
    p_up.add_argument("--runtime", choices=("auto", "docker", "process", "fake"), default="auto",
                      help="container runtime (default: docker when an engine answers, else process)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        import uvloop  # optional: a faster event loop when installed

        uvloop.install()
    except ImportError:
        pass
    try:
        if args.command == "server":
            asyncio.run(_run_server(args))
        elif args.command == "up":
            asyncio.run(_run_server(args, agent=True))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
