#!/usr/bin/env bash
# The test command: the README's, `make test`'s and CI's (.ci/run). Sets the machine up
# (idempotent, fast when done) and runs the whole suite; extra arguments go to pytest,
# e.g. `scripts/test.sh tests/unit -k pki`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
if [ "$#" -eq 0 ]; then set -- tests; fi
# -ra: one line per skip/xfail/failure at the end, so a skipped tier (no docker, no etcd)
# is visible; --durations: the slowest tests, to keep the suite inside CI's budget.
exec .venv/bin/pytest -q -ra --durations=15 "$@"
