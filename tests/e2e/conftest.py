"""End-to-end tests against a real cluster: the local one `make e2e` brings up, or kind's.

`make e2e` (hack/e2e.sh) starts real Kubernetes components on this machine (hack/cluster.sh),
installs the chart and runs these tests with its env file loaded (KUBECONFIG,
BOOKING_CLUSTER_CONTEXT) and a fake Telegram the chart's operator was pointed at
(E2E_TELEGRAM_BIND/E2E_TELEGRAM_PORT). Elsewhere every test under tests/e2e is marked `e2e` and
skipped, with the precise reason, unless `kubectl` is on PATH, a Docker engine answers
`docker info` (or `E2E_ASSUME_CLUSTER=1` says a cluster is there without one) and the
BookingTenant CRD exists in the context `${E2E_CONTEXT:-kind-booking-saas}`, i.e. `make up`
has run. The check runs once per session.

Knobs (environment): E2E_CONTEXT, E2E_PLATFORM_NAMESPACE (or NAMESPACE, as for `make up`),
E2E_RELEASE (or RELEASE), E2E_TENANT_NAMESPACE (use this existing namespace instead of a fresh
one per module), E2E_BOT_TOKEN (a real, throwaway bot token: the tenant can then become Ready),
E2E_TIMEOUT (seconds per test, default 600), and the YooKassa ones in test_payment.py.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster import (
    TENANT,
    Kubectl,
    KubectlError,
    PlatformDatabase,
    Psql,
    Tenants,
    context,
    env_entry,
    fullname,
    platform_namespace,
    secret_value,
    wait_for,
    why_no_cluster,
)
from e2e.telegram import ReachableTelegram, configured_address

HERE = Path(__file__).parent
_unavailable: list[str | None] = []


def _skip_reason() -> str | None:
    if not _unavailable:
        _unavailable.append(why_no_cluster())
    return _unavailable[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if HERE in item.path.parents]
    if not ours:
        return
    reason = _skip_reason()
    timeout = float(os.environ.get("E2E_TIMEOUT", "600"))
    for item in ours:
        item.add_marker(pytest.mark.e2e)
        item.add_marker(pytest.mark.timeout(timeout))
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason), append=False)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """What the e2e tests measured on the way (user properties named `timing: ...`)."""
    lines = [
        f"{report.nodeid.rsplit('::', 1)[-1]}: {name[len('timing: ') :]} = {value}"
        for report in terminalreporter.stats.get("passed", [])
        for name, value in getattr(report, "user_properties", [])
        if str(name).startswith("timing: ")
    ]
    if lines:
        terminalreporter.section("e2e timings")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def kubectl() -> Kubectl:
    return Kubectl(context())


@pytest.fixture(scope="session")
def platform_ns() -> str:
    """The namespace of the helm release (hack/up.sh: NAMESPACE, default booking-system)."""
    return platform_namespace()


@pytest.fixture(scope="session")
def platform_db(kubectl: Kubectl, platform_ns: str) -> PlatformDatabase:
    name = f"{fullname()}-postgresql"
    sts = kubectl.get("statefulset", name, platform_ns)
    if sts is None:
        pytest.skip(
            f"e2e: no in-cluster PostgreSQL StatefulSet {platform_ns}/{name} "
            "(postgresql.enabled=false or another release: set E2E_RELEASE / E2E_PLATFORM_NAMESPACE)"
        )
    container = next(c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "postgresql")
    secret_ref = env_entry(container, "POSTGRES_PASSWORD").get("valueFrom", {}).get("secretKeyRef", {})
    return PlatformDatabase(
        namespace=platform_ns,
        service=sts["spec"].get("serviceName") or name,
        pod=f"{name}-0",
        database=env_entry(container, "BOOKING_DATABASE").get("value") or "booking_saas",
        secret=secret_ref.get("name") or name,
        webhook_user=env_entry(container, "BOOKING_WEBHOOK_USER").get("value") or "booking_webhook",
    )


@pytest.fixture(scope="session")
def psql(kubectl: Kubectl, platform_db: PlatformDatabase) -> Psql:
    """Runs SQL as the superuser in the in-cluster PostgreSQL pod (kubectl exec + psql)."""
    password = secret_value(kubectl, platform_db.namespace, platform_db.secret, "postgres-password")
    return Psql(kubectl, platform_db.namespace, platform_db.pod, password, platform_db.database)


def _cleanup_tenants(kubectl: Kubectl, namespace: str) -> None:
    """Delete the tests' BookingTenants (`e2e-*`) left in `namespace`, dropping their data.

    A finalizer that never finishes fails the teardown (the operator is broken), after which
    the namespace is still deleted.
    """
    names: list[str] = []
    with contextlib.suppress(KubectlError, subprocess.TimeoutExpired):
        items = kubectl.json("-n", namespace, "get", TENANT)["items"]
        names = [o["metadata"]["name"] for o in items if o["metadata"]["name"].startswith("e2e-")]
        for name in names:
            kubectl.patch(TENANT, name, namespace, {"spec": {"deletionPolicy": "Delete"}})
            kubectl("-n", namespace, "delete", TENANT, name, "--wait=false")
    with contextlib.suppress(KubectlError, subprocess.TimeoutExpired):
        wait_for(
            f"the BookingTenants in {namespace} to be finalized",
            lambda: (
                not any(
                    o["metadata"]["name"] in names
                    for o in kubectl.json("-n", namespace, "get", TENANT)["items"]
                )
            ),
            timeout=180,
        )


@pytest.fixture(scope="module")
def namespace(kubectl: Kubectl) -> Iterator[str]:
    """A fresh namespace per test module (or E2E_TENANT_NAMESPACE, which is kept)."""
    fixed = os.environ.get("E2E_TENANT_NAMESPACE")
    if fixed:
        try:
            yield fixed
        finally:
            _cleanup_tenants(kubectl, fixed)
        return
    name = f"e2e-{secrets.token_hex(4)}"
    kubectl.apply(
        "default",
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "booking-saas-e2e"}},
        },
    )
    try:
        yield name
    finally:
        try:
            _cleanup_tenants(kubectl, name)
        finally:
            with contextlib.suppress(KubectlError, subprocess.TimeoutExpired):
                kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="module")
def tenants(kubectl: Kubectl, namespace: str) -> Tenants:
    return Tenants(kubectl, namespace)


@pytest.fixture(scope="session")
def telegram() -> Iterator[ReachableTelegram]:
    """The fake Bot API the chart's operator and bots were pointed at (`make e2e` only)."""
    address = configured_address()
    if address is None:
        pytest.skip(
            "e2e: the platform does not use a fake Telegram the tests control: run through `make e2e` "
            "(it installs the chart with operator.telegramApiUrl at E2E_TELEGRAM_BIND:E2E_TELEGRAM_PORT)"
        )
    server = ReachableTelegram(*address)
    try:
        server.start()
    except OSError as exc:
        server.stop()
        pytest.skip(f"e2e: cannot serve the fake Telegram at {address[0]}:{address[1]} ({exc})")
    try:
        yield server
    finally:
        server.stop()
