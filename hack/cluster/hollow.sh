# kubemark hollow nodes for hack/cluster.sh (sourced; uses its STATE, RUN, LOGS, KUBE_BIN, cert,
# kubeconfig, start, stop_pid, wait_for, kc, free_ports). A hollow node is the real kubelet code
# (`k8s.io/kubernetes/cmd/kubemark --morph kubelet`) over kubemark's fake container runtime,
# fake cAdvisor (1 CPU, 3.75 GiB) and fake prober: it registers its Node, takes the pods the
# scheduler binds to it, "runs" them at once and reports them Ready, so Deployments become
# Available with nothing running. Each has its own identity (system:node:<name>, group
# system:nodes), so the Node authorizer and NodeRestriction apply to it as to a real kubelet.
HOLLOW_LABEL="booking-e2e/hollow"

hollow_names() {  # the hollow nodes this state directory started
  local f
  for f in "$RUN"/hollow-node-*.pid; do [ -e "$f" ] && basename "$f" .pid; done
  return 0
}

hollow_all_ready() {  # COUNT: that many hollow nodes are Ready
  local ready
  ready="$(kc get nodes -l "$HOLLOW_LABEL=true" \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$' || true)"
  [ "${ready:-0}" -ge "$1" ]
}

start_hollow_nodes() {  # COUNT MAX_PODS
  local count="$1" max_pods="$2" i name ports
  read -r -a ports <<<"$(free_ports "$count")"
  for ((i = 0; i < count; i++)); do
    name="hollow-node-$i"
    cert "$name" "/O=system:nodes/CN=system:node:$name"
    kubeconfig "$name"
    mkdir -p "$STATE/hollow/$name"
    # TMPDIR: kubemark makes its kubelet root directory there (removed with the state).
    # QPS 50, burst 100: a real kubelet's client defaults (kubemark's own are 10/20).
    start "$name" env TMPDIR="$STATE/hollow/$name" "$KUBE_BIN/kubemark" --morph kubelet \
      --name "$name" --kubeconfig "$STATE/$name.kubeconfig" \
      --kubelet-port "${ports[$i]}" --kubelet-read-only-port 0 --max-pods "$max_pods" \
      --use-host-image-service=false --kube-api-qps 50 --kube-api-burst 100 \
      --node-labels "$HOLLOW_LABEL=true" --v 0
  done
  wait_for "$count hollow nodes Ready" 180 hollow_all_ready "$count"
}

stop_hollow_nodes() {
  local name
  for name in $(hollow_names); do stop_pid "$name"; done
}
