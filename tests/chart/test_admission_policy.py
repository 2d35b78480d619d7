"""The chart's ValidatingAdmissionPolicies, evaluated offline with cel-python (standard CEL, as
the API server evaluates the subset used here): variables in order, then every validation.
The same requests go to a real API server in tests/security/test_kubernetes_attacks.py."""

from __future__ import annotations

from typing import Any

import celpy
import pytest
from celpy.adapter import json_to_cel

from .conftest import NAMESPACE, Helm, Manifest, by_kind

OPERATOR = f"system:serviceaccount:{NAMESPACE}:booking-booking-saas-operator"
WEBHOOK = f"system:serviceaccount:{NAMESPACE}:booking-booking-saas-webhook"
ADMIN = "kubernetes-admin"
VALUES = {"operator": {"botImageAllowlist": ["registry.example/booking-bot:*", "mirror.example/bot:2"]}}


@pytest.fixture(scope="module")
def policies(helm: Helm) -> dict[str, Manifest]:
    rendered = by_kind(helm.render(VALUES), "ValidatingAdmissionPolicy")
    return {
        p["metadata"]["name"].rsplit("-", 2)[-2] + "-" + p["metadata"]["name"].rsplit("-", 1)[-1]: p
        for p in rendered
    }


def refusals(
    policy: Manifest, operation: str, user: str, obj: dict[str, Any] | None, old: dict[str, Any] | None = None
) -> list[str]:
    """The messages of the validations that refuse the request (an evaluation error refuses too)."""
    env = celpy.Environment()
    activation: dict[str, Any] = {
        "object": json_to_cel(obj),
        "oldObject": json_to_cel(old),
        "request": json_to_cel({"operation": operation, "userInfo": {"username": user}}),
    }
    variables: dict[str, Any] = {}
    for variable in policy["spec"].get("variables", []):
        activation["variables"] = _cel(variables)
        variables[variable["name"]] = env.program(env.compile(variable["expression"])).evaluate(activation)
    activation["variables"] = _cel(variables)
    failed = []
    for validation in policy["spec"]["validations"]:
        result = env.program(env.compile(validation["expression"])).evaluate(activation)
        if not isinstance(result, celpy.celtypes.BoolType) or not bool(result):
            failed.append(validation["message"])
    return failed


def _cel(values: dict[str, Any]) -> Any:
    return celpy.celtypes.MapType({celpy.celtypes.StringType(k): v for k, v in values.items()})


def _tenant(secret: str = "salon-bot-token", image: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"clientId": "client_001", "botTokenSecretRef": {"name": secret, "key": "token"}}
    if image:
        spec["bot"] = {"image": image}
    return {"metadata": {"name": "salon"}, "spec": spec}


def _secret(**labels: str) -> dict[str, Any]:
    return {"metadata": {"name": "s", "labels": dict(labels)}, "data": {}}


TOKEN = {"bookingsaas.dev/bot-token": "true", "app.kubernetes.io/managed-by": "booking-webhook"}
CREDENTIALS = {"app.kubernetes.io/managed-by": "booking-operator", "bookingsaas.dev/client-id": "client_001"}


def test_a_tenant_naming_a_credentials_secret_is_refused(policies: dict[str, Manifest]) -> None:
    assert refusals(policies["tenant-references"], "CREATE", ADMIN, _tenant("victim-credentials"))
    assert not refusals(policies["tenant-references"], "CREATE", ADMIN, _tenant())


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        (None, True),
        ("ghcr.io/booking-saas/booking-bot:0.1.0", True),  # the chart's bot image (bot.image)
        ("registry.example/booking-bot:canary", True),
        ("mirror.example/bot:2", True),
        ("mirror.example/bot:3", False),
        ("evil.example/miner:latest", False),
    ],
)
def test_a_tenant_image_must_be_the_bot_image_or_allow_listed(
    policies: dict[str, Manifest], image: str | None, allowed: bool
) -> None:
    refused = refusals(policies["tenant-references"], "CREATE", ADMIN, _tenant(image=image))
    assert not refused if allowed else refused


def test_ordinary_secrets_of_other_users_pass_untouched(policies: dict[str, Manifest]) -> None:
    """A missing label must not be an evaluation error (that would refuse every Secret)."""
    policy = policies["token-secrets"]
    assert not refusals(policy, "CREATE", ADMIN, {"metadata": {"name": "plain"}})
    assert not refusals(policy, "UPDATE", ADMIN, _secret(team="db"), _secret(team="db"))
    assert not refusals(policy, "DELETE", ADMIN, None, {"metadata": {"name": "plain"}})


def test_the_webhook_may_write_only_the_token_secrets_it_created(policies: dict[str, Manifest]) -> None:
    policy = policies["token-secrets"]
    assert not refusals(policy, "CREATE", WEBHOOK, _secret(**TOKEN))
    assert not refusals(policy, "UPDATE", WEBHOOK, _secret(**TOKEN), _secret(**TOKEN))
    assert not refusals(policy, "DELETE", WEBHOOK, None, _secret(**TOKEN))
    assert refusals(policy, "CREATE", WEBHOOK, _secret())
    assert refusals(policy, "UPDATE", WEBHOOK, _secret(**TOKEN), _secret(**CREDENTIALS))  # relabel to read
    assert refusals(policy, "DELETE", WEBHOOK, None, _secret(**CREDENTIALS))
    assert refusals(policy, "DELETE", WEBHOOK, None, _secret(team="db"))


def test_only_the_operator_writes_secrets_labelled_as_its_own(policies: dict[str, Manifest]) -> None:
    policy = policies["token-secrets"]
    assert not refusals(policy, "CREATE", OPERATOR, _secret(**CREDENTIALS))
    assert refusals(policy, "CREATE", ADMIN, _secret(**CREDENTIALS))
    assert refusals(policy, "UPDATE", ADMIN, _secret(), _secret(**CREDENTIALS))


def test_an_operator_secret_can_never_be_labelled_a_bot_token(policies: dict[str, Manifest]) -> None:
    both = _secret(**CREDENTIALS, **{"bookingsaas.dev/bot-token": "true"})
    assert refusals(policies["token-secrets"], "UPDATE", OPERATOR, both, _secret(**CREDENTIALS))
