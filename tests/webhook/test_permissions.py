"""The webhook's real Kubernetes calls against the Role the chart gives it (as tests/chart/
test_rbac.py does for the operator): a checkout, its payment, a renewal and an abandoned
checkout's cleanup, every request the webhook's own client made mapped to (verb, resource) and
checked against the rendered Role; the Role must never let it read a Secret."""

from __future__ import annotations

from typing import Any

import kmock
from chart.conftest import Helm, by_kind
from chart.test_rbac import Call, _granted, _verb, allowed

from booking_webhook.salesbot.deps import SalesDeps
from booking_webhook.salesbot.notifier import remove_abandoned_tokens
from harness.kube import EmulatedCluster
from harness.yookassa import FakeYooKassa

from .conftest import Platform, WebhookServer

WEBHOOK_VALUES = {
    "webhook": {"enabled": True, "existingSecret": "booking-webhook"},
    "salesBot": {"enabled": True},
}


def _webhook_calls(cluster: EmulatedCluster, since: int) -> set[Call]:
    """Calls made by kubernetes_asyncio (the webhook's client), not by the tests' own aiohttp client."""
    assert cluster.emulator is not None
    calls: set[Call] = set()
    for request in list(cluster.emulator.served)[since:]:
        if not isinstance(request, kmock.Request) or request.resource is None:
            continue
        if not request.headers.get("User-Agent", "").startswith("OpenAPI-Generator"):
            continue
        resource = request.resource.plural + (f"/{request.subresource}" if request.subresource else "")
        calls.add((_verb(request), request.resource.group or "", resource))
    return calls


def _role(helm: Helm) -> list[Any]:
    (role,) = [
        r for r in by_kind(helm.render(WEBHOOK_VALUES), "Role") if r["metadata"]["name"].endswith("-webhook")
    ]
    return list(role["rules"])


async def test_the_webhook_role_allows_every_call_it_makes_and_no_secret_read(
    helm: Helm,
    kube_cluster: EmulatedCluster,
    webhook: WebhookServer,
    platform: Platform,
    yookassa: FakeYooKassa,
) -> None:
    assert kube_cluster.emulator is not None
    since = len(kube_cluster.emulator.served)
    first, paid = await platform.new_checkout()
    yookassa.succeed(paid)
    assert (await webhook.notify(yookassa, "payment.succeeded", paid))[1]["outcome"] == "created"
    _, renewed = await platform.renewal_checkout(first)
    yookassa.succeed(renewed)
    assert (await webhook.notify(yookassa, "payment.succeeded", renewed))[1]["outcome"] == "extended"
    _, unpaid = await platform.new_checkout(owner=555)  # never paid ...
    yookassa.cancel(unpaid)  # ... and expired at YooKassa: only then is its token removed
    assert (await webhook.get("/ready"))[0] == 200  # readiness: lists BookingTenants (limit=1)
    deps = SalesDeps(platform.settings, platform.store, platform.kube, platform.yookassa_client)
    assert await remove_abandoned_tokens(deps, older_than_seconds=0) >= 1

    calls = _webhook_calls(kube_cluster, since)
    rules = _role(helm)
    assert ("create", "", "secrets") in calls and ("delete", "", "secrets") in calls
    missing = sorted(call for call in calls if not allowed(rules, call))
    assert not missing, f"the webhook makes calls its Role does not allow: {missing}"
    reads = {(v, g, r) for v, g, r in _granted(rules) if r == "secrets" and v in {"get", "list", "watch"}}
    assert not reads, f"the internet-facing webhook may read Secrets (tenants' credentials): {reads}"
    unused = sorted(_granted(rules) - calls)
    assert not unused, f"granted to the webhook but never used: {unused}"
