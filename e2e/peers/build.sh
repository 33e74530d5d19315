#!/usr/bin/env bash
# Builds the pinned peers that make bench-peers and ENFORCER=kube-router|kube-network-policies run beside nftpol,
# from the Go module proxy only, into the cache of the Kubernetes binaries (default ~/.cache/nftpol-k8s/peers).
# A no-op when both binaries are there. Test peers, never shipped: the proxy flags security reports for
# kube-router v2.1.0 (the newest it serves). Prints the directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${NFTPOL_PEERS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/nftpol-k8s/peers}"
mkdir -p "$out"
export GOFLAGS="-mod=mod -trimpath" CGO_ENABLED=0
build() { # build <module dir> <module> <package> <binary> [<the module's version variable>]
  local version binary ldflags="-s -w"
  version="$(sed -n "s|^require $2 ||p" "$here/$1/go.mod")"
  binary="$4-$version"
  if [ -x "$out/$binary" ]; then return; fi
  if [ -n "${5:-}" ]; then ldflags="$ldflags -X $5=$version"; fi
  echo "building $binary ($3)" >&2
  (cd "$here/$1" && go build -ldflags "$ldflags" -o "$out/$binary.tmp" "$3") && mv "$out/$binary.tmp" "$out/$binary"
}
build kube-router github.com/cloudnativelabs/kube-router/v2 github.com/cloudnativelabs/kube-router/v2/cmd/kube-router kube-router \
  github.com/cloudnativelabs/kube-router/v2/pkg/version.Version
build kube-network-policies sigs.k8s.io/kube-network-policies sigs.k8s.io/kube-network-policies/cmd kube-network-policies
echo "$out"
