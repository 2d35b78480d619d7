"""Webhook mode of the Shared runtime on the real tier: Telegram -> TLS Ingress -> Service -> shard pod.

Webhook mode needs one tenant namespace (the chart refuses it with `operator.clusterWide=true`,
which the rest of `make e2e` uses), so this module switches the session's release with
`helm upgrade --reuse-values` to the namespaced operator with `operator.shardWebhook.url` set and
the Ingress's `tls` naming a Secret of a certificate from a CA made here; its tenants live in the
release namespace. Afterwards the release gets its former values back (`helm upgrade
--reset-values` with them), so the modules after this one see the release they expect.

The Ingress controller is the host's nginx (e2e/ingress.py), configured from the Ingress object
the API server holds: each path to its Service's ClusterIP (through kube-proxy), TLS from the
Secret the Ingress names. The fake Telegram delivers each update to the URL the shard registered
with setWebhook, over HTTPS, trusting that CA only and resolving the Ingress's host to nginx.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from e2e.bots import USER_ID, answers_start, bot_pods, live_token
from e2e.cluster import (
    TENANT,
    Kubectl,
    KubectlError,
    TenantNames,
    Tenants,
    platform_namespace,
    release,
    wait_for,
)
from e2e.ingress import Nginx, TestCA, certificates, free_port, routes
from e2e.shards import Live, report, running_pod, shard_pods, wait_runtime
from e2e.telegram import ReachableTelegram

CHART = Path(__file__).resolve().parents[2] / "charts" / "booking-saas"
HOST = "hooks.booking.test"  # .test: a name no resolver answers; the fake Telegram maps it to nginx
BASE_PATH = "/tg"
SHARD = "booking-shard-0"
INGRESS_CLASS = "booking-e2e-nginx"
TLS_SECRET = "shard-webhook-tls"
FORGED_USER = 700_000_666


@dataclass(frozen=True)
class WebhookRelease:
    url: str  # operator.shardWebhook.url
    port: int  # where nginx listens (the URL's port)
    ca: TestCA
    namespace: str


def _helm(*args: str, timeout: float = 600) -> str:
    helm = shutil.which("helm")
    if helm is None:
        pytest.skip("e2e: helm is not on PATH (`make e2e` puts the pinned one there: hack/install-helm.sh)")
    proc = subprocess.run([helm, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args[:2])} failed: {proc.stderr.strip()}")
    return proc.stdout


@pytest.fixture(scope="module")
def webhook_release(kubectl: Kubectl) -> Iterator[WebhookRelease]:
    """The session's release in webhook mode for this module, its former values back afterwards."""
    ns, name = platform_namespace(), release()
    scope = ("--namespace", ns, "--kube-context", kubectl.context)
    before = json.loads(_helm("get", "values", name, *scope, "-o", "json")) or {}
    directory = Path(tempfile.mkdtemp(prefix="booking-e2e-ca-"))
    ca = TestCA(directory)
    cert, key = ca.issue(HOST)
    # The certificate is the Ingress's, in the Secret its `tls` names, where a controller reads it.
    kubectl("-n", ns, "delete", "secret", TLS_SECRET, "--ignore-not-found")
    with tempfile.TemporaryDirectory() as files:
        (Path(files) / "tls.crt").write_bytes(cert)
        (Path(files) / "tls.key").write_bytes(key)
        kubectl(
            "-n", ns, "create", "secret", "tls", TLS_SECRET,
            f"--cert={files}/tls.crt", f"--key={files}/tls.key",
        )  # fmt: skip
    port = free_port()
    url = f"https://{HOST}:{port}{BASE_PATH}"
    strings = {
        "operator.shardWebhook.url": url,
        "operator.shardWebhook.ingress.className": INGRESS_CLASS,
        "operator.shardWebhook.ingress.tls[0].secretName": TLS_SECRET,
        "operator.shardWebhook.ingress.tls[0].hosts[0]": HOST,
    }
    sets = ["--set", "operator.clusterWide=false"]
    sets += [arg for key, value in strings.items() for arg in ("--set-string", f"{key}={value}")]
    upgrade = ("upgrade", name, str(CHART), *scope, "--wait", "--timeout", "5m")
    try:
        _helm(*upgrade, "--reuse-values", *sets)
        yield WebhookRelease(url, port, ca, ns)
    finally:
        with tempfile.NamedTemporaryFile("w", suffix=".json") as saved:
            json.dump(before, saved)
            saved.flush()
            _helm(*upgrade, "--reset-values", "-f", saved.name)
        with contextlib.suppress(KubectlError, subprocess.TimeoutExpired):
            kubectl("-n", ns, "delete", "secret", TLS_SECRET, "--ignore-not-found")
            # The shards this module's tenants made (shard objects are kept for reuse, and carry
            # this module's webhook URL): the release namespace gets none otherwise.
            kubectl(
                "-n", ns, "delete", "deployment,secret,configmap,serviceaccount,role,rolebinding",
                "-l", "app.kubernetes.io/managed-by=booking-operator,bookingsaas.dev/shard",
                "--ignore-not-found", "--wait=false",
            )  # fmt: skip
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def namespace(webhook_release: WebhookRelease) -> str:
    """The one namespace a namespaced operator watches: the release's."""
    return webhook_release.namespace


@pytest.fixture(scope="module")
def created(tenants: Tenants) -> Iterator[list[TenantNames]]:
    """This module's tenants, deleted (with their data) while the namespaced operator still runs."""
    names: list[TenantNames] = []
    try:
        yield names
    finally:
        for each in names:
            with contextlib.suppress(KubectlError, AssertionError, subprocess.TimeoutExpired):
                tenants.delete_and_wait(each)


@pytest.fixture(scope="module")
def ingress(kubectl: Kubectl, webhook_release: WebhookRelease) -> dict[str, Any]:
    """The chart's Ingress of this module's class, as the API server has it."""
    found = kubectl.json("-n", webhook_release.namespace, "get", "ingress")["items"]
    ours = [i for i in found if i["spec"].get("ingressClassName") == INGRESS_CLASS]
    assert len(ours) == 1, [i["metadata"]["name"] for i in found]
    return dict(ours[0])


@pytest.fixture(scope="module")
def nginx(
    kubectl: Kubectl, webhook_release: WebhookRelease, ingress: dict[str, Any], telegram: ReachableTelegram
) -> Iterator[Nginx]:
    ns = webhook_release.namespace
    served = routes(ingress, lambda name: kubectl.get("service", name, ns))
    tls = certificates(ingress, lambda name: kubectl.get("secret", name, ns))
    proxy = Nginx("127.0.0.1", webhook_release.port)
    context = ssl.create_default_context(cafile=str(webhook_release.ca.cert))
    try:
        proxy.start(served, tls)
        telegram.call(telegram.fake.deliver_over, context, {HOST: proxy.listen})
        yield proxy
    finally:
        telegram.call(telegram.fake.deliver_over, None)
        proxy.stop()


def _webhook_tenant(tenants: Tenants, telegram: ReachableTelegram, created: list[TenantNames]) -> Live:
    token = live_token(telegram)
    names = tenants.create(deletion_policy="Delete", token=token, runtime="Shared")
    created.append(names)
    tenants.wait_phase(names, "Ready", timeout=300)
    return Live(names, token)


@pytest.fixture(scope="module")
def served(tenants: Tenants, telegram: ReachableTelegram, nginx: Nginx, created: list[TenantNames]) -> Live:
    return _webhook_tenant(tenants, telegram, created)


def _shard_pod(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    return wait_for(
        f"one running pod of {SHARD}",
        lambda: running_pod(shard_pods(kubectl, namespace, SHARD)),
        timeout=120,
    )


def _calls(telegram: ReachableTelegram, token: str, method: str) -> list[Any]:
    return telegram.call(lambda: [c for c in telegram.fake.calls if c.token == token and c.method == method])


def _bot_id(token: str) -> str:
    return token.split(":", 1)[0]


def test_a_shared_tenant_becomes_ready_in_webhook_mode_and_never_long_polls(
    kubectl: Kubectl,
    tenants: Tenants,
    telegram: ReachableTelegram,
    served: Live,
    webhook_release: WebhookRelease,
) -> None:
    status = (tenants.get(served.names) or {})["status"]
    assert (status["runtime"], status["shard"], status["phase"]) == ("Shared", SHARD, "Ready")
    assert (report(kubectl, tenants.namespace, SHARD, served.names.client_id) or {}).get("state") == "Serving"
    (container,) = _shard_pod(kubectl, tenants.namespace)["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container.get("env") or []}
    assert env["SHARD_WEBHOOK_URL"] == f"{webhook_release.url}/shards/{SHARD}"
    assert _calls(telegram, served.token, "getUpdates") == []


def test_the_shard_registers_its_tenants_webhook_under_the_public_url_with_a_secret_token(
    kubectl: Kubectl,
    tenants: Tenants,
    telegram: ReachableTelegram,
    served: Live,
    webhook_release: WebhookRelease,
) -> None:
    expected = f"{webhook_release.url}/shards/{SHARD}/telegram/{_bot_id(served.token)}"
    (call,) = _calls(telegram, served.token, "setWebhook")
    assert call.params["url"] == expected
    secret = call.params.get("secret_token")
    assert isinstance(secret, str) and len(secret) >= 32 and secret not in served.token
    assert call.peer == _shard_pod(kubectl, tenants.namespace)["status"]["podIP"]
    assert telegram.call(lambda: telegram.fake.webhooks.get(served.token)) == (expected, secret)


def test_a_customers_start_goes_through_the_ingress_and_the_service_to_the_shard_pod(
    kubectl: Kubectl,
    tenants: Tenants,
    telegram: ReachableTelegram,
    served: Live,
    nginx: Nginx,
    request: pytest.FixtureRequest,
) -> None:
    started = time.monotonic()
    assert "E2E Test Salon" in answers_start(telegram, served.token, timeout=30)
    request.node.user_properties.append(
        (
            "timing: webhook /start -> answer, through nginx and the Service (s)",
            f"{time.monotonic() - started:.2f}",
        )
    )
    pod = _shard_pod(kubectl, tenants.namespace)
    answers = [c for c in _calls(telegram, served.token, "sendMessage") if c.params.get("chat_id") == USER_ID]
    assert answers and answers[-1].peer == pod["status"]["podIP"]
    service = kubectl.get("service", f"{SHARD}-webhook", tenants.namespace)
    assert service is not None
    cluster_ip = service["spec"]["clusterIP"]
    assert cluster_ip != pod["status"]["podIP"]  # the host reached the pod through kube-proxy
    path = f"{BASE_PATH}/shards/{SHARD}/telegram/{_bot_id(served.token)}"
    delivered = [r for r in nginx.requests() if r["uri"] == path and r["method"] == "POST"]
    assert delivered and delivered[-1]["status"] == 200, nginx.requests()
    assert delivered[-1]["host"] == HOST and delivered[-1]["upstream"] == f"{cluster_ip}:80"
    # At the first attempt: a Ready tenant's Service routes to its pod (before the chart published
    # not-ready addresses, the pod's readiness probe kept it out for ~15 s: 72 refused attempts).
    assert [r for r in delivered if r["status"] >= 500] == [], delivered


def _post_over_tls(release_: WebhookRelease, path: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    """POST as anyone on the internet could, with curl, verifying the Ingress's certificate."""
    port = release_.port
    args = [
        "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
        "--cacert", str(release_.ca.cert), "--resolve", f"{HOST}:{port}:127.0.0.1",
        "-H", "Content-Type: application/json", "--data", json.dumps(body),
        *(arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")),
        f"https://{HOST}:{port}{path}",
    ]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout)


@pytest.mark.parametrize("secret", ["wrong", None], ids=["a wrong secret", "no secret"])
def test_an_update_without_the_tenants_secret_is_refused_and_never_reaches_a_handler(
    kubectl: Kubectl,
    tenants: Tenants,
    telegram: ReachableTelegram,
    served: Live,
    nginx: Nginx,
    webhook_release: WebhookRelease,
    secret: str | None,
) -> None:
    path = f"{BASE_PATH}/shards/{SHARD}/telegram/{_bot_id(served.token)}"
    forged = {
        "update_id": 900_000_000 + FORGED_USER % 1000,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": {"id": FORGED_USER, "type": "private", "first_name": "Mallory"},
            "from": {"id": FORGED_USER, "is_bot": False, "first_name": "Mallory"},
            "text": "/start",
        },
    }
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    assert _post_over_tls(webhook_release, path, forged, headers) == 401
    refused = [r for r in nginx.requests() if r["uri"] == path and r["status"] == 401]
    assert refused and refused[-1]["upstream_status"] == "401"  # the shard refused it, not nginx
    # A genuine update after it is answered; the forged one never was.
    assert "E2E Test Salon" in answers_start(telegram, served.token, timeout=30)
    assert telegram.call(telegram.fake.sent_messages, served.token, FORGED_USER) == []
    assert (report(kubectl, tenants.namespace, SHARD, served.names.client_id) or {}).get("state") == "Serving"


@pytest.fixture(scope="module")
def switched(
    kubectl: Kubectl, tenants: Tenants, telegram: ReachableTelegram, nginx: Nginx, created: list[TenantNames]
) -> Live:
    """A second webhook tenant, answered by its shard, then switched to Dedicated."""
    live = _webhook_tenant(tenants, telegram, created)
    assert "E2E Test Salon" in answers_start(telegram, live.token, timeout=30)
    assert telegram.call(lambda: live.token in telegram.fake.webhooks)
    kubectl.patch(TENANT, live.names.name, tenants.namespace, {"spec": {"runtime": "Dedicated"}})
    wait_runtime(tenants, live.names, "Dedicated")
    return live


def test_a_tenant_switched_to_dedicated_leaves_no_webhook_and_its_new_bot_polls_and_answers(
    kubectl: Kubectl, tenants: Tenants, telegram: ReachableTelegram, switched: Live
) -> None:
    shard_ip = _shard_pod(kubectl, tenants.namespace)["status"]["podIP"]
    assert report(kubectl, tenants.namespace, SHARD, switched.names.client_id) is None
    assert telegram.call(lambda: switched.token in telegram.fake.webhooks) is False
    # The shard deleted its own webhook, before the dedicated bot's first poll.
    set_at = _calls(telegram, switched.token, "setWebhook")[-1].at
    deleted = [c for c in _calls(telegram, switched.token, "deleteWebhook") if c.at > set_at]
    assert deleted and deleted[0].peer == shard_ip, [(c.at, c.peer) for c in deleted]
    polls = _calls(telegram, switched.token, "getUpdates")
    assert polls and all(p.at > deleted[0].at and p.peer != shard_ip for p in polls)
    bot = running_pod(bot_pods(kubectl, tenants, switched.names))
    assert bot is not None
    assert "E2E Test Salon" in answers_start(telegram, switched.token, timeout=60)
    answers = [
        c for c in _calls(telegram, switched.token, "sendMessage") if c.params.get("chat_id") == USER_ID
    ]
    assert answers[-1].peer == bot["status"]["podIP"]
    assert switched.token not in telegram.call(lambda: list(telegram.fake.conflicts))


def test_a_deleted_tenant_leaves_no_webhook_of_its_own(
    kubectl: Kubectl, tenants: Tenants, telegram: ReachableTelegram, nginx: Nginx, created: list[TenantNames]
) -> None:
    live = _webhook_tenant(tenants, telegram, created)
    shard = (tenants.get(live.names) or {})["status"]["shard"]
    pod = running_pod(shard_pods(kubectl, tenants.namespace, shard))
    assert pod is not None and telegram.call(lambda: live.token in telegram.fake.webhooks)
    tenants.delete_and_wait(live.names)
    wait_for(
        "the deleted tenant's webhook to be gone",
        lambda: not telegram.call(lambda: live.token in telegram.fake.webhooks),
        timeout=30,
        interval=0.5,
    )
    set_at = _calls(telegram, live.token, "setWebhook")[-1].at
    deleted = [c for c in _calls(telegram, live.token, "deleteWebhook") if c.at > set_at]
    assert [c.peer for c in deleted] == [pod["status"]["podIP"]]  # by the shard that served it
