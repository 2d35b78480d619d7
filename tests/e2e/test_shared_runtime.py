"""The Shared runtime on the real tier: the chart's operator runs shard pods of the bot image.

`make e2e` installs the chart with `operator.shardCapacity=2`, so this module's three Shared
tenants fill `booking-shard-0` and start `booking-shard-1`. The module's namespace enforces Pod
Security `restricted` (the shard pods and the dedicated bot pod are admitted under it), and the
fake Telegram records every overlapping `getUpdates` (two pollers of one token) and the address
of every call, which tells the shard pod's answers from the dedicated pod's. The shard's RBAC is
checked as its ServiceAccount, with a token the API server issued for it, through the platform's
own client over the transport a shard pod uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from booking_contract.kube import CONFIGMAPS, SECRETS, HttpTransport, KubeClient, KubeForbidden
from booking_contract.times import parse_time
from e2e.bots import answers_start, bot_pods, live_token
from e2e.cluster import TENANT, Kubectl, Psql, Tenants, condition, literal, wait_for
from e2e.shards import Live, Owner, pollers, report, running_pod, shard_pods, wait_runtime
from e2e.telegram import ReachableTelegram

FIRST, SECOND = "booking-shard-0", "booking-shard-1"
Pod = dict[str, Any]


@pytest.fixture(scope="module")
def restricted(kubectl: Kubectl, namespace: str) -> str:
    """The module's namespace admits only pods that pass Pod Security `restricted`."""
    kubectl(
        "label",
        "namespace",
        namespace,
        "--overwrite",
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
    )
    return namespace


def _shared_tenant(tenants: Tenants, telegram: ReachableTelegram) -> Live:
    token = live_token(telegram)
    names = tenants.create(deletion_policy="Delete", token=token, runtime="Shared")
    tenants.wait_phase(names, "Ready", timeout=300)
    return Live(names, token)


def _shard_pod(kubectl: Kubectl, namespace: str, shard: str) -> Pod:
    return wait_for(
        f"one running pod of {shard}",
        lambda: running_pod(shard_pods(kubectl, namespace, shard)),
        timeout=120,
        describe=lambda: str([p["status"].get("phase") for p in shard_pods(kubectl, namespace, shard)]),
    )


@pytest.fixture(scope="module")
def first(restricted: str, tenants: Tenants, telegram: ReachableTelegram) -> Live:
    return _shared_tenant(tenants, telegram)


@dataclass(frozen=True)
class Added:
    """The second tenant, added to the running shard, and the shard pod as it was before."""

    live: Live
    pod_before: Pod
    to_ready: float
    to_answer: float


@pytest.fixture(scope="module")
def second(kubectl: Kubectl, tenants: Tenants, telegram: ReachableTelegram, first: Live) -> Added:
    before = _shard_pod(kubectl, tenants.namespace, FIRST)
    started = time.monotonic()
    live = _shared_tenant(tenants, telegram)
    ready = time.monotonic()
    assert "E2E Test Salon" in answers_start(telegram, live.token, timeout=30)
    return Added(live, before, ready - started, time.monotonic() - started)


@pytest.fixture(scope="module")
def third(tenants: Tenants, telegram: ReachableTelegram, second: Added) -> Live:
    """Capacity 2 is full with the first two: the third starts booking-shard-1."""
    return _shared_tenant(tenants, telegram)


def test_a_shared_tenant_is_ready_only_once_its_shard_pod_serves_it(
    kubectl: Kubectl, tenants: Tenants, first: Live, platform_ns: str
) -> None:
    obj = tenants.get(first.names)
    status = (obj or {})["status"]
    assert status["runtime"] == "Shared" and status["shard"] == FIRST, tenants.describe(first.names)
    assert condition(obj, "Shard")["status"] == "True"
    assert status.get("botUsername")
    # Its dedicated Deployment stays, scaled to zero: no bot pod of its own.
    deployment = kubectl.get("deployment", f"{first.names.name}-bot", tenants.namespace)
    assert deployment is not None and deployment["spec"]["replicas"] == 0
    assert bot_pods(kubectl, tenants, first.names) == []
    pod = _shard_pod(kubectl, tenants.namespace, FIRST)
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["python", "-m", "booking_bot.shard"]
    operator = kubectl.json(
        "-n", platform_ns, "get", "deployment", "-l", "app.kubernetes.io/component=operator"
    )
    operator_env = operator["items"][0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert container["image"] == next(e["value"] for e in operator_env if e["name"] == "BOT_IMAGE")
    wait_for(  # its readiness probe (GET /healthz: the tenant list was read) follows within seconds
        f"{FIRST}'s pod ready",
        lambda: all(
            c["ready"] for c in _shard_pod(kubectl, tenants.namespace, FIRST)["status"]["containerStatuses"]
        ),
        timeout=60,
    )
    # Ready follows the shard's report (the operator watches its ConfigMap) within seconds.
    reported = report(kubectl, tenants.namespace, FIRST, first.names.client_id)
    assert reported is not None and reported["state"] == "Serving"
    ready_at, serving_at = (
        parse_time(condition(obj, "Ready")["lastTransitionTime"]),
        parse_time(reported["since"]),
    )
    assert ready_at is not None and serving_at is not None
    assert -1 <= (ready_at - serving_at).total_seconds() <= 3, (serving_at, ready_at)


def test_the_shard_pod_answers_the_tenants_users(
    kubectl: Kubectl, tenants: Tenants, telegram: ReachableTelegram, first: Live
) -> None:
    assert "E2E Test Salon" in answers_start(telegram, first.token, timeout=30)
    pod = _shard_pod(kubectl, tenants.namespace, FIRST)
    assert Owner(telegram, first.token).last_answer_from() == pod["status"]["podIP"]


def test_a_tenant_added_to_the_running_shard_is_served_without_restarting_it(
    kubectl: Kubectl,
    tenants: Tenants,
    telegram: ReachableTelegram,
    first: Live,
    second: Added,
    request: pytest.FixtureRequest,
) -> None:
    request.node.user_properties.append(
        ("timing: new Shared tenant, create -> Ready (s)", f"{second.to_ready:.1f}")
    )
    request.node.user_properties.append(
        ("timing: new Shared tenant, create -> answer (s)", f"{second.to_answer:.1f}")
    )
    assert (tenants.get(second.live.names) or {})["status"]["shard"] == FIRST
    after = _shard_pod(kubectl, tenants.namespace, FIRST)
    assert after["metadata"]["uid"] == second.pod_before["metadata"]["uid"]
    restarts = [s["restartCount"] for s in after["status"]["containerStatuses"]]
    assert restarts == [s["restartCount"] for s in second.pod_before["status"]["containerStatuses"]]
    assert Owner(telegram, second.live.token).last_answer_from() == after["status"]["podIP"]
    # The tenant that was there keeps answering, from the same pod.
    assert "E2E Test Salon" in answers_start(telegram, first.token, timeout=30)
    assert telegram.call(lambda: list(telegram.fake.conflicts)) == []


def test_a_tenant_switched_shared_dedicated_shared_keeps_its_data_conversation_and_one_poller(
    kubectl: Kubectl, tenants: Tenants, telegram: ReachableTelegram, psql: Psql, third: Live
) -> None:
    """The owner adds a service in a dialogue whose steps are answered by the shard pod, the
    dedicated pod, and the shard pod again: the conversation (Redis) and the data (PostgreSQL)
    survive both switches, and no two pollers of the token ever overlap."""
    names = third.names
    assert (tenants.get(names) or {})["status"]["shard"] == SECOND
    owner = Owner(telegram, third.token)
    shard_ip = _shard_pod(kubectl, tenants.namespace, SECOND)["status"]["podIP"]
    services = owner.press(owner.say("/admin"), "Services")
    assert "name" in owner.press(services, "Add a service").text
    assert owner.last_answer_from() == shard_ip

    kubectl.patch(TENANT, names.name, tenants.namespace, {"spec": {"runtime": "Dedicated"}})
    dedicated = wait_runtime(tenants, names, "Dedicated")
    assert "shard" not in dedicated["status"]
    assert report(kubectl, tenants.namespace, SECOND, names.client_id) is None  # the shard let go first
    bot = running_pod(bot_pods(kubectl, tenants, names))
    assert bot is not None
    assert "minutes" in owner.say("Beard trim").text  # the next step of the same dialogue
    assert owner.last_answer_from() == bot["status"]["podIP"]

    kubectl.patch(TENANT, names.name, tenants.namespace, {"spec": {"runtime": "Shared"}})
    back = wait_runtime(tenants, names, "Shared")
    assert back["status"]["shard"] == SECOND  # its shard again
    wait_for("the dedicated bot pod to be gone", lambda: bot_pods(kubectl, tenants, names) == [], timeout=120)
    assert "price" in owner.say("30").text
    assert "added" in owner.say("700,50").text
    assert owner.last_answer_from() == shard_ip
    rows = psql(
        f"SELECT duration_minutes, price FROM {names.client_id}.services WHERE name = {literal('Beard trim')}"
    )
    assert rows == [["30", "700.50"]]
    assert third.token not in telegram.call(lambda: list(telegram.fake.conflicts)), pollers(
        telegram, third.token
    )


# --- the shard's RBAC, on the real API server --------------------------------------------------


@pytest.fixture(scope="module")
def shard_token(
    kubectl: Kubectl, tenants: Tenants, third: Live, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A token of booking-shard-0's ServiceAccount (what its pod gets), with both shards there."""
    path = tmp_path_factory.mktemp("shard-sa") / "token"
    path.write_text(kubectl("-n", tenants.namespace, "create", "token", FIRST, "--duration", "10m").strip())
    return path


@contextlib.asynccontextmanager
async def _as_shard(token: Path) -> AsyncIterator[KubeClient]:
    api, state = os.environ["BOOKING_CLUSTER_API"], Path(os.environ["BOOKING_CLUSTER_STATE"])
    context = ssl.create_default_context(cafile=str(state / "pki" / "ca.crt"))
    kube = KubeClient(HttpTransport(api, token_file=token, ssl_context=context))
    try:
        yield kube
    finally:
        await kube.close()


async def test_a_shard_reads_and_watches_its_own_tenants_secret_and_writes_its_own_report(
    shard_token: Path, tenants: Tenants, first: Live
) -> None:
    async with _as_shard(shard_token) as shard:
        states = shard.follow(SECRETS, tenants.namespace, f"{FIRST}-tenants")
        try:
            own = await asyncio.wait_for(anext(states), 20)
        finally:
            await states.aclose()
        assert own is not None and first.names.client_id in own["data"]
        await shard.patch(CONFIGMAPS, tenants.namespace, f"{FIRST}-status", {"data": {}})
        with pytest.raises(KubeForbidden):  # a watch without the field selector naming its Secret
            async for _ in shard.watch(SECRETS, tenants.namespace, timeout_seconds=5):
                pass


@pytest.mark.parametrize(
    "what", ["another shard's Secret", "a tenant's credentials", "a bot token", "any list"]
)
async def test_a_shards_service_account_is_refused_every_other_secret(
    shard_token: Path, tenants: Tenants, kubectl: Kubectl, first: Live, what: str
) -> None:
    target = {
        "another shard's Secret": f"{SECOND}-tenants",
        "a tenant's credentials": f"{first.names.name}-credentials",
        "a bot token": first.names.token_secret,
        "any list": None,
    }[what]
    if target is not None:
        assert kubectl.get("secret", target, tenants.namespace) is not None  # it exists: a 403 is RBAC
    async with _as_shard(shard_token) as shard:
        with pytest.raises(KubeForbidden):
            if target is None:
                await shard.list(SECRETS, tenants.namespace)
            else:
                await shard.get(SECRETS, tenants.namespace, target)


async def test_a_shards_service_account_cannot_write_another_shards_report(
    shard_token: Path, tenants: Tenants
) -> None:
    async with _as_shard(shard_token) as shard:
        with pytest.raises(KubeForbidden):
            await shard.patch(CONFIGMAPS, tenants.namespace, f"{SECOND}-status", {"data": {"x": "forged"}})
