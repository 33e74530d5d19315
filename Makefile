# nftpol: every entry point. Node.js 24 comes from the npm package `node` (a devDependency), so
# everything runs through node_modules/.bin on a machine that only has an older Node and npm.
SHELL := /bin/bash
NODE := node_modules/.bin/node
NFTPOL := $(NODE) dist/src/cli/main.js
SEEDS := examples/seeds

.PHONY: all install build typecheck test unit deps demo demo-offline bench-engine bench-dataplane bench-agent bench-abuse bench-watch-faults bench-scrape bench-features bench-e2e bench-peers peers-bin image print-image e2e-kind e2e-node node-deps scenario e2e e2e-lifecycle conformance-scenarios k8s-bin node-images clean

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.package-lock.json

build: install
	npm run --silent build

typecheck: install
	npx --no-install tsc -p tsconfig.test.json --noEmit

unit: build
	npm test --silent

test: typecheck deps k8s-bin unit e2e

# System tools the sandbox cluster needs (Debian; the demo and the end-to-end tests run as root).
deps:
	@command -v nft >/dev/null && command -v ip >/dev/null && command -v curl >/dev/null && command -v python3 >/dev/null && command -v conntrack >/dev/null && command -v openssl >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nftables iproute2 curl python3 procps conntrack openssl >/dev/null)

# The live demo: a two-node sandbox cluster, the seed examples' policies one by one, real packets.
demo: deps build
	@$(NODE) dist/e2e/demo.js

# The offline demo: the same seed examples as connectivity matrices computed from the manifests.
demo-offline: build
	@for f in $(SEEDS)/0*.yaml; do \
	  echo; echo "== $$f"; sed -n '1,2{/^#/p}' $$f; \
	  $(NFTPOL) matrix -f $(SEEDS)/pods.yaml -f $$f --port 80/TCP --port 8080/TCP; \
	done

bench-engine: build
	$(NODE) --expose-gc dist/bench/engine.js

# The build output only; the Kubernetes binaries' cache (make k8s-bin) stays.
clean:
	rm -rf dist

# etcd, kube-apiserver, kube-controller-manager and kubectl, built from the Go module proxy into
# $${NFTPOL_K8S_BIN:-~/.cache/nftpol-k8s/<version>} (e2e/k8s/build.sh). A no-op once they are there.
k8s-bin:
	@command -v go >/dev/null || { echo "make k8s-bin needs Go (1.26) and access to the Go module proxy" >&2; exit 2; }
	@e2e/k8s/build.sh

# The node tests' container images without a registry (pause, agnhost, a node:24-bookworm-slim stand-in from
# debootstrap, nftpol from the Dockerfile), as docker-archives for `ctr images import`, in
# $${NFTPOL_IMAGES:-~/.cache/nftpol-images} (e2e/node/images.sh). Needs root; a no-op once they are there.
node-images: install
	@command -v buildah >/dev/null && command -v skopeo >/dev/null && command -v debootstrap >/dev/null && command -v gcc >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah skopeo debootstrap gcc libc6-dev >/dev/null)
	@test -x $${NFTPOL_K8S_BIN:-$${XDG_CACHE_HOME:-$$HOME/.cache}/nftpol-k8s/$$(sed -n 's/^require k8s.io\/kubernetes //p' e2e/k8s/kubernetes/go.mod)}/agnhost || NFTPOL_K8S_COMMANDS=agnhost $(MAKE) --no-print-directory k8s-bin
	@e2e/node/images.sh

bench-dataplane: build
	@command -v iperf3 >/dev/null || (apt-get update -qq && apt-get install -y -qq iperf3 >/dev/null)
	$(NODE) dist/bench/dataplane.js

bench-agent: build
	$(NODE) dist/bench/agent.js

# 32 scrapers in a loop against a real agent: programming latency and /healthz with and without them.
# BASELINE_CLI=<older build's dist/src/cli/main.js> adds a phase with that build, in the same run.
bench-scrape: build
	$(NODE) dist/bench/scrape.js

# One hostile tenant's worst-case policies (within the per-policy limits) beside a well-behaved tenant's
# changes: the latter's programming latency with and without, /healthz, event-loop stalls, heap and RSS.
bench-abuse: deps build
	$(NODE) dist/bench/abuse.js

# Requests per second an agent sends the API server during each API fault, main's agent beside this tree's
# (needs root: a network namespace of its own). FAULT_SECONDS=60, BEFORE_REF=main.
bench-watch-faults: build
	$(NODE) dist/bench/watch-faults.js

# make scenario SCENARIO=<file> OUT=<file> [ENFORCER=nftpol|kube-router|off] [API=real]: one scenario in a
# sandbox cluster (needs root), against the API server double or (API=real, after make k8s-bin; the default
# for a peer, after make peers-bin) a real control plane. AGENT=off is the older spelling of ENFORCER=off.
scenario: build
	@test -n "$(SCENARIO)" -a -n "$(OUT)" || { echo "usage: make scenario SCENARIO=<file> OUT=<file> [ENFORCER=nftpol|kube-router|off] [API=real]" >&2; exit 2; }
	@$(NODE) dist/e2e/runner/run.js "$(SCENARIO)" "$(OUT)"

# Every scenario with the agents, and each again without them (ENFORCER=off control), then the lifecycle
# cases, against one real control plane (API=double: the API server double). Needs root.
# ENFORCER=nftpol,kube-router runs them with each (a peer's failures are information, not failures).
e2e: deps build k8s-bin
	$(NODE) dist/e2e/runner/suite.js

# The container image. Its reference lives in one place, daemonset/daemonset.yaml; IMAGE=... builds another.
IMAGE ?= $(shell sed -n 's/^ *image: *//p' daemonset/daemonset.yaml | head -1)
print-image:
	@echo $(IMAGE)
image:
	docker build -t $(IMAGE) .
	@docker image inspect $(IMAGE) --format 'built $(IMAGE): {{.Size}} bytes'

# The scenarios on a real kind cluster (needs docker, kind, kubectl; not possible on the development
# machines). KIND_CNI=kindnet (default: the pinned old kindnetd) or ptp (kind's CNI off, e2e/node's ptp/host-local).
# Environment knobs: e2e/kind/run.ts.
e2e-kind: build
	$(NODE) dist/e2e/kind/run.js

# What the local nodes of make e2e-node run on (Debian): containerd, runc, the CNI plugins (ptp, host-local,
# portmap), nsenter/unshare; installed as make deps installs its own.
node-deps: deps
	@command -v containerd >/dev/null && command -v runc >/dev/null && test -x /usr/lib/cni/ptp && command -v nsenter >/dev/null && command -v unshare >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends containerd runc containernetworking-plugins util-linux >/dev/null)

# The kind runner's scenarios and Kubernetes' own NetworkPolicy e2e tests (with nftpol, then without it as
# the control) on a local cluster of real nodes: kubelet + containerd + kube-proxy per network namespace
# (e2e/node). Builds what is missing: the Kubernetes binaries (e2e/k8s/build.sh) and the images
# (make node-images: e2e/node/images.sh). Needs root. Environment knobs: e2e/node/run.ts.
E2E_NODE_K8S := kube-apiserver kube-controller-manager kubectl kubelet kube-scheduler kube-proxy agnhost e2e.test
e2e-node: node-deps build
	@command -v go >/dev/null || { echo "make e2e-node needs Go (1.26) and access to the Go module proxy" >&2; exit 2; }
	@NFTPOL_K8S_COMMANDS="$(E2E_NODE_K8S)" e2e/k8s/build.sh >/dev/null
	@$(MAKE) --no-print-directory node-images
	$(NODE) dist/e2e/node/run.js

# Only the lifecycle cases (pod IP reuse, a pod that gets its IP late, policies changing under traffic).
e2e-lifecycle: deps build k8s-bin
	$(NODE) dist/e2e/lifecycle/cases.js

# What --strict-mode and --deny-log cost beside both off, in the same run (real nft and conntrack; needs root).
bench-features: deps build
	$(NODE) dist/bench/features.js

bench-e2e: deps build
	$(NODE) dist/bench/e2e.js

# The peers run beside nftpol (ENFORCER=kube-router|kube-network-policies, make bench-peers): kube-router v2.1.0
# and kube-network-policies v0.8.0, pinned in e2e/peers/*/go.mod, built from the Go module proxy into
# $${NFTPOL_PEERS_BIN:-~/.cache/nftpol-k8s/peers} (e2e/peers/build.sh). A no-op once they are there.
peers-bin:
	@command -v go >/dev/null || { echo "make peers-bin needs Go and access to the Go module proxy" >&2; exit 2; }
	@e2e/peers/build.sh

# nftpol beside kube-router on one sandbox cluster and one real control plane, in one run: programming
# latency against cluster size, start-up, CPU and RSS, packet cost against the run's no-enforcer baseline,
# scenarios passed. Prints a table with ratios; writes docs/peers-bench.json and the docs/peers-*.svg charts.
# BENCH_PEERS_SIZES=100,1000,10000 BENCH_PEERS_CHANGES=20 BENCH_PEERS_SUITE=1 (0: skip the scenarios).
bench-peers: deps build k8s-bin peers-bin
	@command -v iperf3 >/dev/null && command -v ipset >/dev/null && command -v iptables >/dev/null || (apt-get update -qq && apt-get install -y -qq iperf3 ipset iptables >/dev/null)
	$(NODE) dist/bench/peers.js

# Regenerates the upstream conformance cases (e2e/conformance/*.yaml) from their description in generate.ts.
conformance-scenarios: build
	$(NODE) dist/e2e/conformance/generate.js
