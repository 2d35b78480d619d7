#!/usr/bin/env bash
# `make e2e`: the real tier. Brings up the local Kubernetes (hack/cluster.sh: real control plane,
# real kubelet + containerd), installs the chart with its defaults (in-cluster PostgreSQL and
# Redis; only the image references point at the locally built images), runs tests/e2e against
# it, and tears it down again.
#
#   hack/e2e.sh [pytest args...]       default: tests/e2e
# Before the chart goes in, the operator's integration tests run against the same API server
# with the operator authenticated as the chart's ServiceAccount under the chart's RBAC
# (tests/operator_tests with OPERATOR_TESTS_KUBE=real; no other operator may run meanwhile).
# Knobs: E2E_KEEP_CLUSTER=1 leaves the cluster (and the release) up afterwards;
#        E2E_OPERATOR_TESTS=0 skips the operator tests;
#        BOOKING_CLUSTER_STATE, BOOKING_KUBE_BIN as for hack/cluster.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/cluster/lib.sh

NAMESPACE="${NAMESPACE:-booking-system}"
RELEASE="${RELEASE:-booking}"
t0=$(date +%s)

teardown() {
  local rc=$?
  if [ "${E2E_KEEP_CLUSTER:-0}" = 1 ]; then
    log "E2E_KEEP_CLUSTER=1: the cluster stays up (hack/cluster.sh down to stop it)"
  else
    hack/cluster.sh down || true
  fi
  log "make e2e finished in $(( $(date +%s) - t0 ))s (exit $rc)"
  exit "$rc"
}
trap teardown EXIT

hack/cluster.sh up >/dev/null
set -a; source "$(state_dir)/cluster.env"; set +a
export PATH="$BOOKING_KUBE_BIN:$PATH"
log "cluster up after $(( $(date +%s) - t0 ))s"

HELM="$(hack/install-helm.sh)"
export PATH="$(cd "$(dirname "$HELM")" && pwd):$PATH"

operator_rc=0  # a failure there still lets tests/e2e run; the exit code reports both
if [ "${E2E_OPERATOR_TESTS:-1}" = 1 ]; then
  # A release left by E2E_KEEP_CLUSTER=1 has an operator that would reconcile these tenants too;
  # the helm upgrade below scales it back.
  kubectl -n "$NAMESPACE" scale deployment -l app.kubernetes.io/component=operator --replicas=0 >/dev/null 2>&1 || true
  OPERATOR_TESTS_KUBE=real .venv/bin/pytest -p no:randomly -q -rs tests/operator_tests || operator_rc=$?
  log "operator tests on the real API server done after $(( $(date +%s) - t0 ))s"
fi
# The fake Telegram Bot API (tests/harness/telegram.py) is served by the test session on the
# pods' gateway address; the operator (getMe) and every bot (TELEGRAM_API_URL) use it.
TELEGRAM_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("0.0.0.0",0)); print(s.getsockname()[1])')"
image_args() {  # CHART_KEY REFERENCE
  local ref="$2"
  echo "--set" "$1.image.repository=${ref%:*}" "--set" "$1.image.tag=${ref##*:}"
}
# shellcheck disable=SC2046  # image_args prints separate words on purpose
# imageRegistry= : the chart's default prefixes the published registry; these are local names.
# allowCreateroleBeforePg16: the PostgreSQL stand-in is Debian bookworm's 15 (bookworm has no 16),
# where the operator refuses CREATEROLE unless told; the chart's own image is 16.
# shardCapacity=2: tests/e2e/test_shared_runtime.py's three Shared tenants fill one shard and
# start a second (placement, and a real second shard for the RBAC checks); Dedicated is the default.
"$HELM" upgrade --install "$RELEASE" charts/booking-saas --namespace "$NAMESPACE" --create-namespace \
  --set imageRegistry= \
  $(image_args operator "$BOOKING_OPERATOR_IMAGE") \
  $(image_args bot "$BOOKING_BOT_IMAGE") \
  $(image_args webhook "$BOOKING_WEBHOOK_IMAGE") \
  $(image_args postgresql "$BOOKING_POSTGRES_IMAGE") \
  $(image_args redis "$BOOKING_REDIS_IMAGE") \
  --set operator.telegramApiUrl="http://$BOOKING_CLUSTER_HOST_IP:$TELEGRAM_PORT" \
  --set operator.clusterWide=true \
  --set operator.allowCreateroleBeforePg16=true \
  --set operator.shardCapacity=2 \
  --wait --timeout 10m
log "helm install done after $(( $(date +%s) - t0 ))s"

export E2E_CONTEXT="$BOOKING_CLUSTER_CONTEXT" E2E_PLATFORM_NAMESPACE="$NAMESPACE" E2E_RELEASE="$RELEASE"
export E2E_TELEGRAM_BIND="$BOOKING_CLUSTER_HOST_IP" E2E_TELEGRAM_PORT="$TELEGRAM_PORT"
export E2E_HOST_ADDRESS="$BOOKING_CLUSTER_HOST_IP" E2E_WEBHOOK_IMAGE="$BOOKING_WEBHOOK_IMAGE"
# The attack matrix's real-API-server checks (tests/security) run here too: the tenant namespace
# enforces Pod Security `restricted` from now on (every pod the chart and the operator make passes
# it). This release is cluster-wide because the tests make a namespace each; the chart's
# namespaced default RBAC is applied by those tests for a release of their own and checked as its
# service accounts. tests/e2e/test_shard_webhook.py switches it to the namespaced operator in
# webhook mode for its module (helm upgrade; nginx on the host as the Ingress controller) and back.
kubectl label namespace "$NAMESPACE" --overwrite \
  pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest >/dev/null
export BOOKING_NAMESPACE="$NAMESPACE"
[ $# -gt 0 ] || set -- tests/e2e tests/security/test_kubernetes_attacks.py
e2e_rc=0
.venv/bin/pytest -p no:randomly -rs "$@" || e2e_rc=$?
[ "$operator_rc" = 0 ] || log "tests/operator_tests on the real API server failed (exit $operator_rc)"
[ "$e2e_rc" = 0 ] && [ "$operator_rc" = 0 ]
