"""A whole pass: the phase and message it settles on, its conditions and events, and a pass
that has nothing to do writing nothing (reconcile.reconcile, Pass.finish, settled)."""

from __future__ import annotations

from typing import Any

import port_for
import pytest

from booking_operator import reconcile
from harness.kube import BOOKINGTENANTS, KubeClient
from harness.operator_process import create_token_secret, tenant_body
from operator_tests.reconcile.observe import (
    Pass,
    PlatformFactory,
    condition,
    deployment,
    mark_available,
)


async def test_a_new_tenant_waits_for_its_bot_pod(tenant: Any, run_pass: Pass) -> None:
    outcome = await run_pass(await tenant())
    assert outcome.status["phase"] == "Provisioning"
    assert outcome.status["message"] == "waiting for the bot pod to become available"
    starting = condition(outcome, "Deployment")
    assert (starting["status"], starting["reason"]) == ("False", "Starting")
    assert condition(outcome, "Ready")["status"] == "False"


async def test_the_first_pass_reports_each_child(tenant: Any, run_pass: Pass, client_id: str) -> None:
    outcome = await run_pass(await tenant())
    children = ("References", "Database", "Redis", "Secret")
    assert {t: (condition(outcome, t)["status"], condition(outcome, t)["reason"]) for t in children} == {
        "References": ("True", "Allowed"),
        "Database": ("True", "Provisioned"),
        "Redis": ("True", "AclUser"),
        "Secret": ("True", "Written"),
    }
    assert {t: condition(outcome, t)["message"] for t in children} == {
        "References": "bot image and token Secret allowed",
        "Database": f"schema and role {client_id!r}",
        "Redis": f"keys {client_id}:* only",
        "Secret": "salon-credentials",
    }


async def test_the_status_names_the_tenants_children(tenant: Any, run_pass: Pass, client_id: str) -> None:
    outcome = await run_pass(await tenant(paidUntil="2099-02-03T04:05:06Z"))
    status = outcome.status
    assert status["secretName"] == "salon-credentials"
    assert status["deploymentName"] == "salon-bot"
    assert status["schema"] == status["databaseRole"] == client_id
    assert status["paidUntil"] == "2099-02-03T04:05:06Z"
    assert status["observedGeneration"] == 1
    assert status["runtime"] == "Dedicated"


async def test_a_tenant_whose_bot_is_available_is_ready(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    await mark_available(api, namespace)
    outcome = await run_pass(body)
    assert outcome.status["phase"] == "Ready"
    assert outcome.status["message"] == "the bot is running"
    assert condition(outcome, "Deployment")["status"] == "True"
    assert condition(outcome, "Deployment")["message"] == "the bot is running"
    assert condition(outcome, "Ready")["status"] == "True"
    assert outcome.retry_after is None


async def test_the_ready_condition_says_what_the_phase_says(tenant: Any, run_pass: Pass) -> None:
    outcome = await run_pass(await tenant(suspended=True))
    ready = condition(outcome, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "Suspended",
        "suspended by spec.suspended; data kept",
    )


async def test_a_failed_tenant_is_a_warning_event(tenant: Any, run_pass: Pass) -> None:
    outcome = await run_pass(await tenant(bot={"image": "evil.example/miner:1"}))
    assert [(kind, reason) for kind, reason, _ in outcome.events] == [("Warning", "Failed")]


async def test_a_condition_that_does_not_change_keeps_its_transition_time(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    first = await run_pass(body)
    await api.patch(
        BOOKINGTENANTS,
        namespace,
        "salon",
        {
            "status": {
                "conditions": [
                    dict(c, lastTransitionTime="2001-01-01T00:00:00Z") for c in first.status["conditions"]
                ]
            }
        },
        sub="status",
    )
    again = await run_pass(body)
    assert condition(again, "Database")["lastTransitionTime"] == "2001-01-01T00:00:00Z"


async def test_a_phase_change_is_an_event_and_a_repeat_is_not(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    first = await run_pass(body)
    assert ("Normal", "Provisioning", "waiting for the bot pod to become available") in first.events
    again = await run_pass(body)
    assert again.events == []


async def test_a_settled_tenant_writes_nothing(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    await mark_available(api, namespace)
    await run_pass(body)
    before = [
        (await api.get("v1/secrets", namespace, "salon-credentials"))["metadata"]["resourceVersion"],
        (await deployment(api, namespace))["metadata"]["resourceVersion"],
    ]
    outcome = await run_pass(body)
    after = [
        (await api.get("v1/secrets", namespace, "salon-credentials"))["metadata"]["resourceVersion"],
        (await deployment(api, namespace))["metadata"]["resourceVersion"],
    ]
    assert after == before
    assert outcome.events == []


async def test_an_invalid_client_id_fails_the_tenant_before_anything_is_made(
    api: KubeClient, namespace: str, run_pass: Pass
) -> None:
    await create_token_secret(api, namespace)
    body = await api.create(BOOKINGTENANTS, namespace, tenant_body("bad", "Not-Valid!"))
    outcome = await run_pass(body)
    assert outcome.status["phase"] == "Failed"
    assert outcome.status["message"].startswith("invalid spec: ")
    assert await api.get("v1/secrets", namespace, "bad-credentials") is None


async def test_a_spec_without_a_token_secret_ref_fails_the_tenant(
    api: KubeClient, namespace: str, run_pass: Pass, client_id: str
) -> None:
    manifest = tenant_body("noref", client_id)
    del manifest["spec"]["botTokenSecretRef"]
    body = await api.create(BOOKINGTENANTS, namespace, manifest)
    outcome = await run_pass(body)
    assert outcome.status["phase"] == "Failed"
    assert outcome.status["message"] == "invalid spec: 'botTokenSecretRef'"


@pytest.mark.parametrize("kubeconfig", [False, True], ids=["in-cluster", "kubeconfig"])
async def test_the_api_server_unreachable_is_retried_later(
    tenant: Any, run_pass: Pass, platform_factory: PlatformFactory, kubeconfig: bool
) -> None:
    down = await platform_factory(
        kubeconfig=kubeconfig, kube_url=f"http://127.0.0.1:{port_for.select_random()}"
    )
    outcome = await run_pass(await tenant(), on=down)
    assert outcome.retry_after == reconcile.RETRY_KUBERNETES
    assert condition(outcome, "BotToken")["reason"] == "KubernetesError"


async def test_a_pass_through_a_kubeconfig_provisions_the_tenant(
    tenant: Any, run_pass: Pass, platform_factory: PlatformFactory, api: KubeClient, namespace: str
) -> None:
    """The operator outside a pod (kubernetes_asyncio's client): the same pass, the same children."""
    outside = await platform_factory(kubeconfig=True)
    outcome = await run_pass(await tenant(), on=outside)
    assert outcome.status["phase"] == "Provisioning"
    assert condition(outcome, "Secret")["status"] == "True"
    assert (await deployment(api, namespace))["spec"]["replicas"] == 1


async def test_the_status_observes_the_generation_of_the_spec_it_acted_on(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    await api.patch(BOOKINGTENANTS, namespace, "salon", {"spec": {"suspended": True}})
    outcome = await run_pass(body)
    assert outcome.status["observedGeneration"] == 2
    assert condition(outcome, "Ready")["observedGeneration"] == 2
