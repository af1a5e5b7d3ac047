#!/usr/bin/env bash
# Start the Docker engine in the background when it does not answer, then wait (with a
# deadline) until `docker info` does. Called by scripts/setup.sh and by .ci/run (through
# setup.sh). There is no service manager on the target machines (no systemd), so we run
# dockerd ourselves, detached from this shell so it outlives it, and log to a file.
#
# Environment:
#   KUBELITE_DOCKERD_LOG      log file (default /var/log/kubelite-dockerd.log)
#   KUBELITE_DOCKERD_TIMEOUT  seconds to wait for the engine (default 60)
set -euo pipefail

log_file="${KUBELITE_DOCKERD_LOG:-/var/log/kubelite-dockerd.log}"
timeout="${KUBELITE_DOCKERD_TIMEOUT:-60}"

answers() { docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

if answers; then
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    echo "start-dockerd: dockerd is not installed (apt-get install docker.io)" >&2
    exit 1
fi

# A dockerd that is still starting (or one another shell just launched) owns the socket:
# starting a second one would fight over /var/run/docker.pid, so only wait for it.
if pgrep -x dockerd >/dev/null 2>&1; then
    echo "start-dockerd: dockerd is running but not answering yet; waiting up to ${timeout}s"
else
    if [ "$(id -u)" -ne 0 ]; then
        echo "start-dockerd: the Docker engine is not running and starting it needs root" >&2
        exit 1
    fi
    mkdir -p "$(dirname "$log_file")"
    echo "start-dockerd: starting dockerd (log: $log_file)"
    # setsid + nohup: a new session, so neither the end of this script nor a Ctrl-C in
    # the caller's terminal stops the engine the tests depend on.
    setsid nohup dockerd >>"$log_file" 2>&1 </dev/null &
fi

deadline=$((SECONDS + timeout))
until answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "start-dockerd: docker did not answer within ${timeout}s; last lines of $log_file:" >&2
        tail -n 30 "$log_file" >&2 2>/dev/null || true
        exit 1
    fi
    # A dockerd that exited (bad config, no cgroups, ...) will never answer: fail fast.
    if ! pgrep -x dockerd >/dev/null 2>&1 && [ "$SECONDS" -ge $((deadline - timeout + 3)) ]; then
        echo "start-dockerd: dockerd exited; last lines of $log_file:" >&2
        tail -n 30 "$log_file" >&2 2>/dev/null || true
        exit 1
    fi
    sleep 0.2
done
echo "start-dockerd: docker $(docker info --format '{{.ServerVersion}}') is answering"
