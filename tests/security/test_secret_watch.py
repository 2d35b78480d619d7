"""Attack matrix, what the operator's Secret watch receives: only the Secrets it acts on.

kopf's handler filters (`labels=`, `when=`) run client-side, after the API server has streamed
every Secret of the watched namespace (of the cluster, for a cluster-wide operator) to the
operator. The operator asks the API server for less with a label selector (handlers.py); the
emulator does not apply selectors, so this checks what the operator asks for and that every
Secret it must see matches it. On a real API server the operator tests (`make e2e`) show the
watch still sees a hand-deleted tenant Secret and a changed token at once.
"""

from __future__ import annotations

import uuid

import kmock

from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.operator_process import create_token_secret, eventually, tenant_body

SELECTOR_KEY = "bookingsaas.dev/bot-token"


def _matches(labels: dict[str, str]) -> bool:
    """The selector the operator sends: the key exists (Kubernetes' `key` requirement)."""
    return SELECTOR_KEY in labels


async def test_the_operator_asks_the_api_server_only_for_token_and_operator_secrets(
    security_cluster: EmulatedCluster, kube: KubeClient
) -> None:
    assert security_cluster.emulator is not None

    async def secret_watches() -> list[kmock.Request] | None:
        assert security_cluster.emulator is not None
        found = [
            r
            for r in list(security_cluster.emulator.served)
            if isinstance(r, kmock.Request)
            and r.resource is not None
            and r.resource.plural == "secrets"
            and r.params.get("watch") in ("true", "1")
        ]
        return found or None

    watches = await eventually(secret_watches, timeout=30, what="the operator's Secret watch")
    assert {r.params.get("labelSelector") for r in watches} == {SELECTOR_KEY}


async def test_every_secret_the_operator_acts_on_matches_its_watch_selector(
    kube: KubeClient, namespace: str
) -> None:
    await create_token_secret(kube, namespace, name="salon-token", token="555:selected")
    await kube.create(
        BOOKINGTENANTS,
        namespace,
        tenant_body("salon", f"sec_{uuid.uuid4().hex[:10]}", token_secret="salon-token"),
    )
    credentials = await eventually(
        lambda: kube.get("v1/secrets", namespace, "salon-credentials"), timeout=30, what="tenant Secret"
    )
    token = await kube.get("v1/secrets", namespace, "salon-token")
    assert _matches(credentials["metadata"]["labels"]) and _matches(token["metadata"]["labels"])
    assert credentials["metadata"]["labels"][SELECTOR_KEY] == "false"  # never a token
