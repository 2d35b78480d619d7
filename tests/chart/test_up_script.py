"""`make up` (hack/up.sh) against stand-in docker/kind/kubectl/helm commands that record their calls.

No Docker engine runs here, so the real thing runs only on a user's machine; these tests pin down
what the script asks of those tools: create the cluster only if absent, build and load the three
images, upgrade-or-install the chart, apply the sample tenant once, and print how to watch it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT

STUBS = {
    "docker": """
case "$1" in
  info) [ -e "$STATE/no-engine" ] && exit 1; exit 0 ;;
  build) echo "docker $*" >> "$STATE/calls" ;;
esac
""",
    "kind": """
echo "kind $*" >> "$STATE/calls"
case "$1 $2" in
  "get clusters") cat "$STATE/clusters" 2>/dev/null || true ;;
  "create cluster") echo "$4" >> "$STATE/clusters" ;;
esac
""",
    "kubectl": """
echo "kubectl $*" >> "$STATE/calls"
args="$*"
case "$args" in
  *"get namespace"*) [ -e "$STATE/namespace" ] ;;
  *"create namespace"*) touch "$STATE/namespace" ;;
  *"get bookingtenant client-001"*) [ -e "$STATE/tenant" ] ;;
  *"apply -f crds/tenant.yaml"*) touch "$STATE/tenant" ;;
  *"--dry-run=client -o yaml"*) echo "kind: Secret" ;;
  *"apply -f -"*) cat > /dev/null ;;
esac
""",
    "helm": """
echo "helm $*" >> "$STATE/calls"
""",
}


@pytest.fixture()
def tools(tmp_path: Path) -> dict[str, str]:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, body in STUBS.items():
        stub = bin_dir / name
        stub.write_text("#!/usr/bin/env bash\n" + body)
        stub.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOOKASSA_", "SALES_BOT_", "BOT_TOKEN"))}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", STATE=str(state))
    return env


def up(env: dict[str, str], **extra: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    state = Path(env["STATE"])
    (state / "calls").unlink(missing_ok=True)
    result = subprocess.run(
        ["bash", "hack/up.sh"],
        cwd=ROOT,
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    calls = (state / "calls").read_text().splitlines() if (state / "calls").exists() else []
    return result, calls


def test_first_run_creates_the_cluster_builds_loads_installs_and_applies_the_tenant(
    tools: dict[str, str],
) -> None:
    result, calls = up(tools)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kind create cluster --name booking-saas --wait 180s" in calls
    assert [c for c in calls if c.startswith("docker build")] == [
        "docker build -f operator/Dockerfile -t booking-operator:dev .",
        "docker build -f bot_image/Dockerfile -t booking-bot:dev .",
        "docker build -f webhook_image/Dockerfile -t booking-webhook:dev .",
    ]
    loads = [c for c in calls if c.startswith("kind load docker-image")]
    assert len(loads) == 3
    (install,) = [c for c in calls if c.startswith("helm upgrade --install booking charts/booking-saas")]
    assert "--set operator.image.tag=dev" in install and "--set bot.image.tag=dev" in install
    assert "--set imageRegistry= " in install  # the chart then deploys exactly the names kind loaded
    assert "--set webhook.enabled=false" in install
    assert any("apply -f crds/tenant.yaml" in c for c in calls)
    assert "kubectl --context kind-booking-saas -n default get bt -w" in result.stdout


def test_second_run_reuses_the_cluster_and_keeps_the_tenant(tools: dict[str, str]) -> None:
    up(tools)
    result, calls = up(tools)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not any(c.startswith("kind create cluster") for c in calls)
    assert not any("apply -f crds/tenant.yaml" in c for c in calls)
    assert any(c.startswith("helm upgrade --install") for c in calls)
    assert "already applied" in result.stdout


def test_yookassa_credentials_enable_the_webhook_through_a_secret(tools: dict[str, str]) -> None:
    result, calls = up(tools, YOOKASSA_SHOP_ID="123456", YOOKASSA_SECRET_KEY="live_not_a_real_key")
    assert result.returncode == 0, result.stdout + result.stderr
    (install,) = [c for c in calls if c.startswith("helm upgrade --install")]
    assert "--set webhook.enabled=true --set webhook.existingSecret=booking-webhook" in install
    assert "live_not_a_real_key" not in install  # the key reaches the cluster only as a Secret
    assert any(c.startswith("helm test booking") for c in calls)


def test_bot_token_goes_into_the_sample_tenants_secret(tools: dict[str, str]) -> None:
    result, calls = up(tools, BOT_TOKEN="123:abc")
    assert result.returncode == 0, result.stdout + result.stderr
    assert any("create secret generic client-001-bot-token --from-literal=token=123:abc" in c for c in calls)
    assert "placeholder bot token" not in result.stdout


def test_without_a_docker_engine_it_stops_with_one_clear_line(tools: dict[str, str]) -> None:
    (Path(tools["STATE"]) / "no-engine").touch()
    result, calls = up(tools)
    assert result.returncode != 0
    assert "the Docker engine is not running" in result.stderr
    assert not calls
