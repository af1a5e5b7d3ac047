#!/usr/bin/env bash
# Start or stop a local N-member etcd cluster on 127.0.0.1, for trying kubelite HA on one
# machine (docs/ha.md) — tests use tests/support/etcd.py instead.
#
#   scripts/etcd-cluster.sh start DIR [N=3] [BASE_PORT=2379]
#   scripts/etcd-cluster.sh status DIR
#   scripts/etcd-cluster.sh stop DIR
#
# Member i (0-based) is named m<i>, listens for clients on BASE_PORT+2i and for peers on
# BASE_PORT+2i+1 (so m0 has etcd's usual 2379/2380), keeps its data in DIR/m<i>, logs to
# DIR/m<i>.log and its pid in DIR/m<i>.pid. `start` waits until every member is healthy,
# then prints the client URLs and the kubelite --datastore URL. Starting again on the same
# DIR restarts the members on their existing data. Needs etcd and etcdctl (Debian:
# apt-get install etcd-server etcd-client).
set -euo pipefail

usage() {
    sed -n '5,7p' "$0" | sed 's/^#   //' >&2
    exit 2
}

member_pids() {  # pids of the members recorded under DIR that are still running
    local dir=$1 pidfile pid
    for pidfile in "$dir"/m*.pid; do
        [[ -e $pidfile ]] || continue
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
    done
}

client_endpoints() {  # host:port of every member, comma-separated
    local dir=$1
    cat "$dir/endpoints"
}

start() {
    local dir=$1 n=${2:-3} base=${3:-2379}
    command -v etcd >/dev/null || { echo "etcd not found (apt-get install etcd-server)" >&2; exit 1; }
    [[ $n =~ ^[0-9]+$ && $n -ge 1 ]] || { echo "N must be a positive number" >&2; exit 2; }
    [[ $base =~ ^[0-9]+$ ]] || { echo "BASE_PORT must be a number" >&2; exit 2; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ -n $(member_pids "$dir") ]]; then
        echo "a cluster is already running in $dir (stop it first)" >&2
        exit 1
    fi
    local i initial="" endpoints=""
    for ((i = 0; i < n; i++)); do
        initial+="${initial:+,}m$i=http://127.0.0.1:$((base + 2 * i + 1))"
        endpoints+="${endpoints:+,}127.0.0.1:$((base + 2 * i))"
    done
    echo "$endpoints" >"$dir/endpoints"
    for ((i = 0; i < n; i++)); do
        local client="http://127.0.0.1:$((base + 2 * i))" peer="http://127.0.0.1:$((base + 2 * i + 1))"
        # Ignored by etcd when the member's data dir already exists (a restart).
        nohup etcd --name "m$i" --data-dir "$dir/m$i" \
            --listen-client-urls "$client" --advertise-client-urls "$client" \
            --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
            --initial-cluster "$initial" --initial-cluster-state new \
            --initial-cluster-token "kubelite-local-$base" \
            --logger zap --log-outputs stderr >>"$dir/m$i.log" 2>&1 </dev/null &
        echo $! >"$dir/m$i.pid"
    done
    local deadline=$((SECONDS + 30))
    until ETCDCTL_API=3 etcdctl --endpoints "$endpoints" --dial-timeout 1s \
            --command-timeout 2s endpoint health >/dev/null 2>&1; do
        if ((SECONDS > deadline)); then
            echo "etcd cluster in $dir not healthy after 30s; logs:" >&2
            tail -n 5 "$dir"/m*.log >&2
            stop "$dir"
            exit 1
        fi
        sleep 0.2
    done
    echo "etcd cluster of $n member(s) running in $dir"
    echo "client URLs: $(sed 's|\([^,]*\)|http://\1|g' "$dir/endpoints")"
    echo "kubelite datastore: etcd://$endpoints"
}

status() {
    local dir=$1
    ETCDCTL_API=3 etcdctl --endpoints "$(client_endpoints "$dir")" --dial-timeout 1s \
        endpoint status -w table
}

stop() {
    local dir=$1 pids pid
    pids=$(member_pids "$dir")
    if [[ -z $pids ]]; then
        echo "no etcd member running in $dir"
        return 0
    fi
    for pid in $pids; do kill -CONT "$pid" 2>/dev/null || true; kill -TERM "$pid" 2>/dev/null || true; done
    local deadline=$((SECONDS + 15))
    while [[ -n $(member_pids "$dir") ]]; do
        if ((SECONDS > deadline)); then
            for pid in $(member_pids "$dir"); do kill -KILL "$pid" 2>/dev/null || true; done
            break
        fi
        sleep 0.2
    done
    rm -f "$dir"/m*.pid
    echo "etcd cluster in $dir stopped"
}

case "${1:-}" in
    start) [[ $# -ge 2 && $# -le 4 ]] || usage; start "$2" "${3:-3}" "${4:-2379}" ;;
    status) [[ $# -eq 2 ]] || usage; status "$2" ;;
    stop) [[ $# -eq 2 ]] || usage; stop "$2" ;;
    *) usage ;;
esac
