"""What a running platform survives on a real cluster: its Redis, its PostgreSQL and its
operator restarted under it, and a tenant Secret deleted by hand.

Each test restarts a real pod through the API (the StatefulSet/Deployment controller and the
kubelet bring it back) and then asserts what a user would notice: the bots answer again, the
tenants converge, nothing is created twice.
"""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from e2e.bots import answers_start, live_token
from e2e.cluster import (
    CONTRACT_LABELS,
    TENANT,
    Kubectl,
    KubectlError,
    Psql,
    TenantNames,
    Tenants,
    condition,
    fullname,
    literal,
    wait_for,
)
from e2e.telegram import ReachableTelegram


def _restart_pod(kubectl: Kubectl, namespace: str, pod: str, container: str) -> None:
    """Delete the pod and wait until its replacement's container is ready."""
    old = kubectl.get("pod", pod, namespace)
    assert old is not None, f"pod {namespace}/{pod} does not exist"
    kubectl("-n", namespace, "delete", "pod", pod, "--wait=true", timeout=180)

    def replaced_and_ready() -> bool:
        new = kubectl.get("pod", pod, namespace)
        if new is None or new["metadata"]["uid"] == old["metadata"]["uid"]:
            return False
        statuses = (new.get("status") or {}).get("containerStatuses") or []
        return any(s["name"] == container and s.get("ready") for s in statuses)

    wait_for(f"pod {namespace}/{pod} to be back and ready", replaced_and_ready, timeout=240)


def _answers_within(telegram: ReachableTelegram, token: str, seconds: float) -> float:
    """Keep writing /start until the bot answers; the seconds it took (fails after `seconds`)."""
    started = time.monotonic()
    last: Exception | None = None
    while time.monotonic() - started < seconds:
        try:
            answers_start(telegram, token, timeout=min(5.0, max(0.5, seconds - (time.monotonic() - started))))
            return time.monotonic() - started
        except TimeoutError as exc:
            last = exc
    raise AssertionError(f"the bot did not answer /start within {seconds:.0f}s: {last}")


@pytest.fixture(scope="module")
def live(tenants: Tenants, telegram: ReachableTelegram) -> tuple[TenantNames, str]:
    token = live_token(telegram)
    names = tenants.create(deletion_policy="Delete", token=token)
    tenants.wait_phase(names, "Ready", timeout=300)
    answers_start(telegram, token, timeout=30)
    return names, token


def _redis_login_works(kubectl: Kubectl, platform_ns: str, redis_url: str) -> bool:
    """PING as the tenant's own Redis user, with the password from its Secret (on stdin)."""
    url = urlsplit(redis_url)
    script = 'IFS= read -r REDISCLI_AUTH; export REDISCLI_AUTH; exec redis-cli --user "$1" -h 127.0.0.1 PING'
    try:
        out = kubectl(
            "-n",
            platform_ns,
            "exec",
            "-i",
            f"{fullname()}-redis-0",
            "-c",
            "redis",
            "--",
            "sh",
            "-c",
            script,
            "sh",
            unquote(url.username or ""),
            input=unquote(url.password or "") + "\n",
            timeout=30,
        )
    except KubectlError:
        return False
    return out.strip() == "PONG"


def test_bots_answer_again_within_30s_after_redis_restarts(
    kubectl: Kubectl,
    platform_ns: str,
    tenants: Tenants,
    telegram: ReachableTelegram,
    live: tuple[TenantNames, str],
) -> None:
    """Defect 3: tenant ACL users must survive a Redis restart (or be re-applied at once).

    The bot keeps answering even without its Redis (conversations fall back to memory), so the
    test also logs in with the tenant's own credentials: that is what WRONGPASS broke.
    """
    names, token = live
    secret = kubectl.get("secret", f"{names.name}-credentials", tenants.namespace)
    assert secret is not None
    redis_url = base64.b64decode(secret["data"]["REDIS_URL"]).decode()
    assert _redis_login_works(kubectl, platform_ns, redis_url)
    _restart_pod(kubectl, platform_ns, f"{fullname()}-redis-0", "redis")
    restarted = time.monotonic()
    wait_for(
        "the tenant's Redis user to work again after the restart",
        lambda: _redis_login_works(kubectl, platform_ns, redis_url),
        timeout=30,
        interval=1,
    )
    _answers_within(telegram, token, 30 - (time.monotonic() - restarted))


def test_tenants_converge_after_postgresql_restarts(
    kubectl: Kubectl,
    platform_ns: str,
    tenants: Tenants,
    telegram: ReachableTelegram,
    live: tuple[TenantNames, str],
) -> None:
    names, token = live
    _restart_pod(kubectl, platform_ns, f"{fullname()}-postgresql-0", "postgresql")
    # A tenant created right after the restart is provisioned (the operator reconnects) ...
    fresh = tenants.create(deletion_policy="Delete", token=live_token(telegram))
    tenants.wait_phase(fresh, "Ready", timeout=300)
    # ... and the running one is still Ready and answering.
    tenants.wait_phase(names, "Ready", timeout=120)
    _answers_within(telegram, token, 60)


def _children(kubectl: Kubectl, namespace: str, client_id: str) -> dict[str, list[str]]:
    selector = f"{CONTRACT_LABELS[1]}={client_id}"
    return {
        kind: sorted(
            o["metadata"]["name"] for o in kubectl.json("-n", namespace, "get", kind, "-l", selector)["items"]
        )
        for kind in ("deployments", "secrets")
    }


def test_operator_killed_mid_provisioning_converges_without_duplicates(
    kubectl: Kubectl,
    platform_ns: str,
    tenants: Tenants,
    telegram: ReachableTelegram,
    psql: Psql,
) -> None:
    names = tenants.create(deletion_policy="Delete", token=live_token(telegram))

    def started() -> bool:
        obj = tenants.get(names)
        return bool(((obj or {}).get("status") or {}).get("conditions"))

    wait_for("the operator to start provisioning", started, timeout=120, interval=0.2)
    pods = kubectl.json("-n", platform_ns, "get", "pods", "-l", "app.kubernetes.io/component=operator")[
        "items"
    ]
    assert pods, "no operator pod"
    for pod in pods:
        kubectl("-n", platform_ns, "delete", "pod", pod["metadata"]["name"], "--grace-period=0", "--force")
    obj = tenants.wait_phase(names, "Ready", timeout=300)
    assert condition(obj, "Database")["status"] == "True"
    assert _children(kubectl, tenants.namespace, names.client_id) == {
        "deployments": [f"{names.name}-bot"],
        "secrets": [f"{names.name}-credentials"],
    }
    assert psql.value(f"SELECT count(*) FROM pg_roles WHERE rolname = {literal(names.client_id)}") == "1"
    assert psql.value(f"SELECT count(*) FROM pg_namespace WHERE nspname = {literal(names.client_id)}") == "1"
    tenant = kubectl.json("-n", tenants.namespace, "get", TENANT, names.name)
    assert tenant["metadata"].get("finalizers", []).count("bookingsaas.dev/finalizer") == 1


def test_tenant_secret_deleted_by_hand_is_back_within_10s(
    kubectl: Kubectl, tenants: Tenants, live: tuple[TenantNames, str]
) -> None:
    """Defect 4: the operator watches the Secrets it owns, so it does not wait for a resync."""
    names, _ = live
    secret = f"{names.name}-credentials"
    old = kubectl.get("secret", secret, tenants.namespace)
    assert old is not None
    kubectl("-n", tenants.namespace, "delete", "secret", secret)
    deleted_at = time.monotonic()

    def recreated() -> dict[str, Any] | None:
        new = kubectl.get("secret", secret, tenants.namespace)
        return new if new is not None and new["metadata"]["uid"] != old["metadata"]["uid"] else None

    new = wait_for(f"Secret {secret} to be recreated", recreated, timeout=10, interval=0.5)
    assert time.monotonic() - deleted_at <= 10.5
    assert set(new.get("data") or {}) >= {"CLIENT_ID", "DATABASE_URL", "REDIS_URL", "REDIS_KEY_PREFIX"}
