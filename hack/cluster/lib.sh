# Shared by hack/cluster/*.sh (sourced, not run).
KUBE_VERSION="v1.34.4"
KUBE_BIN="${BOOKING_KUBE_BIN:-$HOME/.cache/booking-saas/kube-${KUBE_VERSION}}"

log() { printf '%s cluster: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'cluster: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 is not installed (${2:-apt-get install $1})"; }

# Everything a running cluster owns lives here; `down` removes it.
state_dir() {
  local d="${BOOKING_CLUSTER_STATE:-${TMPDIR:-/tmp}/booking-saas-cluster}"
  mkdir -p "$d"
  echo "$d"
}

# podman as it works on these machines: runc, explicit ulimits (the defaults exceed the
# container's hard limits).
podman_env() {
  if [ -z "${CONTAINERS_CONF:-}" ]; then
    local conf="$HOME/.cache/booking-saas/containers.conf"
    mkdir -p "$(dirname "$conf")"
    printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n[engine]\nruntime = "runc"\n' > "$conf"
    export CONTAINERS_CONF="$conf"
  fi
}
