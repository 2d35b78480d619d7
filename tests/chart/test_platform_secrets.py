"""The platform's passwords survive `helm template` and GitOps: the chart renders none, a hook
Job (booking_operator.platform_secrets, run here for real against the emulated API) creates
them once and never changes a value."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.kube import EmulatedCluster, KubeClient

from .conftest import NAMESPACE, Helm, Manifest, by_kind, containers


def _job(manifests: list[Manifest]) -> Manifest:
    (job,) = [j for j in by_kind(manifests, "Job") if j["metadata"]["name"].endswith("platform-secrets")]
    return job


def test_helm_template_renders_no_password_so_two_renders_are_identical(helm: Helm) -> None:
    first, second = helm.template({}), helm.template({})
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout, "a render carries generated values: every GitOps sync changes them"
    assert not by_kind(helm.render({}), "Secret")


def test_the_job_runs_before_the_release_on_install_and_upgrade(helm: Helm) -> None:
    annotations = _job(helm.render({}))["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}


def test_every_secret_key_the_platform_reads_is_one_the_job_writes(helm: Helm) -> None:
    manifests = helm.render({"pgbouncer": {"enabled": True}})
    generated: dict[str, set[str]] = {}
    for arg in _job(manifests)["spec"]["template"]["spec"]["containers"][0]["command"][5:]:
        name, _, keys = arg.partition("=")
        generated[name] = set(keys.split(","))
    read = {
        (env["valueFrom"]["secretKeyRef"]["name"], env["valueFrom"]["secretKeyRef"]["key"])
        for m in manifests
        for _, container, _ in containers(m)
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    platform = {(name, key) for name, key in read if name in generated}
    assert platform, read
    assert all(key in generated[name] for name, key in platform), (platform, generated)


def _run_job(command: list[str], kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = str(kubeconfig)
    return subprocess.run(
        [sys.executable, *command[1:]], env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def _secret(url: str, name: str) -> dict[str, str]:
    async with KubeClient(url) as kube:
        secret = await kube.get("v1/secrets", NAMESPACE, name)
    return {k: base64.b64decode(v).decode() for k, v in (secret or {}).get("data", {}).items()}


def test_the_job_generates_each_password_once_and_never_changes_one(helm: Helm, tmp_path: Path) -> None:
    command = _job(helm.render({}))["spec"]["template"]["spec"]["containers"][0]["command"]
    names = [arg.partition("=")[0] for arg in command[5:]]
    with EmulatedCluster() as cluster:
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        first = _run_job(command, kubeconfig)
        assert first.returncode == 0, first.stderr
        before = {name: asyncio.run(_secret(cluster.url, name)) for name in names}
        assert all(len(v) >= 32 for values in before.values() for v in values.values()), before
        assert "operator-password" in before[names[0]] and "redis-password" in before[names[1]]
        second = _run_job(command, kubeconfig)
        assert second.returncode == 0, second.stderr
        assert {name: asyncio.run(_secret(cluster.url, name)) for name in names} == before
        for values in before.values():  # the Job's log names keys, never values
            assert not any(v in first.stdout + second.stdout for v in values.values())


def test_the_job_adds_only_the_keys_a_secret_lacks(helm: Helm, tmp_path: Path) -> None:
    command = _job(helm.render({}))["spec"]["template"]["spec"]["containers"][0]["command"]
    pg = command[5].partition("=")[0]
    with EmulatedCluster() as cluster:
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        existing: dict[str, Any] = {"postgres-password": base64.b64encode(b"kept-by-the-admin").decode()}

        async def create() -> None:
            async with KubeClient(cluster.url) as kube:
                await kube.create("v1/secrets", NAMESPACE, {"metadata": {"name": pg}, "data": existing})

        asyncio.run(create())
        result = _run_job(command, kubeconfig)
        assert result.returncode == 0, result.stderr
        values = asyncio.run(_secret(cluster.url, pg))
        assert values["postgres-password"] == "kept-by-the-admin"
        assert set(values) == {
            "postgres-password",
            "operator-password",
            "webhook-password",
            "pgbouncer-password",
        }
