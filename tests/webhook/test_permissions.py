"""The webhook's real Kubernetes calls against the Roles the chart gives it (as tests/chart/
test_rbac.py does for the operator): a checkout, its payment, a renewal, a managed bot's new
token and an abandoned checkout's cleanup, every request the webhook's own client made mapped to
(namespace, verb, resource) and checked against the Role the chart renders for that namespace.
In the tenant namespace (tenants' credentials live there) the webhook has no Secret verb at all;
the bot tokens it writes go to the token namespace, which holds nothing else."""

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
TENANTS, TOKENS = "booking-system", "booking-system-tokens"  # the chart's defaults for release `booking`


def _webhook_calls(cluster: EmulatedCluster, since: int, namespace: str) -> set[Call]:
    """Calls made by kubernetes_asyncio (the webhook's client) in `namespace`, not the tests' own."""
    assert cluster.emulator is not None
    calls: set[Call] = set()
    for request in list(cluster.emulator.served)[since:]:
        if not isinstance(request, kmock.Request) or request.resource is None:
            continue
        if not request.headers.get("User-Agent", "").startswith("OpenAPI-Generator"):
            continue
        if request.namespace != namespace:
            continue
        resource = request.resource.plural + (f"/{request.subresource}" if request.subresource else "")
        calls.add((_verb(request), request.resource.group or "", resource))
    return calls


def _roles(helm: Helm) -> dict[str, list[Any]]:
    """The webhook's rules per namespace, as the chart renders them."""
    roles = [r for r in by_kind(helm.render(WEBHOOK_VALUES), "Role") if "-webhook" in r["metadata"]["name"]]
    assert not [
        r for r in by_kind(helm.render(WEBHOOK_VALUES), "ClusterRole") if "-webhook" in r["metadata"]["name"]
    ]
    rules: dict[str, list[Any]] = {}
    for role in roles:
        rules.setdefault(role["metadata"]["namespace"], []).extend(role["rules"])
    return rules


async def _exercise(platform: Platform, webhook: WebhookServer, yookassa: FakeYooKassa) -> None:
    first, paid = await platform.new_checkout()
    yookassa.succeed(paid)
    assert (await webhook.notify(yookassa, "payment.succeeded", paid))[1]["outcome"] == "created"
    _, renewed = await platform.renewal_checkout(first)
    yookassa.succeed(renewed)
    assert (await webhook.notify(yookassa, "payment.succeeded", renewed))[1]["outcome"] == "extended"
    # What the sales bot does when Telegram rotates a managed bot's token (handlers/managed.py).
    await platform.kube.create_token_secret(
        str(first.token_secret_name), "1:TEST-rotated", first.tenant_name, first.client_id
    )
    await platform.kube.point_at_token(first.tenant_name, str(first.token_secret_name))
    _, unpaid = await platform.new_checkout(owner=555)  # never paid ...
    yookassa.cancel(unpaid)  # ... and expired at YooKassa: only then is its token removed
    assert (await webhook.get("/ready"))[0] == 200  # readiness: lists BookingTenants (limit=1)
    deps = SalesDeps(platform.settings, platform.store, platform.kube, platform.yookassa_client)
    assert await remove_abandoned_tokens(deps, older_than_seconds=0) >= 1


async def test_the_webhook_roles_allow_every_call_it_makes_and_no_secret_verb_next_to_credentials(
    helm: Helm,
    kube_cluster: EmulatedCluster,
    webhook: WebhookServer,
    platform: Platform,
    yookassa: FakeYooKassa,
) -> None:
    assert kube_cluster.emulator is not None
    since = len(kube_cluster.emulator.served)
    await _exercise(platform, webhook, yookassa)

    rules = _roles(helm)
    assert set(rules) == {TENANTS, TOKENS}
    in_namespace = {
        TENANTS: _webhook_calls(kube_cluster, since, platform.kube.namespace),
        TOKENS: _webhook_calls(kube_cluster, since, platform.kube.token_namespace),
    }
    assert {("create", "", "secrets"), ("patch", "", "secrets"), ("delete", "", "secrets")} <= in_namespace[
        TOKENS
    ]
    for namespace, calls in in_namespace.items():
        missing = sorted(call for call in calls if not allowed(rules[namespace], call))
        assert not missing, f"in {namespace} the webhook makes calls its Role does not allow: {missing}"
        unused = sorted(_granted(rules[namespace]) - calls)
        assert not unused, f"granted to the webhook in {namespace} but never used: {unused}"
    secret_verbs = {v for v, _, r in _granted(rules[TENANTS]) if r == "secrets"}
    assert not secret_verbs, f"the internet-facing webhook may touch tenants' credentials: {secret_verbs}"
    reads = {v for v, _, r in _granted(rules[TOKENS]) if r == "secrets" and v in {"get", "list", "watch"}}
    assert not reads, reads
