"""values.schema.json rejects wrong values, and says which value and why."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Helm

BAD_VALUES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown log level": ({"operator": {"logLevel": "LOUD"}}, "operator.logLevel"),
    "misspelt key": ({"operator": {"resourcs": {}}}, "Additional property resourcs is not allowed"),
    "watch namespace not a DNS label": (
        {"operator": {"watchNamespace": "Tenants!"}},
        "operator.watchNamespace",
    ),
    "port out of range": ({"operator": {"metricsPort": 70000}}, "operator.metricsPort"),
    "redis ACL mode": ({"operator": {"redisAcl": "maybe"}}, "operator.redisAcl"),
    "sslmode": (
        {
            "postgresql": {"enabled": False},
            "externalDatabase": {"host": "h", "existingSecret": "s", "sslmode": "on"},
        },
        "externalDatabase.sslmode",
    ),
    "external database without host": (
        {"postgresql": {"enabled": False}, "externalDatabase": {"existingSecret": "s"}},
        "externalDatabase.host",
    ),
    "external database without secret": (
        {"postgresql": {"enabled": False}, "externalDatabase": {"host": "pg"}},
        "externalDatabase.existingSecret",
    ),
    "external redis without host": ({"redis": {"enabled": False}}, "externalRedis.host"),
    "webhook without its credentials Secret": ({"webhook": {"enabled": True}}, "webhook.existingSecret"),
    "sales bot without its credentials Secret": ({"salesBot": {"enabled": True}}, "webhook.existingSecret"),
    "resources without limits": (
        {"operator": {"resources": {"requests": {"cpu": "1"}, "limits": None}}},
        "operator.resources",
    ),
    "pgbouncer pool mode": ({"pgbouncer": {"poolMode": "statement"}}, "pgbouncer.poolMode"),
    "trusted proxy not a CIDR": (
        {"webhook": {"enabled": True, "existingSecret": "s", "trustedProxies": ["nginx"]}},
        "webhook.trustedProxies",
    ),
    "plan name": (
        {
            "webhook": {
                "enabled": True,
                "existingSecret": "s",
                "plans": {"One Month": {"days": 30, "amount": "1.00"}},
            }
        },
        "webhook.plans",
    ),
    "service type": ({"webhook": {"service": {"type": "Ingress"}}}, "webhook.service.type"),
    "image tag of the database empty": ({"postgresql": {"image": {"tag": ""}}}, "postgresql.image.tag"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_schema_rejects_bad_values_naming_the_value(helm: Helm, case: str) -> None:
    values, expected = BAD_VALUES[case]
    result = helm.template(values)
    assert result.returncode != 0, f"accepted: {values}"
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr
    assert expected in result.stderr, result.stderr


def test_schema_accepts_the_defaults(helm: Helm) -> None:
    result = helm.template({})
    assert result.returncode == 0, result.stderr
