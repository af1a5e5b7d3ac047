#!/usr/bin/env bash
# Build the small local images that tests and `kubelite up` use, from Debian's
# busybox-static (no registry is reachable, so nothing is pulled):
#
#   kubelite-test/busybox:1.0  busybox with every applet on PATH (sh, sleep, httpd, nc, wget,
#                              ...) and /www/index.html = "hello from kubelite";
#                              default command: httpd -f -p 80 -h /www
#   kubelite/pause:1.0         the agent's pod sandbox: same rootfs, a command that sleeps
#                              forever yet exits at once on SIGTERM
#
# Called by scripts/setup.sh. Skips an image that exists and was built from this same
# recipe (a label holds the recipe's hash, so editing this file rebuilds); set
# KUBELITE_REBUILD_IMAGES=1 to force a rebuild.
set -euo pipefail

busybox="${KUBELITE_BUSYBOX:-/bin/busybox}"
test_image="kubelite-test/busybox:1.0"
pause_image="kubelite/pause:1.0"
recipe="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)"

up_to_date() {
    [ "${KUBELITE_REBUILD_IMAGES:-0}" != 1 ] &&
        [ "$(docker image inspect -f '{{index .Config.Labels "io.kubelite.recipe"}}' "$1" 2>/dev/null)" = "$recipe" ]
}

if up_to_date "$test_image" && up_to_date "$pause_image"; then
    exit 0
fi

if [ ! -x "$busybox" ]; then
    echo "build-test-image: $busybox missing (apt-get install busybox-static)" >&2
    exit 1
fi
# The image has no libc: a dynamically linked busybox (Debian's `busybox` package, which
# replaces busybox-static) would fail in the container with a baffling "no such file".
if ldd "$busybox" >/dev/null 2>&1; then
    echo "build-test-image: $busybox is dynamically linked; install busybox-static" >&2
    exit 1
fi

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT

mkdir -p "$rootfs"/{bin,etc,root,tmp,var/run,www,proc,sys,dev}
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
# /usr/bin/env is where scripts' shebangs look; /sbin and /usr/bin for tools that
# hard-code those paths.
mkdir -p "$rootfs/usr"
ln -s ../bin "$rootfs/usr/bin"
ln -s bin "$rootfs/sbin"
cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
echo "hello from kubelite" >"$rootfs/www/index.html"

import_image() {
    local name="$1" cmd="$2"
    tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -c . |
        docker import \
            --change 'ENV PATH=/bin' \
            --change "LABEL io.kubelite.recipe=$recipe" \
            --change "CMD $cmd" \
            - "$name" >/dev/null
    echo "build-test-image: built $name"
}

import_image "$test_image" '["httpd","-f","-p","80","-h","/www"]'
# `sleep` as PID 1 ignores SIGTERM (the kernel gives PID 1 no default handlers), so
# every pod deletion would wait out Docker's 10 s grace period; a shell with a trap
# exits at once.
import_image "$pause_image" '["sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 2147483647 & wait $!; done"]'
