#!/usr/bin/env bash
# `make up`: the whole platform on a local kind cluster. Safe to run again (idempotent):
# the cluster is created only if absent, images are rebuilt and reloaded, the chart is
# upgraded in place, and the sample tenant is applied only once (its bot token is kept).
#
# Environment knobs:
#   KIND_CLUSTER (booking-saas)  NAMESPACE (booking-system)  RELEASE (booking)  IMAGE_TAG (dev)
#   BOT_TOKEN            the sample tenant's @BotFather token (else the placeholder stays)
#   YOOKASSA_SHOP_ID, YOOKASSA_SECRET_KEY [, SALES_BOT_TOKEN]   enable the webhook (and sales bot)
set -euo pipefail
cd "$(dirname "$0")/.."

KIND_CLUSTER="${KIND_CLUSTER:-booking-saas}"
NAMESPACE="${NAMESPACE:-booking-system}"
RELEASE="${RELEASE:-booking}"
IMAGE_TAG="${IMAGE_TAG:-dev}"
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

say "images (tag $IMAGE_TAG)"
make --no-print-directory images IMAGE_TAG="$IMAGE_TAG" DOCKER="$DOCKER"
for image in booking-operator booking-bot booking-webhook; do
  kind load docker-image --name "$KIND_CLUSTER" "$image:$IMAGE_TAG"
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
  --set operator.image.tag="$IMAGE_TAG" \
  --set bot.image.tag="$IMAGE_TAG" \
  --set webhook.image.tag="$IMAGE_TAG" \
  --set operator.watchNamespace="$TENANT_NAMESPACE" \
  "${webhook[@]}" \
  --wait --timeout 10m

if [ "${webhook[1]}" = "webhook.enabled=true" ]; then
  say "helm test (the webhook answers /health)"
  "$HELM" test "$RELEASE" --kube-context "$CONTEXT" --namespace "$NAMESPACE" --timeout 3m
fi

say "sample tenant (crds/tenant.yaml) in namespace $TENANT_NAMESPACE"
if kc -n "$TENANT_NAMESPACE" get bookingtenant client-001 >/dev/null 2>&1; then
  echo "already applied (left as it is, so its bot token is not reset to the placeholder)"
else
  kc -n "$TENANT_NAMESPACE" apply -f crds/tenant.yaml
fi
if [ -n "${BOT_TOKEN:-}" ]; then
  kc -n "$TENANT_NAMESPACE" create secret generic client-001-bot-token --from-literal=token="$BOT_TOKEN" \
    --dry-run=client -o yaml | kc apply -f -
  # The operator mounts only Secrets labelled as bot tokens.
  kc -n "$TENANT_NAMESPACE" label --overwrite secret client-001-bot-token bookingsaas.dev/bot-token=true
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
