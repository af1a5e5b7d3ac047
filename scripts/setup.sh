#!/usr/bin/env bash
# Idempotent machine set-up for kubelite on Debian/Ubuntu, run as root: system packages,
# the project venv (.venv) with kubelite installed editable, a running Docker engine, and
# the local test images. Called by scripts/up.sh, scripts/test.sh (so by .ci/run) and
# the Makefile. Every step checks first and skips work already done, so a second run
# takes well under 5 s.
#
# Environment:
#   KUBELITE_PYTHON      interpreter for the venv (default: the distribution's python3.11 or
#                        python3 in /usr/bin, else the first python3.11/python3 on PATH; >= 3.11)
#   KUBELITE_NO_DOCKER=1 skip starting dockerd and building images (unit work only)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"
started=$SECONDS

say() { echo "setup: $*"; }

# --- 1. system packages ---------------------------------------------------------------
packages=(docker.io etcd-server etcd-client busybox-static iproute2 iptables procps psmisc make)

# The distribution's interpreter comes first, ahead of one on PATH (pyenv and the like):
# Debian builds it with profile-guided and link-time optimisation and links libpython
# statically, and kubelite's processes spend most of their CPU in the interpreter. A
# pyenv default build (no PGO/LTO, shared libpython) took 15-20 % more CPU per pod create
# in the API server on the same machine (docs/benchmarks.md, ninth session).
pick_python() {
    local candidate
    for candidate in "${KUBELITE_PYTHON:-}" /usr/bin/python3.11 /usr/bin/python3 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

if python="$(pick_python)"; then
    # Debian's own python3 ships venv's pip bootstrap in a separate package.
    if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        packages+=(python3-venv)
    fi
else
    packages+=(python3 python3-venv)
fi

missing=()
for pkg in "${packages[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing packages ${missing[*]}; run this as root to install them" >&2
        exit 1
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Package scripts must not start etcd or docker as services: a stray etcd on 2379
    # would collide with the clusters the tests start, and there is no init system to
    # supervise them. policy-rc.d answering 101 is the Debian way to say so.
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    trap 'if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
    # needrestart (recommended by docker.io) would otherwise ask about restarting services.
    export NEEDRESTART_SUSPEND=1 NEEDRESTART_MODE=l
    apt-get update -q
    # With recommends, as verified on Debian 12 (docker.io recommends cgroupfs-mount, xz-utils).
    apt-get install -y -q "${missing[@]}"
    if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; made_policy=0; fi
    python="$(pick_python)" || { echo "setup: no Python >= 3.11 found" >&2; exit 1; }
fi

# --- 2. the venv -------------------------------------------------------------------------
# The stamp records what the venv was built from; pip (several seconds even when there is
# nothing to do) only runs when pyproject.toml or the interpreter changed.
venv="$repo/.venv"
stamp="$venv/.kubelite-setup"
real_python="$("$python" -c 'import os, sys; print(os.path.realpath(sys.executable))')"
if [ -x "$venv/bin/python" ] && [ "$(readlink -f "$venv/bin/python")" != "$real_python" ]; then
    say "recreating $venv: it was made with $(readlink -f "$venv/bin/python"), not $real_python"
    rm -rf "$venv"
fi
want="$(sha256sum pyproject.toml | cut -c1-64) $real_python $("$python" -c 'import sys; print(sys.version)' | head -1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] ||
    ! "$venv/bin/python" -c "import kubelite, sys; sys.exit(not kubelite.__file__.startswith('$repo/'))" 2>/dev/null; then
    if [ ! -x "$venv/bin/python" ]; then
        say "creating $venv with $python"
        "$python" -m venv "$venv"
    fi
    say "installing kubelite[test,fast] into $venv"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e ".[test,fast]"
    echo "$want" >"$stamp"
fi

# --- 3. Docker engine and images -----------------------------------------------------------
if [ "${KUBELITE_NO_DOCKER:-0}" != 1 ]; then
    bash scripts/start-dockerd.sh
    bash scripts/build-test-image.sh
fi

say "ready in $((SECONDS - started))s"
