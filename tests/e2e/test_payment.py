"""A simulated YooKassa `payment.succeeded` notification creates a tenant, on a real cluster.

Real YooKassa cannot be used, so the test brings its own webhook and YooKassa:

- the repo's fake YooKassa API (harness/yookassa.py) runs in this process, listening on the
  host's side of the kind Docker network (see e2e/yookassa.py; E2E_YOOKASSA_API_URL and
  E2E_YOOKASSA_BIND override the address);
- a webhook pod (the `booking-webhook` image `make up` loaded into kind; E2E_WEBHOOK_IMAGE
  overrides) runs in the test namespace with its own ServiceAccount and the chart's own webhook
  Roles (rendered with helm for it: BookingTenants in the tenant namespace, no Secret verb there;
  Secrets in the operator's token namespace only), the chart's
  PostgreSQL (role `booking_webhook`, password from the chart's Secret), `YOOKASSA_API_URL`
  pointing at the fake and `TENANT_NAMESPACE` = the test namespace. The platform's own webhook
  (if enabled) is left alone;
- the sales bot's part (a `platform.checkouts` row, the owner's token Secret, the payment at
  YooKassa) is done directly: the row through psql, the token Secret as the webhook's
  ServiceAccount (`kubectl --as`) in the token namespace, the payment in the fake;
- the notification goes through `kubectl port-forward` to the pod. A port-forwarded connection
  reaches the pod from 127.0.0.1, so the pod trusts 127.0.0.1 as a proxy
  (`WEBHOOK_TRUSTED_PROXIES`) and the request names a YooKassa address in `X-Forwarded-For`,
  as an ingress would; YooKassa's published source networks stay the only ones allowed.

The test is skipped, with the reason, when the webhook pod cannot reach the fake API (a host
firewall, Docker Desktop without E2E_YOOKASSA_API_URL, ...).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import select
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from chart.conftest import CHART, find_helm

from e2e.cluster import (
    FAKE_BOT_TOKEN,
    TENANT,
    Kubectl,
    KubectlError,
    PlatformDatabase,
    Psql,
    TenantNames,
    Tenants,
    fullname,
    literal,
    secret_value,
    wait_for,
)
from e2e.yookassa import ReachableYooKassa

WEBHOOK = "e2e-webhook"
YOOKASSA_SOURCE = "185.71.76.10"  # inside 185.71.76.0/27, one of YooKassa's published networks
PLAN = {"1m": {"days": 30, "amount": "299.00", "currency": "RUB", "title": "E2E month"}}
PROBE = """
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/payments/e2e-reachability-probe", timeout=5)
    print("200")
except urllib.error.HTTPError as exc:
    print(exc.code)
except Exception as exc:
    print("unreachable:", type(exc).__name__, exc)
"""


@pytest.fixture(scope="module")
def yookassa() -> Iterator[ReachableYooKassa]:
    server = ReachableYooKassa(shop_id="424242", secret_key=f"e2e_{secrets.token_hex(16)}")
    try:
        server.start()
    except (LookupError, OSError) as exc:
        server.stop()
        pytest.skip(
            f"e2e: cannot serve the fake YooKassa API where the cluster reaches it ({exc}); "
            "set E2E_YOOKASSA_API_URL (and E2E_YOOKASSA_BIND), see docs/deploy.md"
        )
    try:
        yield server
    finally:
        server.stop()


def _webhook_image(kubectl: Kubectl, platform_ns: str) -> str:
    configured = os.environ.get("E2E_WEBHOOK_IMAGE")
    if configured:
        return configured
    deployment = kubectl.get("deployment", f"{fullname()}-webhook", platform_ns)
    if deployment is not None:
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])
    return f"booking-webhook:{os.environ.get('IMAGE_TAG', 'dev')}"


@pytest.fixture(scope="module")
def token_namespace(kubectl: Kubectl, platform_ns: str) -> Iterator[str]:
    """The operator's TOKEN_NAMESPACE (the chart makes it only with the webhook on)."""
    deployment = kubectl.get("deployment", f"{fullname()}-operator", platform_ns)
    assert deployment is not None, "the chart's operator is not installed"
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    tokens = env.get("TOKEN_NAMESPACE") or ""
    assert tokens, "the operator has no TOKEN_NAMESPACE"
    created = kubectl.get("namespace", tokens, "default") is None
    if created:
        kubectl("create", "namespace", tokens)
    try:
        yield tokens
    finally:
        if created:
            with contextlib.suppress(KubectlError, subprocess.TimeoutExpired):
                kubectl("delete", "namespace", tokens, "--wait=false")


def _chart_webhook_rbac(namespace: str, tokens: str) -> list[dict[str, Any]]:
    """The chart's webhook Roles and bindings, for a webhook whose ServiceAccount is WEBHOOK in
    `namespace` (its release and tenant namespace) and whose tokens go to `tokens`."""
    helm = find_helm()
    assert helm is not None, "no helm binary (make e2e puts it on PATH)"
    values = {
        "webhook": {
            "enabled": True,
            "existingSecret": WEBHOOK,
            "serviceAccount": {"name": WEBHOOK},
            "tokenNamespace": tokens,
            "createTokenNamespace": False,
        }
    }
    rendered = subprocess.run(
        [
            helm,
            "template",
            "e2e",
            str(CHART),
            "--namespace",
            namespace,
            "--show-only",
            "templates/webhook-rbac.yaml",
            "--values",
            "-",
        ],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def _webhook_objects(
    namespace: str,
    tokens: str,
    image: str,
    db: PlatformDatabase,
    db_password: str,
    yookassa: ReachableYooKassa,
) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": WEBHOOK, "app.kubernetes.io/part-of": "booking-saas-e2e"}
    secret_env = ["YOOKASSA_SHOP_ID", "YOOKASSA_SECRET_KEY", "DB_WEBHOOK_PASSWORD"]
    env: list[dict[str, Any]] = [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": WEBHOOK, "key": key}}} for key in secret_env
    ]
    env += [
        {
            "name": "WEBHOOK_DATABASE_URL",
            "value": f"postgresql://{db.webhook_user}:$(DB_WEBHOOK_PASSWORD)@{db.host}:5432/{db.database}"
            "?sslmode=disable",
        },
        {"name": "YOOKASSA_API_URL", "value": yookassa.api_url},
        {"name": "YOOKASSA_TIMEOUT", "value": "5"},
        # The fake YooKassa answers as a test shop does (`test: true`), which a live shop refuses.
        {"name": "YOOKASSA_TEST_SHOP", "value": "true"},
        {"name": "TENANT_NAMESPACE", "value": namespace},
        {"name": "TOKEN_NAMESPACE", "value": tokens},
        {"name": "WEBHOOK_TRUSTED_PROXIES", "value": "127.0.0.1/32,::1/128"},
        {"name": "PUBLIC_URL", "value": "http://localhost:8001"},
        {"name": "PORT", "value": "8001"},
        {"name": "PLANS", "value": json.dumps(PLAN)},
    ]
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": WEBHOOK, "labels": labels},
            "type": "Opaque",
            "stringData": {
                "YOOKASSA_SHOP_ID": yookassa.fake.shop_id,
                "YOOKASSA_SECRET_KEY": yookassa.fake.secret_key,
                "DB_WEBHOOK_PASSWORD": db_password,
            },
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": WEBHOOK, "labels": labels}},
        *[o for o in _chart_webhook_rbac(namespace, tokens) if o["metadata"]["namespace"] == namespace],
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": WEBHOOK, "labels": labels},
            "spec": {
                "serviceAccountName": WEBHOOK,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "runAsGroup": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "webhook",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": ["serve"],
                        "env": env,
                        "ports": [{"name": "http", "containerPort": 8001}],
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 3},
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir
                    }
                ],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
            },
        },
    ]


@pytest.fixture(scope="module")
def webhook_pod(
    kubectl: Kubectl,
    namespace: str,
    platform_ns: str,
    platform_db: PlatformDatabase,
    yookassa: ReachableYooKassa,
    token_namespace: str,
) -> Iterator[str]:
    """A ready webhook pod in the test namespace that reaches the fake YooKassa API."""
    db_password = secret_value(kubectl, platform_db.namespace, platform_db.secret, "webhook-password")
    image = _webhook_image(kubectl, platform_ns)
    objects = _webhook_objects(namespace, token_namespace, image, platform_db, db_password, yookassa)
    kubectl.apply(namespace, *objects)
    in_tokens = [
        o for o in _chart_webhook_rbac(namespace, token_namespace) if o["metadata"]["namespace"] != namespace
    ]
    assert in_tokens, "the chart gives the webhook nothing in the token namespace"
    kubectl.apply(token_namespace, *in_tokens)
    try:
        yield _ready_webhook(kubectl, namespace, image, yookassa)
    finally:
        with contextlib.suppress(KubectlError, subprocess.TimeoutExpired):
            kinds = ",".join(sorted({o["kind"].lower() for o in objects}))
            kubectl("-n", namespace, "delete", kinds, WEBHOOK, "--ignore-not-found", "--wait=false")
            kubectl("-n", namespace, "delete", "role,rolebinding", "-l", "app.kubernetes.io/instance=e2e")
            kubectl(
                "-n", token_namespace, "delete", "role,rolebinding", "-l", "app.kubernetes.io/instance=e2e"
            )


def _ready_webhook(kubectl: Kubectl, namespace: str, image: str, yookassa: ReachableYooKassa) -> str:
    try:
        kubectl(
            "-n", namespace, "wait", "--for=condition=Ready", f"pod/{WEBHOOK}", "--timeout=180s", timeout=200
        )
    except KubectlError as exc:
        pod = kubectl.get("pod", WEBHOOK, namespace)
        raise AssertionError(
            f"the e2e webhook pod ({image}) did not become ready: {exc}\n"
            f"status: {json.dumps((pod or {}).get('status'), indent=1)[:2000]}\n"
            f"logs: {kubectl.logs(namespace, WEBHOOK)}"
        ) from None
    answer = kubectl("-n", namespace, "exec", WEBHOOK, "--", "python", "-c", PROBE, yookassa.api_url).strip()
    if answer != "401":  # the fake refuses a request without credentials: it is reachable
        pytest.skip(
            f"e2e: the fake YooKassa API at {yookassa.api_url} is not reachable from the cluster ({answer}); "
            "allow the kind network through the host firewall, or set E2E_YOOKASSA_API_URL and "
            "E2E_YOOKASSA_BIND (docs/deploy.md, End-to-end tests)"
        )
    return WEBHOOK


@contextlib.contextmanager
def port_forward(kubectl: Kubectl, namespace: str, target: str, port: int) -> Iterator[int]:
    """`kubectl port-forward <target> :<port>`; yields the local port."""
    proc = subprocess.Popen(
        kubectl.argv("-n", namespace, "port-forward", target, f":{port}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert match, f"kubectl port-forward did not start: {line!r}"
        yield int(match.group(1))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - a local port-forward URL
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": YOOKASSA_SOURCE},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - a local port-forward URL
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _notify(kubectl: Kubectl, namespace: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Deliver like YooKassa does: again after a 503 (a transient failure), a few times.

    A 503 means the webhook could not reach its database, the Kubernetes API or YooKassa for a
    moment; it delivers again once its /ready (database and Kubernetes reachable) says it is back.
    """
    with port_forward(kubectl, namespace, f"pod/{WEBHOOK}", 8001) as local:
        ready = f"http://127.0.0.1:{local}/ready"
        for _ in range(5):
            status, answer = _post(f"http://127.0.0.1:{local}/webhook/yookassa", body)
            if status != 503:
                break
            wait_for("the webhook ready again after a 503", lambda: _ready(ready), timeout=60, interval=0.5)
    return status, answer


def _as_webhook(kubectl: Kubectl, namespace: str, *args: str, input: str | None = None) -> str:
    return kubectl(f"--as=system:serviceaccount:{namespace}:{WEBHOOK}", *args, input=input)


def test_simulated_yookassa_notification_creates_a_tenant(
    kubectl: Kubectl,
    namespace: str,
    tenants: Tenants,
    psql: Psql,
    yookassa: ReachableYooKassa,
    webhook_pod: str,
    token_namespace: str,
) -> None:
    before = {o["metadata"]["name"] for o in kubectl.json("-n", namespace, "get", TENANT)["items"]}
    suffix = secrets.token_hex(5)
    names = TenantNames(name=f"e2e-pay-{suffix}", client_id=f"e2e_pay_{suffix}")
    owner = 700000000 + secrets.randbelow(1000000)
    checkout_id = str(uuid.uuid4())

    # What the sales bot does before the owner pays: the token Secret (as the webhook's own
    # ServiceAccount, in the token namespace, labelled as booking_webhook/kube.py labels it), the
    # checkout, the payment.
    token_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": names.token_secret,
            "labels": {
                "app.kubernetes.io/managed-by": "booking-webhook",
                "bookingsaas.dev/bot-token": "true",
                "bookingsaas.dev/client-id": names.client_id,
                "bookingsaas.dev/tenant": names.name,
                "bookingsaas.dev/tenant-namespace": namespace,
            },
        },
        "stringData": {"token": FAKE_BOT_TOKEN},
    }
    _as_webhook(
        kubectl, namespace, "-n", token_namespace, "create", "-f", "-", input=json.dumps(token_secret)
    )
    wait_for(
        "the webhook's platform schema",
        lambda: psql.value("SELECT to_regclass('platform.checkouts') IS NOT NULL") == "t",
        timeout=60,
    )
    payment_id = yookassa.call(
        yookassa.fake.add_payment,
        "299.00",
        "RUB",
        "succeeded",
        {"checkout_id": checkout_id, "plan": "1m", "days": "30", "user_id": str(owner), "kind": "new"},
    )
    values = {
        "id": checkout_id,
        "kind": "new",
        "telegram_user_id": str(owner),
        "chat_id": str(owner),
        "plan": "1m",
        "days": "30",
        "amount": "299.00",
        "currency": "RUB",
        "company_name": "E2E Paid Salon",
        "client_id": names.client_id,
        "tenant_name": names.name,
        "token_secret_name": names.token_secret,
        "idempotence_key": str(uuid.uuid4()),
        "return_token": secrets.token_urlsafe(24),
        "payment_id": payment_id,
        "namespace": namespace,
    }
    psql(
        f"INSERT INTO platform.checkouts ({', '.join(values)})"
        f" VALUES ({', '.join(literal(v) for v in values.values())})"
    )
    try:
        notification = yookassa.call(yookassa.fake.notification, "payment.succeeded", payment_id)
        status, answer = _notify(kubectl, namespace, notification)
        assert (status, answer) == (200, {"outcome": "created"}), kubectl.logs(namespace, WEBHOOK)
        # The webhook confirmed the payment with the API instead of believing the body.
        assert ("GET", f"/v3/payments/{payment_id}") in yookassa.call(list, yookassa.fake.requests)

        tenant = tenants.get(names)
        assert tenant is not None
        assert tenant["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "booking-webhook"
        assert tenant["spec"]["clientId"] == names.client_id
        assert tenant["spec"]["botTokenSecretRef"]["name"] == names.token_secret
        assert tenant["spec"]["botTokenSecretRef"]["namespace"] == token_namespace
        assert [p["id"] for p in tenant["spec"]["payments"]] == [payment_id]
        after = {o["metadata"]["name"] for o in kubectl.json("-n", namespace, "get", TENANT)["items"]}
        assert after - before == {names.name}
        # ... and the operator takes it from there, the token copied next to the credentials.
        tenants.wait_provisioned(names)
        credentials = f"{names.name}-credentials"
        assert secret_value(kubectl, namespace, credentials, "BOT_TOKEN") == FAKE_BOT_TOKEN
        # The internet-facing webhook's own ServiceAccount cannot touch that Secret.
        for verb in (
            ("get", "secret", credentials),
            ("patch", "secret", credentials, "--type=merge", "-p", '{"metadata":{"labels":{"x":"y"}}}'),
            ("delete", "secret", credentials, "--dry-run=server"),
        ):
            with pytest.raises(KubectlError, match=r"(?i)forbidden"):
                _as_webhook(kubectl, namespace, "-n", namespace, *verb)
    finally:
        psql(
            f"DELETE FROM platform.notifications WHERE object_id = {literal(payment_id)};"
            # The ledger rows point at the checkout.
            f" DELETE FROM platform.refunds WHERE checkout_id = {literal(checkout_id)};"
            f" DELETE FROM platform.payments WHERE checkout_id = {literal(checkout_id)};"
            f" DELETE FROM platform.checkouts WHERE id = {literal(checkout_id)};"
        )
