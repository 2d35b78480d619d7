"""`make up` (hack/up.sh) against stand-in docker/kind/kubectl/helm commands that record their calls.

No Docker engine runs here, so the real thing runs only on a user's machine; these tests pin down
what the script asks of those tools: create the cluster only if absent, build and load the three
images under content-derived tags (as archives, so podman works too), upgrade-or-install the
chart, apply the sample tenant once and after its token Secret, and print how to watch it.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT

STUBS = {
    "docker": """
case "$1" in
  info) [ -e "$STATE/no-engine" ] && exit 1; exit 0 ;;
  build|save) echo "$(basename "$0") $*" >> "$STATE/calls" ;;
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
  *"apply -f -"*)
    if grep -q "kind: BookingTenant"; then
      touch "$STATE/tenant"; echo "applied BookingTenant" >> "$STATE/calls"
    fi ;;
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
    for name, body in {**STUBS, "podman": STUBS["docker"]}.items():
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
    builds = [c for c in calls if c.startswith("docker build")]
    assert [re.sub(r" -t docker.io/library/(\S+):dev-[0-9a-f]{12} ", r" \1 ", c) for c in builds] == [
        "docker build -q -f operator/Dockerfile booking-operator .",
        "docker build -q -f bot_image/Dockerfile booking-bot .",
        "docker build -q -f webhook_image/Dockerfile booking-webhook .",
    ]
    loads = [c for c in calls if c.startswith("kind load image-archive --name booking-saas")]
    assert len(loads) == 3
    (install,) = [c for c in calls if c.startswith("helm upgrade --install booking charts/booking-saas")]
    assert _tags(calls) == {
        key: _built_tag(builds, image)
        for key, image in (
            ("operator", "booking-operator"),
            ("bot", "booking-bot"),
            ("webhook", "booking-webhook"),
        )
    }
    assert "--set imageRegistry= " in install  # the chart then deploys exactly the names kind loaded
    assert "--set webhook.enabled=false" in install
    assert any("apply -f crds/tenant.yaml" in c for c in calls)
    assert "kubectl --context kind-booking-saas -n default get bt -w" in result.stdout


def _tags(calls: list[str]) -> dict[str, str]:
    (install,) = [c for c in calls if c.startswith("helm upgrade --install")]
    return dict(re.findall(r"--set (operator|bot|webhook)\.image\.tag=(\S+)", install))


def _built_tag(builds: list[str], image: str) -> str:
    (build,) = [b for b in builds if f"/{image}:" in b]
    return build.split(f"/{image}:")[1].split()[0]


@pytest.fixture()
def bot_source_changed() -> Iterator[None]:
    """An extra (untracked) file in the bot's build context, removed afterwards."""
    probe = ROOT / "bot_image" / "booking_bot" / "_up_script_probe.py"
    probe.write_text("# changes the bot image's build context\n")
    try:
        yield
    finally:
        probe.unlink()


def test_a_rerun_after_a_source_change_rolls_only_the_changed_image(
    tools: dict[str, str], request: pytest.FixtureRequest
) -> None:
    """Defect 6: with a fixed `:dev` tag helm renders identical manifests and nothing rolls."""
    _, first = up(tools)
    _, unchanged = up(tools)
    assert _tags(unchanged) == _tags(first)
    request.getfixturevalue("bot_source_changed")
    _, changed = up(tools)
    assert _tags(changed)["bot"] != _tags(first)["bot"]
    assert _tags(changed)["operator"] == _tags(first)["operator"]


def test_podman_images_reach_kind_as_archives(tools: dict[str, str]) -> None:
    """Defect 6: `kind load docker-image` needs a Docker engine; an archive from podman does not."""
    result, calls = up(tools, DOCKER="podman")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not any(c.startswith("kind load docker-image") for c in calls)
    saves = [c for c in calls if c.startswith("podman save -o")]
    loads = [c for c in calls if c.startswith("kind load image-archive")]
    assert len(saves) == len(loads) == 3
    assert [s.split()[3] for s in saves] == [ld.split()[-1] for ld in loads]


def test_the_token_secret_is_applied_before_the_sample_tenant(tools: dict[str, str]) -> None:
    """Defect 6: a tenant applied before its token Secret sits Failed until a resync."""
    result, calls = up(tools, BOT_TOKEN="123:abc")
    assert result.returncode == 0, result.stdout + result.stderr
    secret = next(i for i, c in enumerate(calls) if "create secret generic client-001-bot-token" in c)
    tenant = next(
        i for i, c in enumerate(calls) if c == "applied BookingTenant" or "apply -f crds/tenant.yaml" in c
    )
    assert secret < tenant
    assert not any("apply -f crds/tenant.yaml" in c for c in calls)  # its placeholder would win


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
