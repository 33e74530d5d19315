#!/usr/bin/env bash
# Builds the pinned Kubernetes components and etcd used by the end-to-end tests, from the Go module proxy only,
# into a cache directory (default ~/.cache/nftpol-k8s/<version>) that `make clean` leaves alone. A no-op when
# every binary is there. Never shipped; nothing here is committed but the two small Go modules beside this file.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="$(sed -n 's/^require k8s.io\/kubernetes //p' "$here/kubernetes/go.mod")"
etcd_version="$(sed -n 's/^require go.etcd.io\/etcd\/server\/v3 //p' "$here/etcd/go.mod")"
out="${NFTPOL_K8S_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/nftpol-k8s/$version}"
mkdir -p "$out"
export GOFLAGS="-mod=mod -trimpath" CGO_ENABLED=0
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2) -X k8s.io/client-go/pkg/version.gitVersion=$version"
build() { # build <module dir> <package> <binary>
  if [ -x "$out/$3" ]; then return; fi
  echo "building $3 ($2)" >&2
  (cd "$here/$1" && go build -ldflags "$ldflags" -o "$out/$3.tmp" "$2") && mv "$out/$3.tmp" "$out/$3"
}
# e2e.test is a test binary (`go test -c`); the node tests (make e2e-node) also need kubelet, kube-scheduler,
# kube-proxy, agnhost and e2e.test: NFTPOL_K8S_COMMANDS names what to build beyond the default.
build_test() { # build_test <package> <binary>
  if [ -x "$out/$2" ]; then return; fi
  echo "building $2 ($1, go test -c)" >&2
  (cd "$here/kubernetes" && go test -c -ldflags "$ldflags" -o "$out/$2.tmp" "$1") && mv "$out/$2.tmp" "$out/$2"
}
build etcd go.etcd.io/etcd/server/v3 etcd
for cmd in ${NFTPOL_K8S_COMMANDS:-kube-apiserver kube-controller-manager kubectl}; do
  case "$cmd" in
    agnhost) build kubernetes k8s.io/kubernetes/test/images/agnhost agnhost ;;
    e2e.test) build_test k8s.io/kubernetes/test/e2e e2e.test ;;
    *) build kubernetes "k8s.io/kubernetes/cmd/$cmd" "$cmd" ;;
  esac
done
echo "$out"
