"""Helpers for the end-to-end tests: kubectl and psql through subprocesses, tenant manifests.

Everything here talks to a real cluster through the `kubectl` binary, so the tests exercise
exactly what a user does by hand: the local real cluster `make e2e` brings up
(hack/cluster.sh, whose env file sets KUBECONFIG and BOOKING_CLUSTER_CONTEXT), or the kind
cluster `make up` creates.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

GROUP = "bookingsaas.dev"
CRD_NAME = f"bookingtenants.{GROUP}"
TENANT = f"bookingtenants.{GROUP}"
CONTRACT_LABELS = ("app.kubernetes.io/managed-by", f"{GROUP}/client-id")
# A well-formed token no Telegram bot has: the operator's getMe either cannot reach Telegram
# (condition BotToken=Unknown) or is told 401 (BotToken=False, phase Failed).
FAKE_BOT_TOKEN = "1234567890:AAE2E-fake-token-no-bot-has-this-0000"


def context() -> str:
    return os.environ.get("E2E_CONTEXT") or os.environ.get("BOOKING_CLUSTER_CONTEXT") or "kind-booking-saas"


def local_cluster() -> bool:
    """True on the cluster of hack/cluster.sh (its env file is loaded): no Docker engine behind it."""
    return bool(os.environ.get("BOOKING_CLUSTER_CONTEXT"))


def platform_namespace() -> str:
    """The helm release namespace of `hack/up.sh` (`NAMESPACE`, default booking-system)."""
    return os.environ.get("E2E_PLATFORM_NAMESPACE") or os.environ.get("NAMESPACE") or "booking-system"


def release() -> str:
    """The helm release name of `hack/up.sh` (`RELEASE`, default booking)."""
    return os.environ.get("E2E_RELEASE") or os.environ.get("RELEASE") or "booking"


def fullname() -> str:
    """`<release>-booking-saas`, the chart's resource name prefix (no fullnameOverride)."""
    return os.environ.get("E2E_FULLNAME") or f"{release()}-booking-saas"


def _run(args: list[str], timeout: float) -> tuple[bool, str]:
    """Run a probe command; (succeeded, a one-line reason). Never raises."""
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return False, f"{args[0]} is not installed"
    except subprocess.TimeoutExpired:
        return False, f"`{' '.join(args)}` did not answer within {timeout:.0f}s"
    except OSError as exc:
        return False, f"`{args[0]}` cannot run: {exc}"
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return False, f"`{' '.join(args)}` failed: {lines[-1] if lines else f'exit {proc.returncode}'}"
    return True, ""


ASSUME_HINT = (
    "`make e2e` runs them on a local real cluster without Docker; "
    "E2E_ASSUME_CLUSTER=1 runs them against another cluster that needs no local Docker engine"
)


def why_no_cluster() -> str | None:
    """None when the e2e tests can run, else the precise reason they are skipped."""
    if shutil.which("kubectl") is None:
        return "e2e: kubectl is not on PATH (`make e2e` puts it there; or install it, `make up`)"
    if not local_cluster() and os.environ.get("E2E_ASSUME_CLUSTER") != "1":
        docker = os.environ.get("E2E_DOCKER") or os.environ.get("DOCKER") or "docker"
        if shutil.which(docker) is None:
            return f"e2e: no Docker engine ({docker} is not on PATH); {ASSUME_HINT}"
        ok, reason = _run([docker, "info"], timeout=15)
        if not ok:
            return f"e2e: no Docker engine is running ({reason}); {ASSUME_HINT}"
    ok, reason = _run(["kubectl", "--context", context(), "get", "crd", CRD_NAME, "-o", "name"], timeout=20)
    if not ok:
        return (
            f"e2e: the platform is not installed in context {context()!r} ({reason}); "
            "run the tests through `make e2e`, or `make up` first (or set E2E_CONTEXT)"
        )
    return None


class KubectlError(RuntimeError):
    def __init__(self, args: tuple[str, ...], returncode: int, stderr: str) -> None:
        super().__init__(f"kubectl {' '.join(args)} -> exit {returncode}: {stderr.strip()}")
        self.returncode = returncode
        self.stderr = stderr

    @property
    def not_found(self) -> bool:
        return "NotFound" in self.stderr or "not found" in self.stderr


class Kubectl:
    """`kubectl --context <ctx> ...` as a function: text out, or parsed JSON with `.json()`."""

    def __init__(self, context: str) -> None:
        self.context = context

    def argv(self, *args: str) -> list[str]:
        return ["kubectl", "--context", self.context, *args]

    def __call__(self, *args: str, input: str | None = None, timeout: float = 120) -> str:
        proc = subprocess.run(
            self.argv(*args), input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            raise KubectlError(args, proc.returncode, proc.stderr)
        return proc.stdout

    def json(self, *args: str, input: str | None = None, timeout: float = 120) -> Any:
        return json.loads(self(*args, "-o", "json", input=input, timeout=timeout))

    def get(self, resource: str, name: str, namespace: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            obj: dict[str, Any] = self.json("-n", namespace, "get", resource, name)
        except KubectlError as exc:
            if exc.not_found:
                return None
            raise
        return obj

    def apply(self, namespace: str, *objects: dict[str, Any]) -> None:
        body = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
        self("-n", namespace, "apply", "-f", "-", input=body)

    def patch(self, resource: str, name: str, namespace: str, patch: dict[str, Any]) -> None:
        self("-n", namespace, "patch", resource, name, "--type", "merge", "-p", json.dumps(patch))

    def logs(self, namespace: str, *args: str) -> str:
        """Logs for a failure message; never raises."""
        try:
            return self("-n", namespace, "logs", "--tail", "40", *args, timeout=30)
        except (KubectlError, subprocess.TimeoutExpired) as exc:
            return f"(no logs: {exc})"


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float = 240,
    interval: float = 2,
    describe: Callable[[], str] | None = None,
) -> T:
    """Poll `probe` until it returns something truthy; fail with `describe()` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = describe() if describe is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{detail}")
        time.sleep(interval)


class Psql:
    """SQL as the PostgreSQL superuser inside the chart's in-cluster PostgreSQL pod.

    The password comes from the chart's generated Secret (`<fullname>-postgresql`, key
    `postgres-password`) and reaches psql on stdin, never on a command line.
    """

    def __init__(self, kubectl: Kubectl, namespace: str, pod: str, password: str, database: str) -> None:
        self.kubectl = kubectl
        self.namespace = namespace
        self.pod = pod
        self.password = password
        self.database = database

    def __call__(self, sql: str) -> list[list[str]]:
        """Rows of the last statement, as text columns (NULL = empty string)."""
        script = (
            "IFS= read -r PGPASSWORD; export PGPASSWORD; "
            'exec psql -h 127.0.0.1 -U "${POSTGRES_USER:-postgres}" '
            f"-d {self.database} -v ON_ERROR_STOP=1 -X -A -t -q -F '|' -f -"
        )
        out = self.kubectl(
            "-n",
            self.namespace,
            "exec",
            "-i",
            self.pod,
            "-c",
            "postgresql",
            "--",
            "sh",
            "-c",
            script,
            input=f"{self.password}\n{sql}\n",
            timeout=60,
        )
        return [line.split("|") for line in out.splitlines() if line]

    def value(self, sql: str) -> str | None:
        rows = self(sql)
        return rows[0][0] if rows else None


def literal(value: str) -> str:
    """A SQL string literal (the e2e tests only quote values they generated themselves)."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class TenantNames:
    name: str
    client_id: str

    @property
    def token_secret(self) -> str:
        return f"{self.name}-bot-token"

    @classmethod
    def unique(cls, prefix: str = "e2e") -> TenantNames:
        suffix = secrets.token_hex(5)
        return cls(name=f"{prefix}-{suffix}", client_id=f"{prefix}_{suffix}")


def token_secret(name: str, token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        # The operator mounts only Secrets labelled as bot tokens (booking_operator/references.py).
        "metadata": {"name": name, "labels": {"bookingsaas.dev/bot-token": "true"}},
        "type": "Opaque",
        "stringData": {"token": token},
    }


def tenant_manifest(names: TenantNames, deletion_policy: str = "Delete", **spec: Any) -> dict[str, Any]:
    """A BookingTenant like `crds/tenant.yaml`, with unique names."""
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "BookingTenant",
        "metadata": {"name": names.name},
        "spec": {
            "clientId": names.client_id,
            "companyName": "E2E Test Salon",
            "ownerTelegramId": 123456789,
            "plan": "1m",
            "timezone": "Europe/Moscow",
            "language": "en",
            "deletionPolicy": deletion_policy,
            "botTokenSecretRef": {"name": names.token_secret, "key": "token"},
            **spec,
        },
    }


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def phase(obj: dict[str, Any] | None) -> str:
    return str(((obj or {}).get("status") or {}).get("phase") or "")


def summary(obj: dict[str, Any] | None) -> str:
    """phase, message and conditions of a tenant, for failure messages."""
    if obj is None:
        return "the BookingTenant does not exist"
    status = obj.get("status") or {}
    conds = ", ".join(
        f"{c.get('type')}={c.get('status')}({c.get('reason')}: {c.get('message')})"
        for c in status.get("conditions") or []
    )
    return f"phase={status.get('phase')!r} message={status.get('message')!r} conditions: {conds}"


class Tenants:
    """Creates BookingTenants in one namespace and waits for what the operator does to them."""

    def __init__(self, kubectl: Kubectl, namespace: str) -> None:
        self.kubectl = kubectl
        self.namespace = namespace

    def create(
        self, deletion_policy: str = "Delete", token: str = FAKE_BOT_TOKEN, **spec: Any
    ) -> TenantNames:
        names = TenantNames.unique()
        self.kubectl.apply(
            self.namespace,
            token_secret(names.token_secret, token),
            tenant_manifest(names, deletion_policy, **spec),
        )
        return names

    def get(self, names: TenantNames) -> dict[str, Any] | None:
        return self.kubectl.get(TENANT, names.name, self.namespace)

    def describe(self, names: TenantNames) -> str:
        return summary(self.get(names))

    def wait_provisioned(self, names: TenantNames, timeout: float = 240) -> dict[str, Any]:
        """Database, Redis and Secret conditions True and the bot Deployment written.

        That is everything the operator does without Telegram: the bot token check and the bot
        pod itself need the Bot API (see test_tenant.py).
        """

        def done() -> dict[str, Any] | None:
            obj = self.get(names)
            if all(condition(obj, kind).get("status") == "True" for kind in ("Database", "Redis", "Secret")):
                status = (obj or {}).get("status") or {}
                deployment = status.get("deploymentName") or f"{names.name}-bot"
                if self.kubectl.get("deployment", deployment, self.namespace) is not None:
                    return obj
            return None

        return wait_for(
            f"BookingTenant {self.namespace}/{names.name} to be provisioned",
            done,
            timeout=timeout,
            describe=lambda: self.describe(names),
        )

    def wait_phase(self, names: TenantNames, wanted: str, timeout: float = 240) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            obj = self.get(names)
            return obj if phase(obj) == wanted else None

        return wait_for(
            f"BookingTenant {self.namespace}/{names.name} to reach phase {wanted}",
            reached,
            timeout=timeout,
            describe=lambda: self.describe(names),
        )

    def delete_and_wait(self, names: TenantNames, timeout: float = 180) -> None:
        self.kubectl("-n", self.namespace, "delete", TENANT, names.name, "--wait=false")
        wait_for(
            f"BookingTenant {self.namespace}/{names.name} to be gone (finalizer done)",
            lambda: self.get(names) is None,
            timeout=timeout,
            describe=lambda: self.describe(names),
        )


@dataclass(frozen=True)
class PlatformDatabase:
    """The chart's in-cluster PostgreSQL, as the StatefulSet declares it."""

    namespace: str
    service: str
    pod: str
    database: str
    secret: str
    webhook_user: str

    @property
    def host(self) -> str:
        return f"{self.service}.{self.namespace}.svc"


def env_entry(container: dict[str, Any], name: str) -> dict[str, Any]:
    for entry in container.get("env") or []:
        if entry.get("name") == name:
            return dict(entry)
    return {}


def secret_value(kubectl: Kubectl, namespace: str, name: str, key: str) -> str:
    secret = kubectl.get("secret", name, namespace)
    assert secret is not None, f"Secret {namespace}/{name} does not exist"
    data = secret.get("data") or {}
    assert key in data, f"Secret {namespace}/{name} has no key {key!r}"
    return base64.b64decode(data[key]).decode()
