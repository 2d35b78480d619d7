"""The chart renders with every documented alternative, lints clean and validates offline."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from .conftest import CHART, SCENARIOS, Helm, Manifest, by_kind

# A current Kubernetes release whose JSON schemas kubernetes-validate ships.
KUBERNETES_VERSION = "1.33.0"


def test_helm_is_the_pinned_version(helm: Helm) -> None:
    result = helm.run("version", "--short")
    assert result.stdout.startswith("v3."), result.stdout


def test_helm_lint_is_clean_with_default_values(helm: Helm) -> None:
    result = helm.run("lint", "--strict", str(CHART))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_helm_lint_is_clean_with_each_alternative(helm: Helm, scenario: str) -> None:
    result = helm.run("lint", "--strict", str(CHART), values=SCENARIOS[scenario])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_manifest_validates_against_the_kubernetes_schemas(
    rendered: dict[str, list[Manifest]], scenario: str
) -> None:
    manifests = rendered[scenario]
    assert manifests, "nothing rendered"
    for manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(
                f"{manifest['kind']}/{manifest['metadata']['name']}: {exc.message} at {list(exc.path)}"
            )


def test_default_install_needs_nothing_else(rendered: dict[str, list[Manifest]]) -> None:
    kinds = {(m["kind"], m["metadata"]["name"]) for m in rendered["default"]}
    assert ("StatefulSet", "booking-booking-saas-postgresql") in kinds
    assert ("StatefulSet", "booking-booking-saas-redis") in kinds
    assert ("Deployment", "booking-booking-saas-operator") in kinds
    assert ("CustomResourceDefinition", "bookingtenants.bookingsaas.dev") in kinds
    assert not by_kind(rendered["default"], "Ingress")


def test_operator_runs_one_replica_with_recreate_liveness_and_metrics(
    rendered: dict[str, list[Manifest]],
) -> None:
    (deployment,) = [
        d for d in by_kind(rendered["default"], "Deployment") if d["metadata"]["name"].endswith("operator")
    ]
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    (container,) = spec["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}


def test_external_database_renders_no_in_cluster_database(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["external-db"]
    assert not by_kind(manifests, "StatefulSet")
    env = _operator_env(manifests)
    assert env["OPERATOR_DATABASE_URL"]["value"] == (
        "postgresql://booking_operator:$(DB_OPERATOR_PASSWORD)@booking-pg-rw.databases.svc:5432/booking_saas"
        "?sslmode=verify-full"
    )
    assert env["DB_OPERATOR_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "booking-db",
        "key": "operator-password",
    }
    assert env["TENANT_DATABASE_SSLMODE"]["value"] == "verify-full"
    assert env["TENANT_REDIS_URL"]["value"] == "rediss://redis.example.internal:6379/0"


def test_pgbouncer_is_what_tenant_bots_connect_to(rendered: dict[str, list[Manifest]]) -> None:
    env = _operator_env(rendered["pgbouncer"])
    assert env["TENANT_DATABASE_HOST"]["value"] == "booking-booking-saas-pgbouncer.booking-system.svc"
    # The operator itself provisions through a direct connection (CREATE ROLE cannot be pooled).
    assert (
        "@booking-booking-saas-postgresql.booking-system.svc:5432/" in env["OPERATOR_DATABASE_URL"]["value"]
    )


def test_tenant_bots_get_namespace_qualified_hosts(rendered: dict[str, list[Manifest]]) -> None:
    # Bots run in their tenant's namespace, so a bare Service name would not resolve there.
    env = _operator_env(rendered["default"])
    assert env["TENANT_DATABASE_HOST"]["value"] == "booking-booking-saas-postgresql.booking-system.svc"
    assert env["TENANT_REDIS_URL"]["value"] == "redis://booking-booking-saas-redis.booking-system.svc:6379/0"


def test_namespace_scoped_mode_grants_no_cluster_wide_rights(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["namespace-scoped"]
    assert not by_kind(manifests, "ClusterRole") and not by_kind(manifests, "ClusterRoleBinding")
    (role,) = [r for r in by_kind(manifests, "Role") if r["metadata"]["name"].endswith("operator")]
    assert role["metadata"]["namespace"] == "tenants"
    assert _operator_env(manifests)["WATCH_NAMESPACE"]["value"] == "tenants"


def test_network_policies_cover_every_platform_pod(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["network-policies"]
    covered = {
        p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for p in by_kind(manifests, "NetworkPolicy")
    }
    workloads = {
        w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        for w in [*by_kind(manifests, "Deployment"), *by_kind(manifests, "StatefulSet")]
    }
    assert covered == workloads | {"bot", "shard"}  # the tenant bots' and shards' pods, made by the operator


def test_ingress_routes_to_the_webhook_and_trusts_the_proxy(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["ingress"]
    (ingress,) = by_kind(manifests, "Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    services = {s["metadata"]["name"]: s for s in by_kind(manifests, "Service")}
    assert backend["port"]["number"] == services[backend["name"]]["spec"]["ports"][0]["port"]
    env = _container_env(manifests, "webhook")
    assert env["WEBHOOK_TRUSTED_PROXIES"]["value"] == "10.244.0.0/16"


def test_the_ingress_routes_only_the_public_paths(rendered: dict[str, list[Manifest]]) -> None:
    """/metrics, /health and /ready must not be reachable from the internet."""
    (ingress,) = by_kind(rendered["ingress"], "Ingress")
    routed = [(p["path"], p["pathType"]) for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]

    def reaches(url: str) -> bool:
        return any(url == path if kind == "Exact" else url.startswith(path) for path, kind in routed)

    for private in ("/metrics", "/health", "/ready"):
        assert not reaches(private), private
    for public in ("/webhook/yookassa", "/pay/return/abcdefghijklmnop", "/api/orders/abcdefghijklmnop"):
        assert reaches(public), public


def test_load_balancer_keeps_the_client_source_address(rendered: dict[str, list[Manifest]]) -> None:
    (service,) = [
        s for s in by_kind(rendered["loadbalancer"], "Service") if s["metadata"]["name"].endswith("webhook")
    ]
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["externalTrafficPolicy"] == "Local"


def test_helm_test_hook_checks_the_webhook_health(rendered: dict[str, list[Manifest]]) -> None:
    (pod,) = by_kind(rendered["webhook"], "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = pod["spec"]["containers"][0]["command"][-1]
    assert "http://booking-booking-saas-webhook:80/health" in script


def test_sales_bot_runs_one_poller(rendered: dict[str, list[Manifest]]) -> None:
    (deployment,) = [
        d for d in by_kind(rendered["webhook"], "Deployment") if d["metadata"]["name"].endswith("salesbot")
    ]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == ["salesbot"]


def test_long_release_names_stay_within_the_dns_label_limit(helm: Helm) -> None:
    result = helm.run(
        "template",
        "r" * 53,
        str(CHART),
        "--set",
        "pgbouncer.enabled=true",
    )
    assert result.returncode == 0, result.stderr
    for manifest in yaml.safe_load_all(result.stdout):
        if manifest:
            assert len(manifest["metadata"]["name"]) <= 63, manifest["metadata"]["name"]


def _container_env(manifests: list[Manifest], component: str) -> dict[str, Manifest]:
    (deployment,) = [d for d in by_kind(manifests, "Deployment") if d["metadata"]["name"].endswith(component)]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def _operator_env(manifests: list[Manifest]) -> dict[str, Manifest]:
    return _container_env(manifests, "operator")


def test_every_variable_the_chart_gives_the_webhook_is_one_it_reads(
    rendered: dict[str, list[Manifest]],
) -> None:
    """A misspelt name would be ignored silently (the settings ignore unknown variables)."""
    import re

    from pydantic import AliasChoices

    from booking_webhook.core.config import Settings

    read: set[str] = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, str):
            read.add(alias)
        elif isinstance(alias, AliasChoices):
            read.update(str(choice) for choice in alias.choices)
    for component in ("webhook", "salesbot"):
        env = _container_env(rendered["webhook"], component)
        referenced = {
            name for e in env.values() for name in re.findall(r"\$\((\w+)\)", str(e.get("value", "")))
        }
        assert set(env) - read - referenced == set(), component
