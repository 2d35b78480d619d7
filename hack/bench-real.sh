#!/usr/bin/env bash
# `make bench-real`: the operator benchmark on a real API server (tests/bench/
# test_operator_bench_real.py). Brings up a control-plane-only cluster of its own
# (hack/cluster.sh with BOOKING_CLUSTER_NODE=0: etcd, kube-apiserver, controller-manager,
# scheduler) with kubemark hollow nodes for the bot pods, runs the benchmark against it and the
# emulator in one session, and tears the cluster down. Needs no root and leaves the machine's
# node (`make e2e`'s kubelet, containerd, bridge) alone; the CPU it takes is all of it.
#
#   hack/bench-real.sh [pytest args...]
# Knobs: BENCH_REAL_TENANTS (default 100,1000), BOOKING_CLUSTER_HOLLOW_NODES (default 21: 50 bot
#        pods each at their 20m CPU request), BOOKING_BENCH_CLUSTER_STATE (its state directory),
#        BENCH_KEEP_CLUSTER=1 leaves it up.
set -euo pipefail
cd "$(dirname "$0")/.."
export BOOKING_CLUSTER_NODE=0
export BOOKING_CLUSTER_HOLLOW_NODES="${BOOKING_CLUSTER_HOLLOW_NODES:-21}"
export BOOKING_CLUSTER_STATE="${BOOKING_BENCH_CLUSTER_STATE:-${TMPDIR:-/tmp}/booking-bench-cluster}"
teardown() {
  [ "${BENCH_KEEP_CLUSTER:-0}" = 1 ] || hack/cluster.sh down || true
}
trap teardown EXIT
hack/cluster.sh up >/dev/null
set -a; source "$BOOKING_CLUSTER_STATE/cluster.env"; set +a
HELM="$(hack/install-helm.sh)"
PATH="$BOOKING_KUBE_BIN:$(cd "$(dirname "$HELM")" && pwd):$PATH"
export PATH
.venv/bin/pytest tests/bench/test_operator_bench_real.py --run-bench -p no:randomly -q -s "$@"
