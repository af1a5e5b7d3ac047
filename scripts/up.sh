#!/usr/bin/env bash
# Start a single-node kubelite cluster on this machine: sets the machine up (packages,
# venv, Docker engine, images; idempotent) then runs `kubelite up`, which prints where
# the kubeconfig is. Extra arguments go to `kubelite up`. The README's first command.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/kubelite up "$@"
