"""A tenant all the way to a bot that answers, on a real cluster with a fake Telegram.

`make e2e` installs the chart with `operator.telegramApiUrl` at the fake Bot API this session
serves (e2e/telegram.py), so the operator's getMe and the bot's polling both reach it: the
tenant can become Ready for real, and a user's /start gets the bot's greeting back through the
bot pod, its tenant's Redis user and its PostgreSQL role.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from e2e.bots import answers_start, bot_pods, live_token
from e2e.cluster import Kubectl, TenantNames, Tenants, condition, wait_for
from e2e.telegram import ReachableTelegram


@pytest.fixture(scope="module")
def live(tenants: Tenants, telegram: ReachableTelegram) -> tuple[TenantNames, str]:
    token = live_token(telegram)
    names = tenants.create(deletion_policy="Delete", token=token)
    tenants.wait_phase(names, "Ready", timeout=300)
    return names, token


def test_tenant_goes_ready_with_its_bot_pod_running_the_bot_image(
    kubectl: Kubectl, tenants: Tenants, live: tuple[TenantNames, str], platform_ns: str
) -> None:
    names, _ = live
    obj = tenants.get(names)
    assert condition(obj, "BotToken")["status"] == "True", tenants.describe(names)
    assert condition(obj, "Deployment")["status"] == "True", tenants.describe(names)
    assert (obj or {})["status"].get("botUsername")
    operator = kubectl.json(
        "-n", platform_ns, "get", "deployment", "-l", "app.kubernetes.io/component=operator"
    )
    operator_env = {
        e["name"]: e.get("value")
        for e in operator["items"][0]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    running = [p for p in bot_pods(kubectl, tenants, names) if p["status"].get("phase") == "Running"]
    assert len(running) == 1, [p["status"].get("phase") for p in bot_pods(kubectl, tenants, names)]
    (bot,) = [c for c in running[0]["status"]["containerStatuses"] if c["name"] == "bot"]
    assert bot["ready"] is True
    assert bot["image"].endswith(operator_env["BOT_IMAGE"].split("/")[-1])


def test_bot_answers_start_through_the_fake_telegram(
    telegram: ReachableTelegram, live: tuple[TenantNames, str]
) -> None:
    _, token = live
    assert "E2E Test Salon" in answers_start(telegram, token, timeout=30)


def test_first_bot_start_of_a_new_tenant_needs_no_restart(
    kubectl: Kubectl, tenants: Tenants, live: tuple[TenantNames, str]
) -> None:
    """Defect 1: the chart's PostgreSQL revokes CONNECT from PUBLIC, so a role created without
    its CONNECT grant in the same pass fails the first `migrate` with `permission denied for
    database` and the pod only recovers after CrashLoopBackOff and a later resync."""
    names, _ = live
    (pod,) = [p for p in bot_pods(kubectl, tenants, names) if p["status"].get("phase") == "Running"]
    restarts = {
        s["name"]: s.get("restartCount", 0)
        for s in pod["status"].get("initContainerStatuses", []) + pod["status"]["containerStatuses"]
    }
    assert restarts == {"migrate": 0, "bot": 0}, kubectl.logs(
        tenants.namespace, pod["metadata"]["name"], "-c", "migrate", "--previous"
    )


def test_ready_tenant_deployment_is_left_alone(
    kubectl: Kubectl, tenants: Tenants, live: tuple[TenantNames, str]
) -> None:
    """Defect 2: what a real API server stores differs from what was written (`value: ""`
    dropped, quantities normalised); the operator must not take that for a hand edit.

    A harmless annotation makes the Deployment emit an event the operator looks at; a correct
    operator sees no drift. The window is bounded: the operator reacts to a Deployment event
    within a second or two, a wrong one with a `DeploymentRestored` event and a PATCH.
    """
    names, _ = live
    deployment = f"{names.name}-bot"
    before = kubectl.json("-n", tenants.namespace, "get", "deployment", deployment)
    kubectl("-n", tenants.namespace, "annotate", "deployment", deployment, f"e2e/poke={secrets.token_hex(4)}")

    def restored_events() -> list[dict[str, Any]]:
        events = kubectl.json(
            "-n",
            tenants.namespace,
            "get",
            "events",
            "--field-selector",
            f"involvedObject.name={names.name},reason=DeploymentRestored",
        )["items"]
        return list(events)

    with pytest.raises(AssertionError, match="timed out"):
        wait_for("a DeploymentRestored event (there must be none)", restored_events, timeout=20, interval=1)
    after = kubectl.json("-n", tenants.namespace, "get", "deployment", deployment)
    # (not `generation`: a Deployment's counts annotation changes too)
    assert after["spec"] == before["spec"]
