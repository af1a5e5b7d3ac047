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


async def _run_server(args: argparse.Namespace) -> None:
    from kubelite.apiserver import server

    async with server.APIServer(_server_config(args)) as srv:
        print(f"kubelite API server ready at {srv.url}", flush=True)
        print(f"kubeconfig: {srv.config.kubeconfig_path}", flush=True)
        print(f"  export KUBECONFIG={srv.config.kubeconfig_path}; kubectl get nodes", flush=True)
        await srv.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubelite", description="A highly available container orchestrator "
                                     "that speaks the Kubernetes API.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    p_server = sub.add_parser("server", help="run an API server (with controllers and scheduler)")
    _server_flags(p_server)
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
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
