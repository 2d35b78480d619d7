#!/usr/bin/env bash
# A real single-node Kubernetes v1.34.4 on this machine, from binaries built by
# hack/cluster/build.sh: etcd, kube-apiserver (RBAC + Node authorization, the admission plugins
# of a hardened cluster), kube-controller-manager, kube-scheduler, and a node made of the real
# kubelet + containerd + runc + bridge CNI, kube-proxy (iptables) and CoreDNS on the host.
# Everything runs as host processes on free local ports; all state lives in one directory.
#
#   hack/cluster.sh up        bring it up (builds/reuses binaries and images), print the env file
#   hack/cluster.sh down      stop every process and remove the state directory
#   hack/cluster.sh env       print the env file (KUBECONFIG, context, image references)
#   hack/cluster.sh sa-kubeconfig NAMESPACE SERVICEACCOUNT OUT   a kubeconfig with a token of that SA
#   hack/cluster.sh status    which processes run
#   hack/cluster.sh check     exit 1 with the reason when this machine cannot run it
#
# Knobs: BOOKING_CLUSTER_STATE (state dir, default /tmp/booking-saas-cluster),
#        BOOKING_KUBE_BIN (binary cache), BOOKING_CLUSTER_IMAGES=0 (skip image build/import).
#
# Control plane only: BOOKING_CLUSTER_NODE=0 starts etcd, the apiserver, the controller-manager
# and the scheduler and nothing of the node (no containerd, kubelet, kube-proxy, CoreDNS, bridge,
# iptables, cgroups, images): it needs neither root nor the machine-wide node, so it can run
# beside a `make e2e` cluster. Give it its own BOOKING_CLUSTER_STATE (its ports are free ones
# anyway); `down` of such a cluster touches nothing of the node's. With
# BOOKING_CLUSTER_HOLLOW_NODES=N it also starts N kubemark hollow nodes (hack/cluster/hollow.sh:
# the real kubelet code over a fake container runtime, each its own node identity under
# NodeRestriction), BOOKING_CLUSTER_HOLLOW_MAX_PODS pods each (default 110), so Deployments
# become Available without anything running; what the operator benchmark uses:
#   BOOKING_CLUSTER_NODE=0 BOOKING_CLUSTER_HOLLOW_NODES=21 \
#     BOOKING_CLUSTER_STATE=/tmp/booking-bench-cluster hack/cluster.sh up
# A hollow node has 1 CPU and 3.75 GiB (kubemark's fixed capacity): 50 bot pods at their 20m
# CPU request.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/cluster/lib.sh"

STATE="$(state_dir)"
PKI="$STATE/pki"
RUN="$STATE/run"
LOGS="$STATE/logs"
NODE_NAME="booking-node"
CLUSTER_NAME="booking-saas-e2e"
SERVICE_CIDR="10.96.0.0/16"
SERVICE_API_IP="10.96.0.1"
POD_CIDR="10.244.0.0/24"
BRIDGE="booking-br0"
BRIDGE_IP="10.244.0.1"   # pods' gateway; CoreDNS listens here (the pods' cluster DNS)
CONTAINERD_SOCK="$STATE/containerd/containerd.sock"
# containerd's image store outlives the cluster, so `up` imports the images once per machine
# (and again only when a tag changes); containers and their snapshots are removed at `down`.
CONTAINERD_ROOT="${BOOKING_CONTAINERD_ROOT:-$HOME/.cache/booking-saas/containerd}"
CGROUP_ROOT="booking-kubelet"
ENV_FILE="$STATE/cluster.env"

host_ip() { ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i=1;i<=NF;i++) if ($i=="src") {print $(i+1); exit}}'; }

free_ports() {  # N -> N distinct free TCP ports on this machine
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("0.0.0.0", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# Certificates and kubeconfigs; the node (containerd, CNI, DNS, kubelet, kube-proxy).
source "$here/cluster/pki.sh"
source "$here/cluster/node.sh"
source "$here/cluster/hollow.sh"

# What this cluster is made of: "node" (the real kubelet and containerd, the default) or
# "control-plane" (BOOKING_CLUSTER_NODE=0), remembered in the state directory for `down`.
NODE_MODE_FILE="$RUN/mode"
node_mode() {
  if [ -f "$NODE_MODE_FILE" ]; then cat "$NODE_MODE_FILE"
  elif [ "${BOOKING_CLUSTER_NODE:-1}" = 0 ]; then echo control-plane
  else echo node; fi
}

# --- processes ------------------------------------------------------------------------------
start() {  # NAME COMMAND... : run in its own session, log to $LOGS/NAME.log, pid in $RUN/NAME.pid
  local name="$1"; shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$name.pid"
}

running() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

wait_for() {  # WHAT SECONDS COMMAND... : poll until COMMAND succeeds
  local what="$1" secs="$2" t0; shift 2; t0=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    if [ $(( $(date +%s) - t0 )) -ge "$secs" ]; then
      log "$what not ready after ${secs}s; last log lines:"
      for f in "$LOGS"/*.log; do echo "--- $f"; tail -5 "$f"; done >&2
      die "$what did not come up"
    fi
    sleep 0.5
  done
}

kc() { "$KUBE_BIN/kubectl" --kubeconfig "$STATE/admin.kubeconfig" "$@"; }

start_etcd() {
  start etcd "$KUBE_BIN/etcd" --name e2e --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --quota-backend-bytes 4294967296 --log-level warn
  wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
}

audit_policy() {
  # The operators' requests only (the benchmark's and the tests' operator ServiceAccount and the
  # chart's release in booking-system): one JSON line per request in $LOGS/audit.log, so a
  # benchmark counts exactly what the operator asked, verb by verb. Nothing else is audited.
  cat > "$STATE/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
  users:
  - system:serviceaccount:operator-tests:optests-booking-saas-operator
  - system:serviceaccount:booking-system:booking-booking-saas-operator
- level: None
EOF
}

start_apiserver() {
  audit_policy
  # Admission: the defaults of a v1.34 apiserver are on anyway (NamespaceLifecycle, LimitRanger,
  # ServiceAccount, DefaultStorageClass, MutatingAdmissionWebhook, ValidatingAdmissionWebhook,
  # ValidatingAdmissionPolicy, ResourceQuota, PodSecurity, Priority, ...); these add what hardened
  # clusters and OpenShift turn on.
  start kube-apiserver "$KUBE_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 0.0.0.0 --secure-port "$API_PORT" --advertise-address "$HOST_IP" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
    --service-account-issuer "https://kubernetes.default.svc.cluster.local" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction,OwnerReferencesPermissionEnforcement,ValidatingAdmissionPolicy \
    --allow-privileged=true --profiling=false --anonymous-auth=false \
    --audit-policy-file "$STATE/audit-policy.yaml" --audit-log-path "$LOGS/audit.log" \
    --audit-log-format json --audit-log-maxsize 200 --audit-log-maxbackup 1 \
    --v 1
  wait_for kube-apiserver 90 kc get --raw /readyz
}

start_controller_manager() {
  # Client rate limits: the defaults (controller-manager 20 QPS, burst 30, per controller with
  # service-account credentials) would pace 1000 new Deployments' ReplicaSets, pods and status
  # writes at 20 a second, and a benchmark would measure that pacing instead of the operator;
  # raised as large clusters raise them.
  start kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials=true \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --controllers '*' --allocate-node-cidrs=false --service-cluster-ip-range "$SERVICE_CIDR" \
    --leader-elect=false --cluster-name "$CLUSTER_NAME" \
    --kube-api-qps 100 --kube-api-burst 200 --v 1
  start kube-scheduler "$KUBE_BIN/kube-scheduler" \
    --kubeconfig "$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --leader-elect=false \
    --kube-api-qps 100 --kube-api-burst 200 --v 1
  wait_for kube-controller-manager 60 curl -fsSk "https://127.0.0.1:$KCM_PORT/healthz"
  wait_for kube-scheduler 60 curl -fsSk "https://127.0.0.1:$SCHED_PORT/healthz"
}

cluster_objects() {
  kc apply -f - >/dev/null <<EOF
# kube-proxy's identity (CN=system:kube-proxy) gets the bootstrap role kubeadm binds.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: booking-e2e:node-proxier}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:node-proxier}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: system:kube-proxy}]
EOF
  # Static hostPath volumes for the chart's StatefulSets (no provisioner runs here). 1777: the
  # kubelet applies no fsGroup to hostPath, and postgres/redis run as their own uids.
  local i
  for i in 1 2 3 4 5 6; do
    mkdir -p "$STATE/volumes/pv$i"; chmod 1777 "$STATE/volumes/pv$i"
    kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolume
metadata: {name: booking-e2e-pv$i, labels: {booking-e2e/volume: "true"}}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Delete
  storageClassName: ""
  hostPath: {path: "$STATE/volumes/pv$i", type: Directory}
EOF
  done
}

write_env() {  # NODE(0|1) HOLLOW_NODES
  {
    echo "KUBECONFIG=$STATE/admin.kubeconfig"
    echo "BOOKING_CLUSTER_CONTEXT=$CLUSTER_NAME"
    echo "BOOKING_CLUSTER_STATE=$STATE"
    echo "BOOKING_CLUSTER_API=https://127.0.0.1:$API_PORT"
    echo "BOOKING_CLUSTER_NODE=$1"
    echo "BOOKING_CLUSTER_HOLLOW_NODES=$2"
    if [ "$1" = 1 ]; then
      echo "BOOKING_CLUSTER_HOST_IP=$BRIDGE_IP"
      echo "BOOKING_CLUSTER_CONTAINERD=$CONTAINERD_SOCK"
    fi
    echo "BOOKING_KUBE_BIN=$KUBE_BIN"
    [ ! -f "$STATE/images.env" ] || sed 's/^/BOOKING_/' "$STATE/images.env"
  } > "$ENV_FILE"
}

up() {
  if running kube-apiserver; then
    # Already up: only bring the images (and their references in the env file) up to date.
    if [ "${BOOKING_CLUSTER_IMAGES:-1}" != 0 ] && [ "$(node_mode)" = node ]; then
      "$here/cluster/images.sh" load "$CONTAINERD_SOCK"
      sed -i '/^BOOKING_[A-Z]*_IMAGE=/d' "$ENV_FILE"
      sed 's/^/BOOKING_/' "$STATE/images.env" >> "$ENV_FILE"
    fi
    log "already up ($ENV_FILE)"; cat "$ENV_FILE"; return
  fi
  local node="${BOOKING_CLUSTER_NODE:-1}" hollow="${BOOKING_CLUSTER_HOLLOW_NODES:-0}"
  local max_pods="${BOOKING_CLUSTER_HOLLOW_MAX_PODS:-110}" images="${BOOKING_CLUSTER_IMAGES:-1}"
  case "$node" in 0|1) ;; *) die "BOOKING_CLUSTER_NODE must be 0 or 1, not '$node'" ;; esac
  [[ "$hollow" =~ ^[0-9]+$ ]] || die "BOOKING_CLUSTER_HOLLOW_NODES must be a number, not '$hollow'"
  [[ "$max_pods" =~ ^[1-9][0-9]*$ ]] || die "BOOKING_CLUSTER_HOLLOW_MAX_PODS must be a positive number"
  # Pods scheduled to a hollow node run nothing: beside the real node they would take the e2e
  # tests' pods too.
  [ "$hollow" = 0 ] || [ "$node" = 0 ] || die "hollow nodes need BOOKING_CLUSTER_NODE=0 (control plane only)"
  [ "$node" = 1 ] || images=0
  need openssl; need curl
  [ "$node" = 0 ] || need ip iproute2
  local t0 images_pid="" binaries; t0=$(date +%s)
  mkdir -p "$RUN" "$LOGS"
  if [ "$node" = 1 ]; then echo node; else echo control-plane; fi > "$NODE_MODE_FILE"
  PAUSE_IMAGE="registry.k8s.io/pause:3.10.1"
  if [ "$images" != 0 ]; then
    # The image builds wait on the network and the disk, the Go builds on the CPU: overlap them.
    "$here/cluster/images.sh" build > "$LOGS/images.log" 2>&1 &
    images_pid=$!
  fi
  binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)
  [ "$node" = 0 ] || binaries+=(kubelet kube-proxy coredns)
  [ "$hollow" = 0 ] || binaries+=(kubemark)
  "$here/cluster/build.sh" "${binaries[@]}"
  log "binaries ready ($(( $(date +%s) - t0 ))s)"
  HOST_IP="$(host_ip)"
  if [ -z "$HOST_IP" ]; then
    [ "$node" = 0 ] || die "no host IPv4 address (ip route get)"
    HOST_IP=127.0.0.1  # the control plane alone is reached on loopback only
  fi
  read -r ETCD_PORT ETCD_PEER_PORT API_PORT KCM_PORT SCHED_PORT KUBELET_PORT KUBELET_HEALTHZ_PORT \
    PROXY_HEALTHZ_PORT PROXY_METRICS_PORT <<<"$(free_ports 9)"
  declare -p ETCD_PORT API_PORT KUBELET_PORT HOST_IP > "$RUN/ports"
  make_pki
  for n in admin controller-manager scheduler kubelet kube-proxy; do kubeconfig "$n"; done
  start_etcd
  start_apiserver
  log "apiserver up on :$API_PORT ($(( $(date +%s) - t0 ))s)"
  start_controller_manager
  if [ "$node" = 1 ]; then
    if [ -n "$images_pid" ]; then
      wait "$images_pid" || { tail -30 "$LOGS/images.log" >&2; die "image build failed ($LOGS/images.log)"; }
      log "images built ($(( $(date +%s) - t0 ))s)"
    fi
    start_containerd
    if [ "$images" != 0 ]; then
      "$here/cluster/images.sh" load "$CONTAINERD_SOCK"
      log "images imported into containerd ($(( $(date +%s) - t0 ))s)"
    fi
    setup_network
    start_dns
    start_node
    cluster_objects
  fi
  if [ "$hollow" != 0 ]; then
    start_hollow_nodes "$hollow" "$max_pods"
    log "$hollow hollow nodes Ready, $max_pods pods each ($(( $(date +%s) - t0 ))s)"
  fi
  write_env "$node" "$hollow"
  log "cluster up in $(( $(date +%s) - t0 ))s; source $ENV_FILE"
  cat "$ENV_FILE"
}

stop_pid() {  # NAME: TERM, then KILL after a few seconds
  local name="$1" pid
  [ -f "$RUN/$name.pid" ] || return 0
  pid="$(cat "$RUN/$name.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/$name.pid"
}

down() {
  [ -d "$STATE" ] || { log "nothing to stop"; return; }
  stop_hollow_nodes
  if [ "$(node_mode)" = control-plane ]; then
    # No node of ours: the bridge, iptables, netns, cgroups and containerd store belong to the
    # machine-wide node (another cluster's), so only this cluster's processes go.
    for n in kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_pid "$n"; done
    rm -rf "$STATE"
    log "down; $STATE removed"
    return
  fi
  stop_pid kubelet
  stop_pid kube-proxy
  [ ! -S "$CONTAINERD_SOCK" ] || remove_containers
  # Shims of this containerd (found by its socket in their command line), then containerd.
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" || true); do kill -KILL "$pid" 2>/dev/null || true; done
  stop_pid containerd
  for n in coredns kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_pid "$n"; done
  [ ! -x "$KUBE_BIN/kube-proxy" ] || "$KUBE_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  # Mounts the kubelet and containerd left (volumes, rootfs, netns), deepest first.
  unmount_under "$STATE/"
  unmount_under "$CONTAINERD_ROOT/"
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do ip netns delete "$ns" 2>/dev/null || true; done
  ! ip link show "$BRIDGE" >/dev/null 2>&1 || ip link delete "$BRIDGE"
  find /sys/fs/cgroup/*/"$CGROUP_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null || true
  rm -rf "$STATE"
  log "down; $STATE removed"
}

sa_kubeconfig() {  # NAMESPACE SA OUT
  local ns="$1" sa="$2" out="$3" token api
  [ -f "$ENV_FILE" ] || die "the cluster is not up"
  api="$(sed -n 's/^BOOKING_CLUSTER_API=//p' "$ENV_FILE")"
  token="$(kc -n "$ns" create token "$sa" --duration 24h)"
  cat > "$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $CLUSTER_NAME
  cluster: {server: "$api", certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")}
users:
- name: $ns-$sa
  user: {token: "$token"}
contexts:
- name: $CLUSTER_NAME
  context: {cluster: $CLUSTER_NAME, user: $ns-$sa, namespace: $ns}
current-context: $CLUSTER_NAME
EOF
  chmod 600 "$out"
}

# Why this machine cannot run the cluster (empty when it can). The tier was made and measured
# on cgroup v1 as root with nearly all capabilities; cgroup v2 is untried (docs/deploy.md).
why_not() {
  command -v go >/dev/null || { echo "no Go toolchain (the components are built from the Go module proxy)"; return; }
  [ "${BOOKING_CLUSTER_NODE:-1}" != 0 ] || return 0  # the control plane alone needs nothing more
  [ "$(id -u)" = 0 ] || { echo "not root (the node needs cgroups, network namespaces and iptables)"; return; }
  [ -d /sys/fs/cgroup/memory ] || { echo "no cgroup v1 hierarchy at /sys/fs/cgroup (cgroup v2 is not supported yet)"; return; }
  [ -w /sys/fs/cgroup/memory ] || { echo "/sys/fs/cgroup is read-only here (an unprivileged container)"; return; }
  ip link add booking-probe0 type bridge 2>/dev/null || { echo "cannot create a network bridge (no CAP_NET_ADMIN)"; return; }
  ip link delete booking-probe0
}

case "${1:-}" in
  up) up ;;
  check) reason="$(why_not)"; [ -z "$reason" ] || { echo "cluster.sh: $reason"; exit 1; } ;;
  down) down ;;
  env) [ -f "$ENV_FILE" ] || die "the cluster is not up (hack/cluster.sh up)"; cat "$ENV_FILE" ;;
  sa-kubeconfig) [ $# -eq 4 ] || die "usage: cluster.sh sa-kubeconfig NAMESPACE SERVICEACCOUNT OUT"; sa_kubeconfig "$2" "$3" "$4" ;;
  status) echo "mode $(node_mode)"
          for n in etcd kube-apiserver kube-controller-manager kube-scheduler containerd coredns kubelet kube-proxy \
                   $(hollow_names); do
            if running "$n"; then echo "$n running"; else echo "$n stopped"; fi; done ;;
  *) die "usage: cluster.sh up | down | env | status | check | sa-kubeconfig NAMESPACE SA OUT" ;;
esac
