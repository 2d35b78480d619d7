"""The operator's RBAC is exactly what it uses.

A real operator (`python -m booking_operator`) runs against its own emulated cluster and
takes a tenant through create -> Ready -> credentials rotated -> bot Deployment deleted by hand ->
suspended ->
deleted (policy Delete). Every request it made is mapped to (verb, group, resource) and must be
allowed by the ClusterRole the chart renders; every rule of that ClusterRole must have been used.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import kmock
import pytest

from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.operator_process import (  # operator helpers; platform_services: tests/conftest.py
    OperatorProcess,
    Platform,
    create_token_secret,
    eventually,
    mark_bot_available,
    operator_env,
    tenant_body,
    wait_phase,
)

from .conftest import Helm, Manifest, by_kind

Call = tuple[str, str, str]  # (verb, apiGroup, resource[/subresource])

# The test's own client identifies itself, so that its requests are not counted as the operator's.
TEST_CLIENT_AGENT = "rbac-test-client"

# Rules the scenario cannot exercise, each with the reason it is granted anyway.
JUSTIFIED_UNUSED: dict[Call, str] = {
    # RBAC escalation prevention: a Role may grant only what its creator holds, and each shard's
    # Role grants it a patch on its own status ConfigMap.
    ("patch", "", "configmaps"): "granted on to the shards' Roles; the operator never patches them",
    ("update", "bookingsaas.dev", "bookingtenants/finalizers"): (
        "no request uses it: OwnerReferencesPermissionEnforcement checks it when the operator sets "
        "blockOwnerDeletion on a child (tests/e2e on make e2e's cluster, where that plugin is on)"
    ),
}


def _verb(request: Any) -> str:
    method = str(request.method.value if hasattr(request.method, "value") else request.method).upper()
    if method == "GET":
        if request.params.get("watch") in ("true", "1"):
            return "watch"
        return "get" if request.name else "list"
    return {
        "POST": "create",
        "PATCH": "patch",
        "PUT": "update",
        "DELETE": "delete" if request.name else "deletecollection",
    }[method]


def operator_calls(cluster: EmulatedCluster) -> tuple[set[Call], set[str]]:
    """(verb, group, resource) of every API request not made by this test, and the non-resource paths."""
    assert cluster.emulator is not None
    calls: set[Call] = set()
    other: set[str] = set()
    # The harness keeps every request the emulator served in `served`.
    for request in list(cluster.emulator.served):
        if not isinstance(request, kmock.Request):
            continue
        if request.headers.get("User-Agent", "") == TEST_CLIENT_AGENT:
            continue
        if request.resource is None or not request.resource.plural:
            other.add(f"{request.method} {request.url.path}")
            continue
        resource = request.resource.plural + (f"/{request.subresource}" if request.subresource else "")
        calls.add((_verb(request), request.resource.group or "", resource))
    return calls, other


def allowed(rules: list[Manifest], call: Call) -> bool:
    verb, group, resource = call
    return any(
        group in rule.get("apiGroups", [])
        and (resource in rule.get("resources", []) or "*" in rule.get("resources", []))
        and (verb in rule.get("verbs", []) or "*" in rule.get("verbs", []))
        for rule in rules
    )


def _client(cluster: EmulatedCluster) -> KubeClient:
    """The harness client, identified by its User-Agent so its requests are told apart."""
    client = KubeClient(cluster.url)
    client._session._default_headers["User-Agent"] = TEST_CLIENT_AGENT
    return client


def _exercise(platform: Platform, workdir: Path) -> tuple[set[Call], set[str]]:
    """Run a fresh operator on a fresh cluster through a tenant's whole life; return what it called."""
    cluster = EmulatedCluster().start()
    env = operator_env(platform, cluster, workdir)
    operator = OperatorProcess(env=env, log_path=workdir / "op.log")
    try:
        operator.start()
        asyncio.run(_lifecycle(cluster, "rbac"))
        return operator_calls(cluster)
    except BaseException as exc:
        exc.add_note("operator log tail:\n" + operator.logs()[-4000:])
        raise
    finally:
        operator.stop()
        cluster.stop()


async def _lifecycle(cluster: EmulatedCluster, namespace: str) -> None:
    kube = _client(cluster)
    name, client_id = "salon", f"rbac_{uuid.uuid4().hex[:10]}"
    try:
        await create_token_secret(kube, namespace)
        await kube.create(BOOKINGTENANTS, namespace, tenant_body(name, client_id, deletionPolicy="Delete"))
        await wait_phase(kube, namespace, name, "Provisioning", timeout=30)
        await mark_bot_available(kube, namespace, name)
        await wait_phase(kube, namespace, name, "Ready", timeout=30)
        # Rotation rewrites the tenant Secret (patch).
        rotate = {"metadata": {"annotations": {"bookingsaas.dev/rotate-credentials": "1"}}}
        await kube.patch(BOOKINGTENANTS, namespace, name, rotate)

        async def rotated() -> bool:
            tenant = await kube.get(BOOKINGTENANTS, namespace, name)
            return bool((tenant.get("status") or {}).get("credentialsRotation") == "1")

        await eventually(rotated, timeout=30, what="credentials rotated")
        # A bot Deployment deleted by hand is noticed through the watch and restored.
        await kube.delete("apps/v1/deployments", namespace, f"{name}-bot")
        await eventually(
            lambda: kube.get("apps/v1/deployments", namespace, f"{name}-bot"),
            timeout=30,
            what="Deployment restored",
        )
        await kube.patch(BOOKINGTENANTS, namespace, name, {"spec": {"suspended": True}})
        await wait_phase(kube, namespace, name, "Suspended", timeout=30)
        await _shared_tenant(kube, namespace)
        await kube.delete(BOOKINGTENANTS, namespace, name)

        async def finalized() -> bool:
            return await kube.get(BOOKINGTENANTS, namespace, name) is None

        await eventually(finalized, timeout=30, what="tenant finalized")
    finally:
        await kube.close()


async def _shared_tenant(kube: KubeClient, namespace: str) -> None:
    """A Shared tenant: the operator creates a shard and repairs its RBAC objects edited by hand."""
    name = "shared"
    await kube.create(
        BOOKINGTENANTS,
        namespace,
        tenant_body(name, f"rbac_{uuid.uuid4().hex[:10]}", runtime="Shared", deletionPolicy="Delete"),
    )
    shard = "booking-shard-0"
    role, binding, account = (
        ("rbac.authorization.k8s.io/v1/roles", shard),
        ("rbac.authorization.k8s.io/v1/rolebindings", shard),
        ("v1/serviceaccounts", shard),
    )
    await eventually(lambda: kube.get(*(role[0], namespace, role[1])), timeout=30, what="shard Role")
    await eventually(lambda: kube.get(*(account[0], namespace, account[1])), timeout=30, what="shard SA")
    for resource, obj in (role, binding, account):
        await kube.patch(
            resource, namespace, obj, {"metadata": {"labels": {"app.kubernetes.io/name": "edited"}}}
        )

    async def repaired() -> bool:
        for resource, obj in (role, binding, account):
            live = await kube.get(resource, namespace, obj)
            if live["metadata"]["labels"]["app.kubernetes.io/name"] != "booking-shard":
                return False
        return True

    await eventually(repaired, timeout=30, what="shard RBAC objects restored")
    await kube.delete(BOOKINGTENANTS, namespace, name)

    async def gone() -> bool:
        return await kube.get(BOOKINGTENANTS, namespace, name) is None

    await eventually(gone, timeout=30, what="shared tenant finalized")


@pytest.fixture(scope="module")
def clusterwide_calls(
    platform_services: Platform,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[set[Call], set[str]]:
    return _exercise(platform_services, tmp_path_factory.mktemp("rbac-clusterwide"))


def _rules(helm: Helm, kind: str, values: dict[str, Any]) -> list[Manifest]:
    roles = [r for r in by_kind(helm.render(values), kind) if r["metadata"]["name"].endswith("-operator")]
    assert len(roles) == 1, roles
    return list(roles[0]["rules"])


def _granted(rules: list[Manifest]) -> set[Call]:
    return {
        (verb, group, resource)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_cluster_role_allows_every_call_the_operator_makes(
    helm: Helm, clusterwide_calls: tuple[set[Call], set[str]]
) -> None:
    calls, _ = clusterwide_calls
    rules = _rules(helm, "ClusterRole", CLUSTER_WIDE)
    missing = sorted(call for call in calls if not allowed(rules, call))
    assert not missing, f"the operator makes calls its ClusterRole does not allow: {missing}"


def test_every_cluster_role_rule_is_used(helm: Helm, clusterwide_calls: tuple[set[Call], set[str]]) -> None:
    calls, _ = clusterwide_calls
    unused = sorted(_granted(_rules(helm, "ClusterRole", CLUSTER_WIDE)) - calls - set(JUSTIFIED_UNUSED))
    assert not unused, f"granted but never used (remove, or justify in JUSTIFIED_UNUSED): {unused}"


def test_the_operator_uses_only_discovery_beyond_its_rules(
    clusterwide_calls: tuple[set[Call], set[str]],
) -> None:
    _, other = clusterwide_calls
    # /api, /apis and /apis/<group>/<version>: allowed to every authenticated user (system:discovery).
    assert all(path.split(" ", 1)[1].startswith(("/api", "/apis")) for path in other), other
    assert all(path.split(" ", 1)[0].endswith("GET") for path in other), other


def test_namespaced_role_grants_the_same_namespaced_rules(helm: Helm) -> None:
    """The namespace-scoped install (operator.watchNamespace) grants the same namespaced rules.

    It is checked statically: kopf in namespace mode lists and watches namespaces (and CRDs) to
    observe them at run time, and KMock 0.8 answers `GET /api/v1/namespaces` with a 500, so the
    operator cannot run in that mode against the emulator. Those observations are cluster-scoped,
    a Role cannot grant them, and kopf falls back to the exact namespace given when they are
    forbidden (kopf/_core/reactor/observation.py), so the Role leaves them out on purpose.
    """
    cluster_rules = _granted(_rules(helm, "ClusterRole", CLUSTER_WIDE))
    namespaced_rules = _granted(_rules(helm, "Role", {"operator": {"watchNamespace": "tenants"}}))
    assert namespaced_rules == _granted(_rules(helm, "Role", {}))  # the default: the release namespace
    assert namespaced_rules == cluster_rules - KOPF_OBSERVATION


CLUSTER_WIDE = {"operator": {"clusterWide": True}}  # the explicit choice; the default is one namespace

KOPF_OBSERVATION: set[Call] = {
    ("list", "apiextensions.k8s.io", "customresourcedefinitions"),
    ("watch", "apiextensions.k8s.io", "customresourcedefinitions"),
}
