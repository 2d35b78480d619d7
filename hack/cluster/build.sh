#!/usr/bin/env bash
# Builds the pinned Kubernetes binaries and etcd of the real test tier into a cache directory
# outside the clone, so a machine compiles them once. A binary already built for this version
# (stamp file next to it) is skipped. The module proxy and caches are whatever `go env` says.
#
#   hack/cluster/build.sh [binary...]   (default: every binary the cluster needs)
#   BOOKING_KUBE_BIN   target directory (default ~/.cache/booking-saas/kube-v1.34.4)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KUBE_VERSION="v1.34.4"
BIN_DIR="${BOOKING_KUBE_BIN:-$HOME/.cache/booking-saas/kube-${KUBE_VERSION}}"

declare -A PKG=(
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler
  [kubelet]=k8s.io/kubernetes/cmd/kubelet
  [kubectl]=k8s.io/kubernetes/cmd/kubectl
  [kube-proxy]=k8s.io/kubernetes/cmd/kube-proxy
  [kubemark]=k8s.io/kubernetes/cmd/kubemark
  [etcd]=./cmd/etcd
  [coredns]=coredns   # its own module (directory hack/cluster/coredns)
)
DEFAULT=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl coredns)
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=("${DEFAULT[@]}")

# The stamp ties a binary to the module's exact dependency set, so a go.sum change rebuilds.
stamp="${KUBE_VERSION}-$(cat "$here/go.mod" "$here/go.sum" "$here/cmd/etcd/main.go" "$here"/coredns/go.* "$here/coredns/main.go" | sha256sum | cut -c1-16)"
mkdir -p "$BIN_DIR"
todo=()
for name in "${wanted[@]}"; do
  [ -n "${PKG[$name]:-}" ] || { echo "build.sh: unknown binary '$name' (known: ${!PKG[*]})" >&2; exit 2; }
  if [ -x "$BIN_DIR/$name" ] && [ "$(cat "$BIN_DIR/$name.stamp" 2>/dev/null)" = "$stamp" ]; then
    continue
  fi
  todo+=("$name")
done
if [ ${#todo[@]} -eq 0 ]; then
  echo "build.sh: ${wanted[*]} already built for $stamp in $BIN_DIR"
  exit 0
fi

# Version stamping the way Kubernetes' own build does, so `kubectl version`, the kubelet's
# node status and skew checks report v1.34.4 and not v0.0.0-master.
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=${KUBE_VERSION} -X $p.gitMajor=1 -X $p.gitMinor=34"
  ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

pkgs=()
coredns=0
for name in "${todo[@]}"; do
  if [ "$name" = coredns ]; then coredns=1; else pkgs+=("${PKG[$name]}"); fi
done
out="$(mktemp -d "$BIN_DIR/.build.XXXXXX")"
trap 'rm -rf "$out"' EXIT
echo "build.sh: building ${todo[*]} into $BIN_DIR ($(go env GOCACHE))"
start=$(date +%s)
# One `go build` for all Kubernetes packages: the shared dependency graph is compiled once.
if [ ${#pkgs[@]} -gt 0 ]; then
  (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/" "${pkgs[@]}")
fi
if [ "$coredns" = 1 ]; then
  (cd "$here/coredns" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/coredns" .)
fi
for name in "${todo[@]}"; do
  src="$out/$(basename "${PKG[$name]}")"
  mv -f "$src" "$BIN_DIR/$name"
  echo "$stamp" > "$BIN_DIR/$name.stamp"
done
echo "build.sh: built ${todo[*]} in $(( $(date +%s) - start ))s"
