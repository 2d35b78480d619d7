"""The Deployment step: one bot while paid and not suspended, none otherwise, restarted onto new
credentials or a new token (reconcile.write_deployment)."""

from __future__ import annotations

import base64
from typing import Any

from booking_operator import manifests, reconcile
from booking_operator.platform import Platform
from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from operator_tests.reconcile.observe import (
    LOG,
    Pass,
    condition,
    deployment,
    mark_available,
    operator_requests,
    served,
)


async def test_a_paid_tenant_runs_one_bot(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    await run_pass(await tenant())
    assert (await deployment(api, namespace))["spec"]["replicas"] == 1


async def test_the_children_are_owned_by_the_tenant(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    for child in (
        await api.get("v1/secrets", namespace, "salon-credentials"),
        await deployment(api, namespace),
    ):
        assert child is not None
        owners = child["metadata"]["ownerReferences"]
        assert [(o["kind"], o["uid"]) for o in owners] == [("BookingTenant", body["metadata"]["uid"])]


async def test_a_suspended_tenant_keeps_its_data_and_runs_no_bot(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    outcome = await run_pass(await tenant(suspended=True))
    assert outcome.status["phase"] == "Suspended"
    assert outcome.status["message"] == "suspended by spec.suspended; data kept"
    assert (condition(outcome, "Deployment")["status"], condition(outcome, "Deployment")["reason"]) == (
        "False",
        "Suspended",
    )
    assert condition(outcome, "Deployment")["message"] == "scaled to zero: spec.suspended is true"
    assert (await deployment(api, namespace))["spec"]["replicas"] == 0


async def test_an_unpaid_tenant_is_expired_and_runs_no_bot(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    outcome = await run_pass(await tenant(paidUntil="2020-01-01T00:00:00Z"))
    assert outcome.status["phase"] == "Expired"
    assert outcome.status["message"] == "paid period ended at 2020-01-01T00:00:00Z; data kept"
    assert (condition(outcome, "Deployment")["status"], condition(outcome, "Deployment")["reason"]) == (
        "False",
        "Expired",
    )
    assert condition(outcome, "Deployment")["message"] == "scaled to zero: paid until 2020-01-01T00:00:00Z"
    assert (await deployment(api, namespace))["spec"]["replicas"] == 0


async def test_a_scaled_down_bot_is_scaled_up_again(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    await api.patch("apps/v1/deployments", namespace, "salon-bot", {"spec": {"replicas": 0}})
    await run_pass(body)
    assert (await deployment(api, namespace))["spec"]["replicas"] == 1


async def test_a_new_token_restarts_the_bot(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    template = (await deployment(api, namespace))["spec"]["template"]["metadata"]["annotations"]
    new_token = base64.b64encode(b"424242:ANOTHER-token").decode()
    await api.patch("v1/secrets", namespace, "bot-token", {"data": {"token": new_token}})
    await run_pass(body)
    after = (await deployment(api, namespace))["spec"]["template"]["metadata"]["annotations"]
    assert after[manifests.CONFIG_HASH_ANNOTATION] != template[manifests.CONFIG_HASH_ANNOTATION]


async def test_a_deployment_of_that_name_not_ours_is_left_alone(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    await api.create(
        "apps/v1/deployments",
        namespace,
        {
            "metadata": {"name": "salon-bot", "labels": {"app": "other"}},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "other"}},
                "template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": []}},
            },
        },
    )
    outcome = await run_pass(await tenant())
    assert condition(outcome, "Deployment")["reason"] == "NameTaken"
    assert (
        outcome.status["message"]
        == "Deployment 'salon-bot' exists and is not booking-operator's: not touched"
    )
    assert (await deployment(api, namespace))["spec"]["replicas"] == 3


async def test_a_new_tenants_first_pass_creates_its_deployment_without_reading_it(
    tenant: Any, run_pass: Pass, cluster: EmulatedCluster
) -> None:
    """A thousand new tenants cost one request each for their Deployment, not a GET and a POST."""
    body = await tenant()
    since = served(cluster)
    await run_pass(body)
    assert operator_requests(cluster, since, "apps/v1/deployments") == ["POST"]


async def test_a_known_tenant_without_its_secret_reads_its_deployment_instead_of_creating_it(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, cluster: EmulatedCluster
) -> None:
    body = await tenant()
    await run_pass(body)
    await api.delete("v1/secrets", namespace, "salon-credentials")
    since = served(cluster)
    await run_pass(body)
    assert operator_requests(cluster, since, "apps/v1/deployments") == ["GET", "PATCH"]


async def test_a_pass_given_the_deployment_a_watch_delivered_does_not_read_it_again(
    tenant: Any, platform: Platform, api: KubeClient, namespace: str, cluster: EmulatedCluster, run_pass: Pass
) -> None:
    body = await tenant()
    await run_pass(body)
    await mark_available(api, namespace)
    delivered = await deployment(api, namespace)
    current = await api.get(BOOKINGTENANTS, namespace, "salon")
    since = served(cluster)
    outcome = await reconcile.reconcile(platform, current, LOG, live_deployment=delivered)
    assert operator_requests(cluster, since, "apps/v1/deployments") == []
    assert outcome.status["phase"] == "Ready"  # its availability is the delivered one's


async def test_the_pass_remembers_the_deployment_it_wants_to_tell_hand_edits_apart(
    tenant: Any, run_pass: Pass, platform: Platform, api: KubeClient, namespace: str
) -> None:
    """The Deployment watch (handlers.py) compares an event's Deployment with the one wanted."""
    body = await tenant()
    await run_pass(body)
    memory = platform.known(body["metadata"]["uid"])
    live = await deployment(api, namespace)
    assert memory is not None and memory.desired is not None
    assert memory.desired["spec"]["template"] == live["spec"]["template"]
