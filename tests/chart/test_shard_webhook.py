"""The chart's webhook mode of the shared runtime: one Service per shard, one Ingress, the URL.

What the operator and the shard do with these values is tested in
tests/operator_tests/test_shard_manifests.py and tests/bot/shard/test_webhook.py; here: the
chart routes exactly the path the shard serves to exactly the pod the operator labels.
"""

from __future__ import annotations

from typing import Any

from booking_bot.shard.webhook import webhook_path
from booking_operator import shard_manifests
from booking_operator.config import OperatorSettings

from .conftest import Helm, Manifest, by_kind


def _operator_env(manifests: list[Manifest]) -> dict[str, str]:
    (operator,) = [d for d in by_kind(manifests, "Deployment") if d["metadata"]["name"].endswith("operator")]
    env = operator["spec"]["template"]["spec"]["containers"][0]["env"]
    return {e["name"]: e.get("value", "") for e in env}


def _shard_settings(env: dict[str, str]) -> OperatorSettings:
    return OperatorSettings.model_validate(
        {
            "operator_database_url": "postgresql://op:pw@db:5432/booking",
            "operator_redis_url": "redis://:pw@redis:6379/0",
            "bot_image": "booking-bot:1",
            "shard_webhook_url": env["SHARD_WEBHOOK_URL"],
            "shard_webhook_shards": env["SHARD_WEBHOOK_SHARDS"],
        }
    )


def test_by_default_shards_long_poll_and_nothing_is_exposed(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["default"]
    assert _operator_env(manifests)["SHARD_WEBHOOK_URL"] == ""
    assert not [m for m in manifests if m["metadata"]["name"].endswith("shard-webhook")]
    assert not [s for s in by_kind(manifests, "Service") if s["metadata"]["name"].startswith("booking-shard")]
    (policy,) = [p for p in by_kind(manifests, "NetworkPolicy") if p["metadata"]["name"].endswith("-shards")]
    assert policy["spec"]["ingress"] == []


def test_each_routed_shard_has_a_service_selecting_the_pod_the_operator_labels(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["shard-webhook"]
    settings = _shard_settings(_operator_env(manifests))
    services = {s["metadata"]["name"]: s for s in by_kind(manifests, "Service")}
    for index in range(settings.shard_webhook_shards):
        shard = shard_manifests.shard_name(index)
        service = services[f"{shard}-webhook"]
        pod = shard_manifests.deployment(settings, shard, "default")["spec"]["template"]
        labels = pod["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        ports = {p["name"]: p for p in pod["spec"]["containers"][0]["ports"]}
        (port,) = service["spec"]["ports"]
        assert port["targetPort"] in ports  # the container's `webhook` port, not `health`
        assert ports[port["targetPort"]]["containerPort"] == shard_manifests.WEBHOOK_PORT


def test_the_ingress_routes_the_path_each_shard_serves_and_nothing_else(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["shard-webhook"]
    settings = _shard_settings(_operator_env(manifests))
    (ingress,) = [i for i in by_kind(manifests, "Ingress") if i["metadata"]["name"].endswith("shard-webhook")]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "bots.example.com"
    routes: dict[str, Any] = {p["path"]: p["backend"]["service"] for p in rule["http"]["paths"]}
    for index in range(settings.shard_webhook_shards):
        shard = shard_manifests.shard_name(index)
        url = shard_manifests.webhook_url(settings, shard)
        assert url is not None
        served = webhook_path(url).replace("{bot_id}", "123456")  # what the shard's endpoint takes
        (prefix,) = [p for p in routes if served.startswith(p)]
        assert routes[prefix] == {"name": f"{shard}-webhook", "port": {"name": "webhook"}}
        for private in ("/healthz", "/tenants"):
            assert not any(
                (url.removeprefix("https://bots.example.com") + private).startswith(p) for p in routes
            )
    beyond = shard_manifests.shard_name(settings.shard_webhook_shards)
    assert shard_manifests.webhook_url(settings, beyond) is None  # it long-polls
    assert ingress["spec"]["ingressClassName"] == "nginx" and ingress["spec"]["tls"]


def test_in_webhook_mode_a_shard_accepts_its_webhook_port_only(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["shard-webhook"]
    (policy,) = [p for p in by_kind(manifests, "NetworkPolicy") if p["metadata"]["name"].endswith("-shards")]
    assert policy["spec"]["ingress"] == [
        {"ports": [{"port": shard_manifests.WEBHOOK_PORT, "protocol": "TCP"}]}
    ]


def test_shards_may_reach_the_database_and_redis(rendered: dict[str, list[Manifest]]) -> None:
    """Without this rule a NetworkPolicy-enforcing cluster would cut every shard off its tenants' data."""
    manifests = rendered["default"]
    settings = _shard_settings({"SHARD_WEBHOOK_URL": "", "SHARD_WEBHOOK_SHARDS": "0"})
    labels = shard_manifests.deployment(settings, "booking-shard-0", "default")["spec"]["template"][
        "metadata"
    ]["labels"]
    for name in ("postgresql", "redis"):
        (policy,) = [p for p in by_kind(manifests, "NetworkPolicy") if p["metadata"]["name"].endswith(name)]
        sources = [s for rule in policy["spec"]["ingress"] for s in rule["from"]]
        assert any(s.get("podSelector", {}).get("matchLabels", {}).items() <= labels.items() for s in sources)


def test_a_cluster_wide_operator_cannot_use_webhook_mode(helm: Helm) -> None:
    result = helm.template(
        {"operator": {"clusterWide": True, "shardWebhook": {"url": "https://bots.example.com"}}}
    )
    assert result.returncode != 0
    assert "clusterWide" in result.stderr


def test_a_shards_webhook_service_routes_to_its_pod_before_the_readiness_probe_passes(
    rendered: dict[str, list[Manifest]],
) -> None:
    """On the real tier (tests/e2e/test_shard_webhook.py) a fresh shard's first tenant was Ready
    and its webhook set ~15 s before the pod's readiness probe (period 20 s) let the Service
    route to it: Telegram's deliveries were refused meanwhile, and real Telegram backs off."""
    manifests = rendered["shard-webhook"]
    settings = _shard_settings(_operator_env(manifests))
    probe = shard_manifests.deployment(settings, "booking-shard-0", "default")["spec"]["template"]["spec"][
        "containers"
    ][0]["readinessProbe"]
    assert probe["httpGet"]["path"] == "/healthz"  # the tenant list, not the webhook port
    services = [s for s in by_kind(manifests, "Service") if s["metadata"]["name"].startswith("booking-shard")]
    assert services and all(s["spec"].get("publishNotReadyAddresses") is True for s in services)
