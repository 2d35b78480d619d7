"""One Kubernetes call refused (as a ClusterRole lacking one verb would): the step that made it
reports it on its condition and the pass is retried later; nothing after it runs.

The API server is the emulator behind `faults.RefusingApiServer`, which answers the one kind of
request with a real 403 Status and serves the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from booking_operator import reconcile
from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from operator_tests.reconcile.faults import Refusal, RefusingApiServer
from operator_tests.reconcile.observe import Pass, PlatformFactory, condition

Refusing = Callable[[Refusal], Awaitable[RefusingApiServer]]
SECRET = r"^/api/v1/namespaces/[^/]+/secrets"
DEPLOYMENTS = r"^/apis/apps/v1/namespaces/[^/]+/deployments"


@pytest.fixture()
async def refusing(cluster: EmulatedCluster) -> AsyncIterator[Refusing]:
    """API servers in front of the cluster, each refusing one kind of request."""
    opened: list[RefusingApiServer] = []

    async def make(refusal: Refusal) -> RefusingApiServer:
        server = await RefusingApiServer(cluster.url, refusal).__aenter__()
        opened.append(server)
        return server

    yield make
    for server in opened:
        await server.__aexit__(None, None, None)


async def refused_pass(
    refusal: Refusal, body: dict[str, Any], run_pass: Pass, refusing: Refusing, factory: PlatformFactory
) -> reconcile.ReconcileOutcome:
    server = await refusing(refusal)
    outcome = await run_pass(body, on=await factory(kube_url=server.url))
    assert server.refused >= 1, f"no {refusal} was sent"
    return outcome


def assert_kubernetes_failure(outcome: reconcile.ReconcileOutcome, condition_type: str, doing: str) -> None:
    failed = condition(outcome, condition_type)
    assert (failed["status"], failed["reason"]) == ("False", "KubernetesError")
    assert failed["message"].startswith("403: ") and failed["message"].endswith("the role lacks this verb")
    assert outcome.status["message"] == f"cannot {doing}: {failed['message']}"
    assert outcome.status["phase"] == "Provisioning"
    assert outcome.retry_after == reconcile.RETRY_KUBERNETES


@pytest.mark.parametrize(
    ("refusal", "condition_type", "doing"),
    [
        (Refusal("GET", SECRET + "/bot-token$"), "BotToken", "read the bot token Secret"),
        (Refusal("GET", SECRET + "/salon-credentials$"), "Secret", "read the tenant Secret"),
        (Refusal("POST", SECRET + "$"), "Secret", "write the tenant Secret"),
        (Refusal("POST", DEPLOYMENTS + "$"), "Deployment", "write the bot Deployment"),
    ],
    ids=["token-secret-read", "tenant-secret-read", "tenant-secret-create", "deployment-create"],
)
async def test_a_new_tenants_refused_call_fails_its_step_and_is_retried(
    tenant: Any,
    run_pass: Pass,
    refusing: Refusing,
    platform_factory: PlatformFactory,
    refusal: Refusal,
    condition_type: str,
    doing: str,
) -> None:
    outcome = await refused_pass(refusal, await tenant(), run_pass, refusing, platform_factory)
    assert_kubernetes_failure(outcome, condition_type, doing)


async def test_a_refused_read_of_a_known_tenants_deployment_fails_the_deployment_step(
    tenant: Any, run_pass: Pass, refusing: Refusing, platform_factory: PlatformFactory
) -> None:
    body = await tenant()
    await run_pass(body)
    outcome = await refused_pass(
        Refusal("GET", DEPLOYMENTS + "/salon-bot$"), body, run_pass, refusing, platform_factory
    )
    assert_kubernetes_failure(outcome, "Deployment", "write the bot Deployment")


async def test_a_refused_patch_of_a_drifted_deployment_fails_the_deployment_step(
    tenant: Any,
    run_pass: Pass,
    refusing: Refusing,
    platform_factory: PlatformFactory,
    api: KubeClient,
    namespace: str,
) -> None:
    body = await tenant()
    await run_pass(body)
    await api.patch("apps/v1/deployments", namespace, "salon-bot", {"spec": {"replicas": 0}})
    outcome = await refused_pass(
        Refusal("PATCH", DEPLOYMENTS + "/salon-bot$"), body, run_pass, refusing, platform_factory
    )
    assert_kubernetes_failure(outcome, "Deployment", "write the bot Deployment")


async def test_a_refused_call_placing_a_shared_tenant_fails_the_shard_step(
    tenant: Any, run_pass: Pass, refusing: Refusing, platform_factory: PlatformFactory
) -> None:
    outcome = await refused_pass(
        Refusal("GET", r"/configmaps/booking-shard-0-status$"),
        await tenant(runtime="Shared"),
        run_pass,
        refusing,
        platform_factory,
    )
    assert_kubernetes_failure(outcome, "Shard", "place the bot on a shard")


async def test_a_refused_call_taking_a_tenant_out_of_its_shard_fails_the_shard_step(
    tenant: Any,
    run_pass: Pass,
    refusing: Refusing,
    platform_factory: PlatformFactory,
    api: KubeClient,
    namespace: str,
) -> None:
    body = await tenant(runtime="Shared")
    await run_pass(body)
    await api.patch(BOOKINGTENANTS, namespace, "salon", {"spec": {"runtime": "Dedicated"}})
    outcome = await refused_pass(
        Refusal("GET", SECRET + "/booking-shard-0-tenants$"), body, run_pass, refusing, platform_factory
    )
    assert_kubernetes_failure(outcome, "Shard", "take the bot out of its shard")
