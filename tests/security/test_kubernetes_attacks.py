"""Attack matrix, Kubernetes permissions as the chart grants them (rendered with the real helm),
and the same boundaries on a real API server when one is available.

The real-tier tests need a cluster reachable through $KUBECONFIG with the chart installed
(`make e2e` builds one: hack/cluster.sh); without it they skip and say so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from chart.conftest import CHART, Helm, Manifest, by_kind
from pydantic import SecretStr

from booking_operator import manifests
from booking_operator.config import OperatorSettings
from harness.pod_security import restricted_violations

DEFAULT: dict[str, Any] = {}
WEBHOOK: dict[str, Any] = {
    "webhook": {"enabled": True, "existingSecret": "booking-webhook"},
    "salesBot": {"enabled": True},
}


def _roles(manifests_: list[Manifest]) -> list[Manifest]:
    return [*by_kind(manifests_, "Role"), *by_kind(manifests_, "ClusterRole")]


def test_default_install_gives_the_operator_no_cluster_wide_write(helm: Helm) -> None:
    rendered = helm.render(DEFAULT)
    assert not by_kind(rendered, "ClusterRole"), "a ClusterRole can write Secrets in kube-system"
    (role,) = [r for r in by_kind(rendered, "Role") if r["metadata"]["name"].endswith("-operator")]
    assert role["metadata"]["namespace"] == "booking-system"
    (deployment,) = [
        d for d in by_kind(rendered, "Deployment") if d["metadata"]["name"].endswith("-operator")
    ]
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["WATCH_NAMESPACE"] == "booking-system"


def test_webhook_holds_no_secret_verb_where_tenants_credentials_live(helm: Helm) -> None:
    """get/list/watch would read every tenant's credentials, and so would patch or delete (their
    answers carry the object): in the tenant namespace the webhook has no Secret verb at all; the
    tokens it writes go to the token namespace, which holds nothing else."""
    rendered = helm.render(WEBHOOK)
    roles = [r for r in _roles(rendered) if "-webhook" in r["metadata"]["name"]]
    by_namespace = {r["metadata"]["namespace"]: r for r in roles}
    assert set(by_namespace) == {"booking-system", "booking-system-tokens"}, roles
    in_tenants = {
        v
        for rule in by_namespace["booking-system"]["rules"]
        if "secrets" in rule["resources"]
        for v in rule["verbs"]
    }
    assert not in_tenants, in_tenants
    (namespace,) = [
        n for n in by_kind(rendered, "Namespace") if n["metadata"]["name"] == "booking-system-tokens"
    ]
    assert namespace["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    workloads = [d for d in by_kind(rendered, "Deployment") if "booking-system" in json.dumps(d)]
    tokens = {
        e.get("value")
        for d in workloads
        for c in d["spec"]["template"]["spec"]["containers"]
        for e in c.get("env", [])
        if e["name"] == "TOKEN_NAMESPACE"
    }
    assert tokens == {"booking-system-tokens"}, "the webhook, sales bot and operator disagree"


def test_the_token_namespace_cannot_be_the_tenant_namespace(helm: Helm) -> None:
    values = {**WEBHOOK, "webhook": {**WEBHOOK["webhook"], "tokenNamespace": "booking-system"}}
    result = helm.template(values)
    assert result.returncode != 0 and "tokenNamespace must differ" in result.stderr, result.stderr


def test_admission_policies_ship_with_the_chart_and_bind_to_the_tenant_namespace(helm: Helm) -> None:
    rendered = helm.render(DEFAULT)
    policies = {p["metadata"]["name"]: p for p in by_kind(rendered, "ValidatingAdmissionPolicy")}
    bindings = by_kind(rendered, "ValidatingAdmissionPolicyBinding")
    assert {b["spec"]["policyName"] for b in bindings} == set(policies)
    for binding in bindings:
        assert binding["spec"]["validationActions"] == ["Deny"]
        selector = binding["spec"]["matchResources"]["namespaceSelector"]["matchLabels"]
        assert selector == {"kubernetes.io/metadata.name": "booking-system"}
    expressions = " ".join(v["expression"] for p in policies.values() for v in p["spec"]["validations"])
    assert "-credentials" in expressions and "variables.image" in expressions
    assert "system:serviceaccount:booking-system:booking-booking-saas-webhook" in expressions


def test_network_policies_are_on_by_default_for_ingress_and_egress(helm: Helm) -> None:
    policies = by_kind(helm.render(DEFAULT), "NetworkPolicy")
    assert policies, "no NetworkPolicy in a default install"
    for policy in policies:
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"], policy["metadata"]["name"]


def test_bots_reach_the_internet_only_on_443_and_never_metadata_or_cluster_networks(helm: Helm) -> None:
    (bots,) = [
        p for p in by_kind(helm.render(DEFAULT), "NetworkPolicy") if p["metadata"]["name"].endswith("-bots")
    ]
    assert bots["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/managed-by"] == "booking-operator"
    blocks = [
        peer["ipBlock"] for rule in bots["spec"]["egress"] for peer in rule.get("to", []) if "ipBlock" in peer
    ]
    (internet,) = blocks
    assert internet["cidr"] == "0.0.0.0/0"
    assert {"169.254.0.0/16", "10.0.0.0/8"} <= set(internet["except"])
    (rule,) = [r for r in bots["spec"]["egress"] if any("ipBlock" in p for p in r.get("to", []))]
    assert rule["ports"] == [{"port": 443, "protocol": "TCP"}]


@pytest.mark.parametrize("values", [DEFAULT, WEBHOOK], ids=["default", "webhook"])
def test_every_pod_the_chart_creates_passes_pod_security_restricted(
    helm: Helm, values: dict[str, Any]
) -> None:
    workloads = [m for m in helm.render(values) if m["kind"] in {"Deployment", "StatefulSet", "Pod", "Job"}]
    problems = {w["metadata"]["name"]: restricted_violations(w) for w in workloads}
    assert not {name: p for name, p in problems.items() if p}


def test_the_bot_pod_the_operator_creates_passes_pod_security_restricted() -> None:
    settings = OperatorSettings(
        operator_database_url=SecretStr("postgresql://op:pw@db:5432/booking"),
        operator_redis_url=SecretStr("redis://:pw@redis:6379/0"),
        bot_image="booking-bot:1",
    )
    spec = {"clientId": "client_001", "botTokenSecretRef": {"name": "t", "key": "token"}}
    deployment = manifests.deployment(settings, "salon", "tenants", spec, replicas=1, secret_hash="x")
    assert restricted_violations(deployment) == []


# --- The real API server tier -------------------------------------------------------------------


def _kubectl() -> str:
    kubectl = shutil.which("kubectl")
    if not kubectl or not os.environ.get("KUBECONFIG"):
        pytest.skip("needs a real API server: KUBECONFIG and kubectl (`make e2e` builds the cluster tier)")
    return kubectl


def _can_i(kubectl: str, sa: str, verb: str, resource: str, namespace: str) -> bool:
    result = subprocess.run(
        [kubectl, "auth", "can-i", verb, resource, "-n", namespace, f"--as={sa}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.stdout.strip() == "yes"


def _service_account(variable: str, default: str) -> tuple[str, str]:
    """(the release namespace, the full user name of one of its service accounts)."""
    namespace = os.environ.get("BOOKING_NAMESPACE", "booking-system")
    return namespace, f"system:serviceaccount:{namespace}:{os.environ.get(variable, default)}"


# The chart's default (namespaced) RBAC, webhook and sales bot on, rendered for a release of its
# own and applied next to whatever is installed: the e2e release is cluster-wide (its tests make a
# namespace each), so the default is checked here, as the service accounts themselves.
RBAC_RELEASE, RBAC_NAMESPACE = "secrbac", "sec-rbac"
RBAC_TOKENS = f"{RBAC_NAMESPACE}-tokens"
RBAC_TEMPLATES = (
    "operator-serviceaccount.yaml",
    "operator-rbac.yaml",
    "webhook-serviceaccount.yaml",
    "webhook-rbac.yaml",
    "token-namespace.yaml",
)


def _run(
    kubectl: str, *args: str, user: str | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    command = [kubectl, *((f"--as={user}",) if user else ()), *args]
    return subprocess.run(command, input=input, capture_output=True, text=True, timeout=60, check=False)


def _sa(name: str) -> str:
    return f"system:serviceaccount:{RBAC_NAMESPACE}:{RBAC_RELEASE}-booking-saas-{name}"


@pytest.fixture(scope="module")
def default_rbac(helm: Helm) -> Iterator[str]:
    """The default install's service accounts, Roles and token namespace on the real cluster,
    plus a tenant's credentials Secret and token Secret to go after; yields kubectl."""
    kubectl = _kubectl()
    only = [arg for template in RBAC_TEMPLATES for arg in ("--show-only", f"templates/{template}")]
    rendered = helm.run(
        "template", RBAC_RELEASE, str(CHART), "--namespace", RBAC_NAMESPACE, *only, values=WEBHOOK
    )
    assert rendered.returncode == 0, rendered.stderr
    objects = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    for obj in objects:  # helm template leaves the release namespace to `helm install`
        if obj["kind"] != "Namespace":
            obj["metadata"].setdefault("namespace", RBAC_NAMESPACE)
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": RBAC_NAMESPACE}},
        *[o for o in objects if o["kind"] == "Namespace"],
    ]
    assert [n["metadata"]["name"] for n in namespaces] == [RBAC_NAMESPACE, RBAC_TOKENS]
    victims = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": RBAC_NAMESPACE, "labels": labels},
            "stringData": {"token": "1:victim"},
        }
        for name, labels in (
            # Not labelled managed-by booking-operator: the installed release's admission
            # policy lets only its operator write those (RBAC is what is tried here).
            ("victim-credentials", {"bookingsaas.dev/client-id": "victim"}),
            ("victim-bot-token", {"bookingsaas.dev/bot-token": "true"}),
        )
    ]
    try:
        for obj in [*namespaces, *[o for o in objects if o["kind"] != "Namespace"], *victims]:
            applied = _run(kubectl, "apply", "-f", "-", input=json.dumps(obj))
            assert applied.returncode == 0, applied.stderr
        yield kubectl
    finally:
        _run(
            kubectl, "delete", "namespace", RBAC_NAMESPACE, RBAC_TOKENS, "--ignore-not-found", "--wait=false"
        )


@pytest.mark.e2e
@pytest.mark.parametrize("secret", ["victim-credentials", "victim-bot-token"])
def test_real_api_server_denies_the_webhook_every_verb_on_a_tenants_secrets(
    default_rbac: str, secret: str
) -> None:
    """As the webhook's own service account: read, patch and delete are refused by RBAC."""
    attempts = {
        "get": ("get", "secret", secret),
        "list": ("get", "secrets"),
        "patch": ("patch", "secret", secret, "--type=merge", "-p", '{"metadata":{"labels":{"x":"y"}}}'),
        "delete": ("delete", "secret", secret, "--dry-run=server"),
    }
    for verb, args in attempts.items():
        result = _run(default_rbac, "-n", RBAC_NAMESPACE, *args, user=_sa("webhook"))
        assert result.returncode != 0 and "forbidden" in result.stderr.lower(), (
            verb,
            result.stdout,
            result.stderr,
        )
    create = _run(
        default_rbac,
        "-n",
        RBAC_NAMESPACE,
        "create",
        "secret",
        "generic",
        "planted",
        "--from-literal=token=1:x",
        "--dry-run=server",
        user=_sa("webhook"),
    )
    assert create.returncode != 0 and "forbidden" in create.stderr.lower(), create.stderr


@pytest.mark.e2e
def test_real_api_server_lets_the_webhook_write_tokens_only_in_the_token_namespace(default_rbac: str) -> None:
    webhook = _sa("webhook")
    create = _run(
        default_rbac,
        "-n",
        RBAC_TOKENS,
        "create",
        "secret",
        "generic",
        "a-bot-token",
        "--from-literal=token=1:x",
        "--dry-run=server",
        user=webhook,
    )
    assert create.returncode == 0, create.stderr
    for verb in ("get", "list", "watch"):
        assert not _can_i(default_rbac, webhook, verb, "secrets", RBAC_TOKENS), verb
    operator = _sa("operator")
    assert _can_i(default_rbac, operator, "get", "secrets", RBAC_TOKENS)
    for verb in ("create", "patch", "list"):
        assert not _can_i(default_rbac, operator, verb, "secrets", RBAC_TOKENS), verb


@pytest.mark.e2e
def test_real_api_server_denies_the_operator_writing_outside_its_namespace(default_rbac: str) -> None:
    sa = _sa("operator")
    assert _can_i(default_rbac, sa, "create", "deployments", RBAC_NAMESPACE), "the rendered Role is not bound"
    for verb, resource in (("create", "deployments"), ("get", "secrets"), ("patch", "secrets")):
        assert not _can_i(default_rbac, sa, verb, resource, "kube-system"), (verb, resource)
        assert not _can_i(default_rbac, sa, verb, resource, "default"), (verb, resource)


def _tenant_refused(name: str, ref: str) -> str:
    """The API server's answer to a server-side dry run of a BookingTenant with this token ref."""
    kubectl = _kubectl()
    namespace = os.environ.get("BOOKING_NAMESPACE", "booking-system")
    tenant = (
        f"apiVersion: bookingsaas.dev/v1alpha1\nkind: BookingTenant\nmetadata: {{name: {name}}}\n"
        f"spec: {{clientId: {name.replace('-', '_')}, companyName: Attacker, botTokenSecretRef: {ref}}}\n"
    )
    result = _run(kubectl, "apply", "--dry-run=server", "-n", namespace, "-f", "-", input=tenant)
    assert result.returncode != 0, result.stdout
    return result.stderr


@pytest.mark.e2e
def test_real_api_server_refuses_a_tenant_naming_a_foreign_token_namespace() -> None:
    refusal = _tenant_refused("vap-reacher", "{name: their-bot-token, key: token, namespace: kube-system}")
    assert "token namespace" in refusal, refusal


@pytest.mark.e2e
def test_real_api_server_refuses_a_tenant_naming_a_credentials_secret() -> None:
    refusal = _tenant_refused("vap-thief", "{name: victim-credentials, key: DATABASE_PASSWORD}")
    assert "credentials" in refusal, refusal


def _server_dry_run(
    kubectl: str, namespace: str, manifest: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kubectl, "apply", "--dry-run=server", "-n", namespace, "-f", "-"],
        input=json.dumps(manifest),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.e2e
def test_real_api_server_enforces_restricted_in_the_tenant_namespace() -> None:
    """The tenant namespace carries `pod-security.kubernetes.io/enforce: restricted` (docs/operator.md):
    a privileged pod is refused there, the operator's bot pod is admitted."""
    kubectl = _kubectl()
    namespace = os.environ.get("BOOKING_NAMESPACE", "booking-system")
    labels = subprocess.run(
        [kubectl, "get", "namespace", namespace, "-o", "jsonpath={.metadata.labels}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert json.loads(labels.stdout or "{}").get("pod-security.kubernetes.io/enforce") == "restricted"
    privileged = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "psa-probe"},
        "spec": {"containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}]},
    }
    refused = _server_dry_run(kubectl, namespace, privileged)
    assert refused.returncode != 0 and "restricted" in refused.stderr, refused.stderr
    settings = OperatorSettings(
        operator_database_url=SecretStr("postgresql://op:pw@db:5432/booking"),
        operator_redis_url=SecretStr("redis://:pw@redis:6379/0"),
        bot_image="booking-bot:1",
    )
    spec = {"clientId": "psa_probe", "botTokenSecretRef": {"name": "t", "key": "token"}}
    deployment = manifests.deployment(settings, "psa-probe", namespace, spec, replicas=0, secret_hash="x")
    admitted = _server_dry_run(kubectl, namespace, deployment)
    assert admitted.returncode == 0, admitted.stderr
    assert "would violate" not in admitted.stderr, admitted.stderr
