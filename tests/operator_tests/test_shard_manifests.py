"""The shard pool's objects: what a shard may read (its own tenants only), how it runs, what it gets.

The Role is evaluated here with Kubernetes' RBAC rules for resource names: a rule with
``resourceNames`` authorises a request only for an object of one of those names, and a
collection request (list, watch) only when it selects that one name by
``fieldSelector=metadata.name=``; nothing else matches. (On a real API server the same is
checked end to end by the cluster tier; see docs/shared-runtime.md.)
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import SecretStr

from booking_bot.shard.config import fingerprint, parse_entry
from booking_operator import manifests, shard_manifests
from booking_operator.config import OperatorSettings

NAMESPACE = "tenants"


@pytest.fixture()
def settings() -> OperatorSettings:
    return OperatorSettings(
        operator_database_url=SecretStr("postgresql://op:pw@db:5432/booking"),
        operator_redis_url=SecretStr("redis://:pw@redis:6379/0"),
        bot_image="booking-bot:1",
        telegram_api_url="http://bot-api:8081",
    )


def authorised(
    rules: list[dict[str, Any]], verb: str, resource: str, name: str | None, selector: str = ""
) -> bool:
    """Kubernetes RBAC for one namespaced request of the core group."""
    if name is None and selector.startswith("metadata.name="):
        name = selector.removeprefix("metadata.name=")
        collection_by_name = True
    else:
        collection_by_name = False
    for rule in rules:
        if "" not in rule["apiGroups"] or resource not in rule["resources"] or verb not in rule["verbs"]:
            continue
        names = rule.get("resourceNames")
        if not names:
            return True
        if name is not None and name in names and (verb not in ("list", "watch") or collection_by_name):
            return True
    return False


def test_a_shard_can_read_and_watch_its_own_tenants_secret() -> None:
    rules = shard_manifests.role("booking-shard-0", NAMESPACE)["rules"]
    assert authorised(rules, "get", "secrets", "booking-shard-0-tenants")
    assert authorised(rules, "watch", "secrets", None, "metadata.name=booking-shard-0-tenants")


@pytest.mark.parametrize(
    ("verb", "name", "selector"),
    [
        ("get", "booking-shard-1-tenants", ""),  # another shard's tenants
        ("watch", None, "metadata.name=booking-shard-1-tenants"),
        ("get", "salon-credentials", ""),  # a tenant's own Secret
        ("get", "bot-token", ""),  # an owner's bot token
        ("list", None, ""),  # every Secret of the namespace
        ("watch", None, ""),
        ("patch", "booking-shard-0-tenants", ""),  # not even its own: the operator writes it
        ("delete", "booking-shard-0-tenants", ""),
    ],
)
def test_a_shard_cannot_read_another_shards_secret_or_any_other(
    verb: str, name: str | None, selector: str
) -> None:
    rules = shard_manifests.role("booking-shard-0", NAMESPACE)["rules"]
    assert not authorised(rules, verb, "secrets", name, selector)


def test_a_shard_reports_into_its_own_configmap_only() -> None:
    rules = shard_manifests.role("booking-shard-0", NAMESPACE)["rules"]
    assert authorised(rules, "patch", "configmaps", "booking-shard-0-status")
    assert not authorised(rules, "patch", "configmaps", "booking-shard-1-status")
    assert not authorised(rules, "get", "configmaps", "kube-root-ca.crt")
    assert {r["resources"][0] for r in rules} == {"secrets", "configmaps"}


def test_the_shards_pod_runs_as_its_own_service_account_with_one_replica_recreated(
    settings: OperatorSettings,
) -> None:
    deployment = shard_manifests.deployment(settings, "booking-shard-3", NAMESPACE)
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    assert pod["serviceAccountName"] == "booking-shard-3"
    binding = shard_manifests.role_binding("booking-shard-3", NAMESPACE)
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "booking-shard-3", "namespace": NAMESPACE}
    ]
    assert (
        binding["roleRef"]["name"] == shard_manifests.role("booking-shard-3", NAMESPACE)["metadata"]["name"]
    )
    container = pod["containers"][0]
    assert container["securityContext"]["runAsNonRoot"] is True
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["SHARD_TENANTS_SECRET"] == "booking-shard-3-tenants"
    assert env["SHARD_STATUS_CONFIGMAP"] == "booking-shard-3-status"
    assert env["TELEGRAM_API_URL"] == "http://bot-api:8081"
    assert "valueFrom" not in json.dumps(container) and "envFrom" not in container  # no secret in its env


def test_a_tenants_entry_is_the_environment_of_its_dedicated_bot(settings: OperatorSettings) -> None:
    spec = {
        "clientId": "client_001",
        "companyName": "Salon",
        "ownerTelegramId": 42,
        "admins": [7, 8],
        "timezone": "Asia/Yekaterinburg",
        "language": "en",
        "botTokenSecretRef": {"name": "bot-token", "key": "token"},
    }
    credentials = manifests.secret_data(settings, "client_001", "db-password", "redis-password")
    dedicated = manifests.deployment(settings, "salon", NAMESPACE, spec, replicas=1, secret_hash="x")
    raw = shard_manifests.tenant_entry(dedicated, credentials, "123:token")
    entry = json.loads(raw)
    assert entry["BOT_TOKEN"] == "123:token"
    assert entry["DATABASE_URL"] == credentials["DATABASE_URL"]
    assert entry["REDIS_URL"] == credentials["REDIS_URL"]
    assert entry["ADMIN_TELEGRAM_IDS"] == "7,8" and entry["TENANT_TIMEZONE"] == "Asia/Yekaterinburg"
    assert "HEALTH_PORT" not in entry and "TELEGRAM_API_URL" not in entry  # the shard's own
    assert manifests.DB_PASSWORD_KEY not in entry and manifests.REDIS_PASSWORD_KEY not in entry
    # ...and the shard accepts it as the same settings the dedicated bot would read.
    parsed = parse_entry("client_001", raw, "http://bot-api:8081")
    assert parsed.error is None and parsed.settings is not None
    assert parsed.settings.admin_ids == frozenset({7, 8, 42})
    assert parsed.settings.default_language == "en"
    assert shard_manifests.entry_digest(raw) == fingerprint(raw)


def test_an_entry_with_an_empty_owner_is_valid(settings: OperatorSettings) -> None:
    spec = {"clientId": "client_002", "botTokenSecretRef": {"name": "t"}}
    dedicated = manifests.deployment(settings, "x", NAMESPACE, spec, replicas=1, secret_hash="x")
    raw = shard_manifests.tenant_entry(
        dedicated, manifests.secret_data(settings, "client_002", "p", None), "1:t"
    )
    assert json.loads(raw)["OWNER_TELEGRAM_ID"] == ""
    assert parse_entry("client_002", raw, None).error is None


def _container(settings: OperatorSettings, shard: str) -> dict[str, Any]:
    container: dict[str, Any] = shard_manifests.deployment(settings, shard, NAMESPACE)["spec"]["template"][
        "spec"
    ]["containers"][0]
    return container


def test_shards_long_poll_unless_the_platform_has_a_public_webhook_url(settings: OperatorSettings) -> None:
    container = _container(settings, "booking-shard-0")
    assert not {e["name"] for e in container["env"]} & {"SHARD_WEBHOOK_URL", "SHARD_WEBHOOK_PORT"}
    assert [p["name"] for p in container["ports"]] == ["health"]


def test_a_shard_the_ingress_routes_gets_its_own_webhook_url_and_port(settings: OperatorSettings) -> None:
    hooked = settings.model_copy(
        update={"shard_webhook_url": "https://bots.example.com/tg/", "shard_webhook_shards": 2}
    )
    container = _container(hooked, "booking-shard-1")
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["SHARD_WEBHOOK_URL"] == "https://bots.example.com/tg/shards/booking-shard-1"
    assert env["SHARD_WEBHOOK_PORT"] == str(shard_manifests.WEBHOOK_PORT) != env["HEALTH_PORT"]
    assert {"name": "webhook", "containerPort": shard_manifests.WEBHOOK_PORT, "protocol": "TCP"} in container[
        "ports"
    ]
    # The shard itself accepts what the operator gives it.
    from booking_bot.shard.config import ShardSettings

    shard_settings = ShardSettings(
        shard_tenants_secret="x", shard_webhook_url=env["SHARD_WEBHOOK_URL"], health_port=8080
    )
    assert shard_settings.shard_webhook_port == shard_manifests.WEBHOOK_PORT


def test_a_shard_beyond_the_ingress_routes_long_polls(settings: OperatorSettings) -> None:
    hooked = settings.model_copy(
        update={"shard_webhook_url": "https://bots.example.com", "shard_webhook_shards": 2}
    )
    env = {e["name"] for e in _container(hooked, "booking-shard-2")["env"]}
    assert "SHARD_WEBHOOK_URL" not in env


def test_the_webhook_url_must_be_https(settings: OperatorSettings) -> None:
    with pytest.raises(ValueError, match="shard_webhook_url"):
        OperatorSettings(**{**settings.model_dump(), "shard_webhook_url": "http://bots.example.com"})
