""".env -> Kubernetes: a Secret holding the token and a valid BookingTenant per legacy client."""

from __future__ import annotations

import asyncio
import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from booking_contract.dotenv import parse_env
from booking_legacy.manifests import generate, manifests, to_yaml
from harness.crd_schema import validate
from harness.kube import EmulatedCluster, KubeClient
from legacy.conftest import PACKAGES
from legacy.legacy_tree import CORRUPT, INVALID_NAME, bot_token, build_tree

ROOT = Path(__file__).resolve().parents[2]


def test_every_generated_bookingtenant_passes_the_crds_schema(tmp_path: Path) -> None:
    tree = build_tree(tmp_path / "clients", "mf")
    result = generate(tree.root, namespace="tenants")
    tenants = [o for g in result.generated for o in g.objects if o["kind"] == "BookingTenant"]
    assert len(tenants) == 16
    for tenant in tenants:
        assert validate(tenant) == [], tenant["metadata"]["name"]


def test_client_id_is_the_directory_name_and_the_secret_holds_the_token(tmp_path: Path) -> None:
    tree = build_tree(tmp_path / "clients", "mf")
    item = next(g for g in generate(tree.root, namespace="tenants").generated if g.client_id == "mf_003")
    secret, tenant = item.objects
    assert tenant["spec"]["clientId"] == "mf_003"
    assert tenant["metadata"] == {
        "name": "mf-003",
        "namespace": "tenants",
        "labels": {"bookingsaas.dev/client-id": "mf_003", "app.kubernetes.io/part-of": "booking-saas"},
        "annotations": {"bookingsaas.dev/migrated-from": "legacy clients/mf_003"},
    }
    assert tenant["spec"]["botTokenSecretRef"] == {"name": secret["metadata"]["name"], "key": "token"}
    assert secret["stringData"] == {"token": bot_token(3)}
    assert (tenant["spec"]["companyName"], tenant["spec"]["ownerTelegramId"]) == ("Salon #3", 3_000_001)


def test_the_token_never_appears_in_the_custom_resource(tmp_path: Path) -> None:
    tree = build_tree(tmp_path / "clients", "mf")
    for item in generate(tree.root, namespace="tenants").generated:
        tenant = next(o for o in item.objects if o["kind"] == "BookingTenant")
        secret_part = bot_token(int(item.client_id[-3:])).split(":", 1)[1]
        assert secret_part not in to_yaml([tenant])


def test_tenants_are_suspended_until_the_data_is_in(tmp_path: Path) -> None:
    tree = build_tree(tmp_path / "clients", "mf")
    suspended = generate(tree.root, namespace="tenants").generated[0].objects[1]
    active = generate(tree.root, namespace="tenants", suspended=False).generated[0].objects[1]
    assert (suspended["spec"]["suspended"], active["spec"]["suspended"]) == (True, False)


def test_invalid_directory_is_reported_and_skipped_while_the_rest_proceed(tmp_path: Path) -> None:
    tree = build_tree(tmp_path / "clients", "mf")
    (tree.root / "pg_shadow").mkdir()
    (tree.root / "pg_shadow" / ".env").write_text(f"BOT_TOKEN={bot_token(18)}\n")
    result = generate(tree.root, namespace="tenants")
    assert {name for name, _ in result.skipped} == {INVALID_NAME, "pg_shadow"}
    assert len(result.generated) == 16  # the corrupt SQLite client still gets its tenant
    assert f"mf_{CORRUPT:03d}" in [g.client_id for g in result.generated]


def test_missing_or_malformed_token_skips_the_client_without_printing_it() -> None:
    for env in ({}, {"BOT_TOKEN": "not-a-token-secret-value"}):
        try:
            manifests("client_009", env, namespace="t", suspended=True)
        except Exception as exc:
            assert "not-a-token-secret-value" not in str(exc)
            assert "BOT_TOKEN" in str(exc)
        else:
            raise AssertionError("expected a skip")


def test_env_files_are_read_like_docker_compose_reads_them() -> None:
    env = parse_env("# c\nexport BOT_TOKEN='1:x'\nCOMPANY_NAME=\"A # B\"\nREDIS_DB=3 # legacy\n\nBROKEN\n")
    assert env == {"BOT_TOKEN": "1:x", "COMPANY_NAME": "A # B", "REDIS_DB": "3"}


def test_command_writes_private_files_reports_on_stderr_and_exits_1_for_a_skipped_directory(
    tmp_path: Path,
) -> None:
    tree = build_tree(tmp_path / "clients", "mf")
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "booking_legacy",
            "manifests",
            str(tree.root),
            "--namespace",
            "t",
            "--output-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": PACKAGES},
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert f"Skipped {INVALID_NAME}: clientId" in proc.stderr
    assert "16 of 17 clients done, 1 skipped or failed" in proc.stderr
    assert bot_token(1).split(":")[1] not in proc.stderr + proc.stdout
    files = sorted(out.iterdir())
    assert len(files) == 16
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    docs = list(yaml.safe_load_all(files[0].read_text()))
    assert [d["kind"] for d in docs] == ["Secret", "BookingTenant"]
    assert validate(docs[1]) == []


async def test_apply_creates_secret_and_tenant_through_the_operators_client_and_reapplies(
    tmp_path: Path, kube_cluster: EmulatedCluster, kube: KubeClient
) -> None:
    tree = build_tree(tmp_path / "clients", "ap")
    kubeconfig = kube_cluster.write_kubeconfig(tmp_path / "kubeconfig")
    args = [
        sys.executable,
        "-m",
        "booking_legacy",
        "manifests",
        str(tree.root),
        "--namespace",
        "legacy-apply",
    ]
    args += ["--client", "ap_001", "--client", "ap_002", "--apply"]
    env = {**os.environ, "PYTHONPATH": PACKAGES, "KUBECONFIG": str(kubeconfig)}
    for _ in range(2):  # the second run finds both objects and merge-patches them
        proc = await asyncio.to_thread(
            subprocess.run, args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == ""
    tenant = await kube.get("bookingsaas.dev/v1alpha1/bookingtenants", "legacy-apply", "ap-002")
    secret = await kube.get("v1/secrets", "legacy-apply", "ap-002-bot-token")
    assert tenant["spec"]["clientId"] == "ap_002" and validate(tenant) == []
    token = secret.get("stringData", {}).get("token") or base64.b64decode(secret["data"]["token"]).decode()
    assert token == bot_token(2)
    for name in ("ap-001", "ap-002"):
        await kube.delete("bookingsaas.dev/v1alpha1/bookingtenants", "legacy-apply", name)
        await kube.delete("v1/secrets", "legacy-apply", f"{name}-bot-token")
