"""Pod security and secret hygiene of everything the chart renders, in every scenario."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
import yaml

from .conftest import CHART, SCENARIOS, Manifest, by_kind, containers

SECRET_NAME = re.compile(r"PASSWORD|SECRET|_TOKEN$|_KEY$|_AUTH$")


def _secret_values(manifests: list[Manifest]) -> set[str]:
    values: set[str] = set()
    for secret in by_kind(manifests, "Secret"):
        values |= {base64.b64decode(v).decode() for v in (secret.get("data") or {}).values()}
        values |= set((secret.get("stringData") or {}).values())
    return {v for v in values if len(v) >= 8}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_no_secret_value_in_config_maps_or_env_values(
    rendered: dict[str, list[Manifest]], scenario: str
) -> None:
    manifests = rendered[scenario]
    secrets = _secret_values(manifests)
    exposed = [yaml.safe_dump(cm.get("data") or {}) for cm in by_kind(manifests, "ConfigMap")]
    for _, container, _ in (c for m in manifests for c in containers(m)):
        exposed += [str(e.get("value", "")) for e in container.get("env", [])]
        exposed += [" ".join(container.get("command", []) + container.get("args", []))]
    for text in exposed:
        for secret in secrets:
            assert secret not in text, f"a Secret value appears in plain text: {text[:80]}"


def test_default_install_renders_no_password_but_a_job_that_generates_them(
    rendered: dict[str, list[Manifest]],
) -> None:
    assert not by_kind(rendered["default"], "Secret")  # tests/chart/test_platform_secrets.py
    jobs = [j["metadata"]["name"] for j in by_kind(rendered["default"], "Job")]
    assert jobs == ["booking-booking-saas-platform-secrets"]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_secret_env_comes_from_secrets_and_urls_carry_only_references(
    rendered: dict[str, list[Manifest]], scenario: str
) -> None:
    for _, container, _ in (c for m in rendered[scenario] for c in containers(m)):
        for env in container.get("env", []):
            if SECRET_NAME.search(env["name"]):
                assert "secretKeyRef" in env.get("valueFrom", {}), (
                    f"{container['name']}: {env['name']} is not from a Secret"
                )
            value = str(env.get("value", ""))
            credentials = re.search(r"://([^@/]*)@", value)
            if credentials:
                assert re.fullmatch(r"[^:]*:\$\([A-Z_]+\)", credentials.group(1)), f"{env['name']}={value}"


def test_values_defaults_hold_no_secret() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                where = f"{path}.{key}" if path else key
                if re.search(r"(password|secret|secretkey|token)$", key, re.IGNORECASE):
                    assert not value, f"{where} has a default: secrets belong in Secrets"
                walk(value, where)

    walk(values, "")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_container_is_non_root_with_dropped_capabilities_and_resources(
    rendered: dict[str, list[Manifest]], scenario: str
) -> None:
    found = 0
    for manifest in rendered[scenario]:
        for spec, container, pod_context in containers(manifest):
            found += 1
            where = f"{manifest['kind']}/{manifest['metadata']['name']}/{container['name']}"
            context = container.get("securityContext") or {}
            assert context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is True, where
            assert (context.get("runAsUser") or pod_context.get("runAsUser") or 0) > 0, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not context.get("capabilities", {}).get("add"), where
            seccomp = context.get("seccompProfile") or pod_context.get("seccompProfile") or {}
            assert seccomp.get("type") == "RuntimeDefault", where
            resources = container.get("resources") or {}
            for section in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(section) or {}), f"{where}: {section}"
            assert not spec.get("hostNetwork") and not spec.get("hostPID"), where
    assert found


def test_workloads_without_kubernetes_access_get_no_token(rendered: dict[str, list[Manifest]]) -> None:
    for manifest in [
        *by_kind(rendered["network-policies"], "StatefulSet"),
        *by_kind(rendered["network-policies"], "Deployment"),
    ]:
        if manifest["metadata"]["name"].endswith(("postgresql", "redis", "pgbouncer")):
            assert manifest["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
