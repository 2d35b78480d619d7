"""What the reconcile tests read back after a pass, and the one thing a kubelet would do."""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from booking_operator import reconcile
from booking_operator.platform import Platform
from harness.kube import TESTS_USER_AGENT, EmulatedCluster, KubeClient

TOKEN = "424242:VALID-test-token"
LOG = logging.getLogger("test-reconcile")

Pass = Callable[..., Awaitable[reconcile.ReconcileOutcome]]
PlatformFactory = Callable[..., Awaitable[Platform]]
TenantFactory = Callable[..., Awaitable[dict[str, Any]]]


def condition(outcome: reconcile.ReconcileOutcome, type_: str) -> dict[str, Any]:
    for cond in outcome.status["conditions"]:
        if cond["type"] == type_:
            found: dict[str, Any] = cond
            return found
    raise AssertionError(f"no {type_} condition in {outcome.status['conditions']}")


async def credentials(api: KubeClient, namespace: str, name: str = "salon") -> dict[str, str]:
    secret = await api.get("v1/secrets", namespace, f"{name}-credentials")
    assert secret is not None, "no tenant Secret"
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


async def deployment(api: KubeClient, namespace: str, name: str = "salon") -> dict[str, Any]:
    found = await api.get("apps/v1/deployments", namespace, f"{name}-bot")
    assert found is not None, "no bot Deployment"
    result: dict[str, Any] = found
    return result


async def mark_available(api: KubeClient, namespace: str, name: str = "salon") -> None:
    await api.patch(
        "apps/v1/deployments",
        namespace,
        f"{name}-bot",
        {"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}},
    )


def served(cluster: EmulatedCluster) -> int:
    """How many requests the emulator has served so far (a mark for ``operator_requests``)."""
    assert cluster.emulator is not None
    return len(cluster.emulator.served)


def operator_requests(cluster: EmulatedCluster, since: int, resource: str) -> list[str]:
    """The methods of the requests the pass sent for one resource (``apps/v1/deployments``) since
    index ``since`` of the emulator's request log; the tests' own requests are left out."""
    assert cluster.emulator is not None
    found = []
    for request in cluster.emulator.served[since:]:
        agent = next((v for k, v in request.headers.items() if k.lower() == "user-agent"), None)
        if agent == TESTS_USER_AGENT or request.resource is None:
            continue
        parts = (request.resource.group, request.resource.version, request.resource.plural)
        if "/".join(part for part in parts if part) == resource:
            found.append(str(request.method.value).upper())
    return found
