#!/usr/bin/env bash
# `make up`: the whole platform on a local kind cluster. Safe to run again (idempotent):
# the cluster is created only if absent, images are rebuilt and reloaded, the chart is
# upgraded in place, and the sample tenant is applied only once (its bot token is kept).
#
# Images get content-derived tags (hack/image-tag.sh), so a second run after a source change
# rolls the operator and the bots onto the new images, and an unchanged image keeps its tag.
#
# Environment knobs:
#   KIND_CLUSTER (booking-saas)  NAMESPACE (booking-system)  RELEASE (booking)
#   IMAGE_TAG            one fixed tag for all three images instead of the content-derived ones
#   DOCKER (docker)      or podman: images reach kind as archives (`kind load image-archive`)
#   BOT_TOKEN            the sample tenant's @BotFather token (else the placeholder stays)
#   YOOKASSA_SHOP_ID, YOOKASSA_SECRET_KEY [, SALES_BOT_TOKEN]   enable the webhook (and sales bot)
set -euo pipefail
cd "$(dirname "$0")/.."

KIND_CLUSTER="${KIND_CLUSTER:-booking-saas}"
NAMESPACE="${NAMESPACE:-booking-system}"
RELEASE="${RELEASE:-booking}"
IMAGE_TAG="${IMAGE_TAG:-}"
# One "DOCKERFILE CONTEXT" pair per image, relative to the repository root.
OPERATOR_BUILD="${OPERATOR_BUILD:-operator/Dockerfile .}"
BOT_BUILD="${BOT_BUILD:-bot_image/Dockerfile .}"
WEBHOOK_BUILD="${WEBHOOK_BUILD:-webhook_image/Dockerfile .}"
DOCKER="${DOCKER:-docker}"
TENANT_NAMESPACE="${TENANT_NAMESPACE:-default}"
CONTEXT="kind-${KIND_CLUSTER}"

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'make up: %s\n' "$*" >&2; exit 1; }

HELM="$(command -v helm || true)"
[ -n "$HELM" ] || [ ! -x .tools/bin/helm ] || HELM=.tools/bin/helm  # hack/install-helm.sh
[ -n "$HELM" ] || [ ! -x .venv/bin/helm ] || HELM=.venv/bin/helm
for tool in "$DOCKER" kind kubectl; do
  command -v "$tool" >/dev/null || die "$tool is not installed (see docs/deploy.md, Prerequisites)"
done
[ -n "$HELM" ] || die "helm is not installed (see docs/deploy.md; or run hack/install-helm.sh)"
"$DOCKER" info >/dev/null 2>&1 || die "the Docker engine is not running ('$DOCKER info' fails)"

say "kind cluster '$KIND_CLUSTER'"
if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  echo "already exists"
else
  kind create cluster --name "$KIND_CLUSTER" --wait 180s
fi
kc() { kubectl --context "$CONTEXT" "$@"; }

say "images"
archives="$(mktemp -d)"
trap 'rm -rf "$archives"' EXIT
declare -A TAG
for pair in "booking-operator:$OPERATOR_BUILD" "booking-bot:$BOT_BUILD" "booking-webhook:$WEBHOOK_BUILD"; do
  image="${pair%%:*}"
  read -r dockerfile context <<<"${pair#*:}"
  TAG[$image]="${IMAGE_TAG:-dev-$(hack/image-tag.sh "$dockerfile" "$context")}"
  # The full name: podman would otherwise call it localhost/<image>, which pods naming
  # <image>:<tag> (docker.io/library/...) never find.
  ref="docker.io/library/$image:${TAG[$image]}"
  echo "$ref"
  "$DOCKER" build -q -f "$dockerfile" -t "$ref" "$context" >/dev/null
  # An archive works for docker and podman alike (`kind load docker-image` needs docker).
  "$DOCKER" save -o "$archives/$image.tar" "$ref"
  kind load image-archive --name "$KIND_CLUSTER" "$archives/$image.tar"
done

kc get namespace "$NAMESPACE" >/dev/null 2>&1 || kc create namespace "$NAMESPACE"

webhook=(--set webhook.enabled=false)
if [ -n "${YOOKASSA_SHOP_ID:-}" ] && [ -n "${YOOKASSA_SECRET_KEY:-}" ]; then
  say "webhook credentials -> Secret $NAMESPACE/booking-webhook"
  args=(--from-literal=YOOKASSA_SHOP_ID="$YOOKASSA_SHOP_ID" --from-literal=YOOKASSA_SECRET_KEY="$YOOKASSA_SECRET_KEY")
  [ -z "${SALES_BOT_TOKEN:-}" ] || args+=(--from-literal=SALES_BOT_TOKEN="$SALES_BOT_TOKEN")
  kc -n "$NAMESPACE" create secret generic booking-webhook "${args[@]}" --dry-run=client -o yaml | kc apply -f -
  webhook=(--set webhook.enabled=true --set webhook.existingSecret=booking-webhook
           --set webhook.tenantNamespace="$TENANT_NAMESPACE")
  [ -z "${SALES_BOT_TOKEN:-}" ] || webhook+=(--set salesBot.enabled=true)
fi

say "helm upgrade --install $RELEASE (namespace $NAMESPACE)"
"$HELM" upgrade --install "$RELEASE" charts/booking-saas \
  --kube-context "$CONTEXT" --namespace "$NAMESPACE" \
  --set imageRegistry= \
  --set operator.image.tag="${TAG[booking-operator]}" \
  --set bot.image.tag="${TAG[booking-bot]}" \
  --set webhook.image.tag="${TAG[booking-webhook]}" \
  --set operator.watchNamespace="$TENANT_NAMESPACE" \
  "${webhook[@]}" \
  --wait --timeout 10m

if [ "${webhook[1]}" = "webhook.enabled=true" ]; then
  say "helm test (the webhook answers /health)"
  "$HELM" test "$RELEASE" --kube-context "$CONTEXT" --namespace "$NAMESPACE" --timeout 3m
fi

say "sample tenant (crds/tenant.yaml) in namespace $TENANT_NAMESPACE"
# The token Secret goes first, so the operator's first look at the tenant already sees the token.
if [ -n "${BOT_TOKEN:-}" ]; then
  kc -n "$TENANT_NAMESPACE" create secret generic client-001-bot-token --from-literal=token="$BOT_TOKEN" \
    --dry-run=client -o yaml | kc apply -f -
  # The operator mounts only Secrets labelled as bot tokens.
  kc -n "$TENANT_NAMESPACE" label --overwrite secret client-001-bot-token bookingsaas.dev/bot-token=true
fi
if kc -n "$TENANT_NAMESPACE" get bookingtenant client-001 >/dev/null 2>&1; then
  echo "already applied (left as it is, so its bot token is not reset to the placeholder)"
  if [ -n "${BOT_TOKEN:-}" ]; then  # a new token: have the operator check it now, not at the next resync
    kc -n "$TENANT_NAMESPACE" annotate bookingtenant client-001 --overwrite \
      "bookingsaas.dev/token-updated-at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  fi
elif [ -n "${BOT_TOKEN:-}" ]; then
  # Only the BookingTenant document: the file's placeholder Secret would overwrite the token.
  awk 'BEGIN {RS="\n---\n"} /kind: BookingTenant/ {print}' crds/tenant.yaml | kc -n "$TENANT_NAMESPACE" apply -f -
else
  kc -n "$TENANT_NAMESPACE" apply -f crds/tenant.yaml  # the Secret precedes the tenant in the file
fi

cat <<MSG

The platform is up. Watch the sample tenant become Ready:
  kubectl --context $CONTEXT -n $TENANT_NAMESPACE get bt -w
  kubectl --context $CONTEXT -n $TENANT_NAMESPACE describe bt client-001
Platform pods:  kubectl --context $CONTEXT -n $NAMESPACE get pods
Operator logs:  kubectl --context $CONTEXT -n $NAMESPACE logs deploy/$RELEASE-booking-saas-operator -f
Remove it all:  make down
MSG
if [ -z "${BOT_TOKEN:-}" ]; then
  echo "(The sample tenant still has the placeholder bot token: rerun with BOT_TOKEN=<token> make up.)"
fi
