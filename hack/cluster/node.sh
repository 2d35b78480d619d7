# The node of hack/cluster.sh (sourced): containerd + runc + bridge CNI, CoreDNS on the pods'
# gateway, the real kubelet and kube-proxy, and what it takes to clean them up again.
start_containerd() {
  need containerd "apt-get install containerd runc containernetworking-plugins"
  mkdir -p "$STATE/containerd" "$STATE/cni/net.d"
  cat > "$STATE/containerd/config.toml" <<EOF
version = 2
root = "$CONTAINERD_ROOT"
state = "$STATE/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  enable_selinux = false
  # This machine's container lacks CAP_SYS_RESOURCE, so no process may lower its oom_score_adj
  # below the parent's (0): the sandbox's -998 makes runc fail ("can't get final child's PID
  # from pipe: EOF"). Clamp it to containerd's own score, as for rootless/nested containerd.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOF
  start containerd containerd --config "$STATE/containerd/config.toml"
  wait_for containerd 30 ctr -a "$CONTAINERD_SOCK" version
  remove_containers  # a previous run that was not brought down cleanly
}

remove_containers() {
  # Pod containers outlive the kubelet and containerd (their shims keep them): kill and delete
  # every task and container of the k8s.io namespace, with their snapshots; images stay.
  local c=(ctr -a "$CONTAINERD_SOCK" -n k8s.io) ids id
  ids="$("${c[@]}" tasks ls -q 2>/dev/null || true)"
  for id in $ids; do "${c[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  for id in $ids; do "${c[@]}" tasks delete -f "$id" >/dev/null 2>&1 || true; done
  for id in $("${c[@]}" containers ls -q 2>/dev/null || true); do
    "${c[@]}" containers delete "$id" >/dev/null 2>&1 || true
  done
}

unmount_under() {  # PREFIX: every mount below it, deepest first
  { findmnt -rn -o TARGET || true; } | { grep -F "$1" || true; } | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}

make_cgroup_root() {
  # The kubelet's --cgroup-root must exist in every v1 hierarchy (kind's node entrypoint does the
  # same); a new cpuset cgroup starts with no CPUs or memory nodes, so copy its parent's.
  local h
  for h in /sys/fs/cgroup/*/; do
    case "$h" in */unified/) continue ;; esac
    mkdir -p "$h$CGROUP_ROOT"
  done
  if [ -f /sys/fs/cgroup/cpuset/cpuset.cpus ]; then
    cat /sys/fs/cgroup/cpuset/cpuset.cpus > "/sys/fs/cgroup/cpuset/$CGROUP_ROOT/cpuset.cpus"
    cat /sys/fs/cgroup/cpuset/cpuset.mems > "/sys/fs/cgroup/cpuset/$CGROUP_ROOT/cpuset.mems"
  fi
}

setup_network() {
  # The bridge exists before the first pod so CoreDNS can listen on the gateway address.
  sysctl -qw net.ipv4.ip_forward=1
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  cat > "$STATE/cni/net.d/10-booking.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "booking-e2e",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$STATE/cni/ipam",
              "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$BRIDGE_IP"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
}

start_dns() {
  cat > "$STATE/Corefile" <<EOF
.:53 {
    bind $BRIDGE_IP
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $STATE/admin.kubeconfig $CLUSTER_NAME
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . /etc/resolv.conf
    cache 5
}
EOF
  start coredns "$KUBE_BIN/coredns" -conf "$STATE/Corefile"
}

start_node() {
  make_cgroup_root
  mkdir -p "$STATE/kubelet"
  cat > "$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
address: 0.0.0.0
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: "$PKI/kubelet-serving.crt"
tlsPrivateKeyFile: "$PKI/kubelet-serving.key"
containerRuntimeEndpoint: "unix://$CONTAINERD_SOCK"
# Inside a container, the way kind runs its nodes: cgroupfs under its own root, swap tolerated,
# no disk-pressure evictions (the host's disk is shared), no image GC.
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT
failSwapOn: false
failCgroupV1: false
evictionHard: {imagefs.available: "0%", nodefs.available: "0%", nodefs.inodesFree: "0%"}
imageGCHighThresholdPercent: 100
clusterDomain: cluster.local
clusterDNS: ["$BRIDGE_IP"]
resolvConf: /etc/resolv.conf
serializeImagePulls: false
maxPods: 250
staticPodPath: ""
EOF
  start kubelet "$KUBE_BIN/kubelet" --config "$STATE/kubelet/config.yaml" \
    --kubeconfig "$STATE/kubelet.kubeconfig" --root-dir "$STATE/kubelet/root" \
    --cert-dir "$STATE/kubelet/pki" \
    --hostname-override "$NODE_NAME" --node-ip "$HOST_IP" --v 1
  start kube-proxy "$KUBE_BIN/kube-proxy" --kubeconfig "$STATE/kube-proxy.kubeconfig" \
    --hostname-override "$NODE_NAME" --proxy-mode iptables --cluster-cidr "$POD_CIDR" --masquerade-all \
    --conntrack-max-per-core 0 --healthz-bind-address "127.0.0.1:$PROXY_HEALTHZ_PORT" \
    --metrics-bind-address "127.0.0.1:$PROXY_METRICS_PORT" --v 1
  wait_for "node $NODE_NAME Ready" 120 \
    kc wait --for=condition=Ready "node/$NODE_NAME" --timeout 2s
}
