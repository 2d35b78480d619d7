#!/usr/bin/env bash
# Builds every image the real test tier runs, with podman and without any registry:
#   - a Debian bookworm base made with debootstrap from the machine's own apt mirror, with
#     Debian's Python 3.11 (the stand-in for python:3.11-slim-bookworm);
#   - the project's three images on that base (BASE_IMAGE build argument);
#   - stand-ins for the chart's postgres and redis images, from Debian's packages;
#   - the pause image, from Kubernetes' own pause.c.
# Then, with `load SOCKET`, imports them into containerd's k8s.io namespace under the names the
# pods use. Layers are cached by podman, so a second run costs seconds.
#
#   hack/cluster/images.sh build            build (or reuse) everything, print the tags
#   hack/cluster/images.sh load SOCKET      build, then import into the containerd at SOCKET
# Writes the image references to $BOOKING_IMAGES_ENV (default: $STATE/images.env) as
# shell variables the chart values and tests read.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
source "$here/lib.sh"

# One variable per image: "DOCKERFILE CONTEXT", both relative to the repository root.
OPERATOR_BUILD="${OPERATOR_BUILD:-operator/Dockerfile .}"
BOT_BUILD="${BOT_BUILD:-bot_image/Dockerfile .}"
WEBHOOK_BUILD="${WEBHOOK_BUILD:-webhook_image/Dockerfile .}"

BASE_IMAGE="localhost/py311-bookworm:base"
PAUSE_IMAGE="registry.k8s.io/pause:3.10.1"   # kubeadm's PauseVersion for Kubernetes 1.34
POSTGRES_IMAGE="localhost/booking-postgres-standin:15-bookworm"
REDIS_IMAGE="localhost/booking-redis-standin:7.0-bookworm"

podman_env

# The mirror the machine's apt sources name for the main archive (never written anywhere).
apt_mirror() {
  local uri
  uri="$(awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1)"
  [ -n "$uri" ] || uri="$(awk '/^deb / && !/security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)"
  [ -n "$uri" ] || die "no Debian mirror in /etc/apt/sources.list.d/ or /etc/apt/sources.list"
  echo "$uri"
}

have_image() { podman image exists "$1"; }

build_base() {
  if have_image "$BASE_IMAGE"; then return; fi
  need debootstrap
  local rootfs; rootfs="$(mktemp -d)"
  log "debootstrap bookworm minbase + python3.11 -> $BASE_IMAGE"
  debootstrap --variant=minbase --include=python3,python3-pip,python-is-python3,ca-certificates \
    bookworm "$rootfs" "$(apt_mirror)" >"$rootfs.log" 2>&1 || { tail -20 "$rootfs.log" >&2; die "debootstrap failed"; }
  rm -f "$rootfs"/usr/lib/python3.*/EXTERNALLY-MANAGED
  # Daemons installed in a build must not try to start.
  printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"; chmod +x "$rootfs/usr/sbin/policy-rc.d"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs" "$rootfs.log"
}

content_tag() {  # DOCKERFILE CONTEXT: hack/image-tag.sh, with the base image's id in the hash
  "$repo/hack/image-tag.sh" "$1" "$2" "$BASE_IMAGE $(podman image inspect --format '{{.Id}}' "$BASE_IMAGE")"
}

PIP_CONF=""
pip_conf() {
  # pip inside the build uses the machine's CA bundle (registries are reached through a
  # TLS-inspecting proxy); the index is whatever the machine's pip would use.
  PIP_CONF="$(state_dir)/pip.conf"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$PIP_CONF"
}

build_one() {  # NAME "DOCKERFILE CONTEXT" -> sets REF
  local name="$1" dockerfile context tag
  read -r dockerfile context <<<"$2"
  tag="$(content_tag "$dockerfile" "$context")"
  REF="docker.io/library/$name:$tag"
  if ! have_image "$REF"; then
    log "podman build $name ($dockerfile, context $context) -> $REF"
    ( cd "$repo" && podman build -q --network=host \
        --volume /etc/ssl/certs:/etc/ssl/certs:ro --volume "$PIP_CONF:/etc/pip.conf:ro" \
        --build-arg BASE_IMAGE="$BASE_IMAGE" -f "$dockerfile" -t "$REF" "$context" >/dev/null )
  fi
}

build_standin() {  # REF DIR
  local ref="$1" dir="$2"
  have_image "$ref" && return
  log "podman build stand-in $ref"
  podman build -q --network=host --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$ref" "$dir" >/dev/null
}

build_pause() {
  have_image "$PAUSE_IMAGE" && return
  local dir; dir="$(mktemp -d)"
  log "pause.c (Kubernetes v1.34.4) -> $PAUSE_IMAGE"
  local src; src="$(cd "$here" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"
  [ -f "$src" ] || (cd "$here" && go mod download k8s.io/kubernetes)
  gcc -Os -static -DVERSION=v3.10.1 -o "$dir/pause" "$src"
  cp "$here/images/pause/Dockerfile" "$dir/"
  podman build -q -t "$PAUSE_IMAGE" "$dir" >/dev/null
  rm -rf "$dir"
}

build_all() {
  need podman
  pip_conf
  build_base
  build_pause
  build_standin "$POSTGRES_IMAGE" "$here/images/postgres"
  build_standin "$REDIS_IMAGE" "$here/images/redis"
  build_one booking-operator "$OPERATOR_BUILD"; OPERATOR_IMAGE="$REF"
  build_one booking-bot "$BOT_BUILD"; BOT_IMAGE="$REF"
  build_one booking-webhook "$WEBHOOK_BUILD"; WEBHOOK_IMAGE="$REF"
  for ref in $(prune podman images --format '{{.Repository}}:{{.Tag}}'); do
    podman rmi "$ref" >/dev/null 2>&1 || true
  done
  local env="${BOOKING_IMAGES_ENV:-$(state_dir)/images.env}"
  cat > "$env" <<VARS
PAUSE_IMAGE=$PAUSE_IMAGE
POSTGRES_IMAGE=$POSTGRES_IMAGE
REDIS_IMAGE=$REDIS_IMAGE
OPERATOR_IMAGE=$OPERATOR_IMAGE
BOT_IMAGE=$BOT_IMAGE
WEBHOOK_IMAGE=$WEBHOOK_IMAGE
VARS
  cat "$env"
}

# Content tags pile up (one per source change): of the project images listed by the command,
# print those that are not the current tag.
prune() {  # LIST_COMMAND...
  local current="$OPERATOR_IMAGE $BOT_IMAGE $WEBHOOK_IMAGE" ref
  for ref in $("$@"); do
    case "$ref" in docker.io/library/booking-*) ;; *) continue ;; esac
    case " $current " in *" $ref "*) continue ;; esac
    echo "$ref"
  done
}

load_all() {  # SOCKET
  local sock="$1" ref present archive
  for ref in $(prune ctr -a "$sock" -n k8s.io images ls -q); do
    ctr -a "$sock" -n k8s.io images rm "$ref" >/dev/null 2>&1 || true
  done
  present="$(ctr -a "$sock" -n k8s.io images ls -q)"
  archive="$(state_dir)/image.tar"
  for ref in "$PAUSE_IMAGE" "$POSTGRES_IMAGE" "$REDIS_IMAGE" "$OPERATOR_IMAGE" "$BOT_IMAGE" "$WEBHOOK_IMAGE"; do
    grep -qxF "$ref" <<<"$present" && continue
    log "import $ref into containerd (k8s.io)"
    rm -f "$archive"
    podman save -q --format docker-archive -o "$archive" "$ref"
    ctr -a "$sock" -n k8s.io images import "$archive" >/dev/null
    rm -f "$archive"
  done
}

case "${1:-build}" in
  build) build_all ;;
  load) [ -n "${2:-}" ] || die "usage: images.sh load CONTAINERD_SOCKET"; build_all >/dev/null; load_all "$2" ;;
  *) die "usage: images.sh build | load CONTAINERD_SOCKET" ;;
esac
