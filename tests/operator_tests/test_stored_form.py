"""The drift check against what a real API server stores (defect 2 of issue 10).

A real kube-apiserver drops empty `omitempty` fields (`value: ""` of an env var: every tenant
without admins has one) and stores resource quantities in canonical form (`1000m` -> `"1"`). The
operator compares the live Deployment with what it wrote; these are not edits by hand. The
end-to-end check on a real server is tests/e2e/test_bot.py::test_ready_tenant_deployment_is_left_alone.
"""

from __future__ import annotations

import copy
from typing import Any

from booking_operator import manifests
from booking_operator.manifests import is_subset


def _deployment(env: list[dict[str, Any]], resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "spec": {"template": {"spec": {"containers": [{"name": "bot", "env": env, "resources": resources}]}}}
    }


WRITTEN = _deployment(
    [{"name": "ADMIN_TELEGRAM_IDS", "value": ""}, {"name": "CLIENT_ID", "value": "t_1"}],
    {"requests": {"cpu": "1000m", "memory": "0.5Gi"}, "limits": {"cpu": 2, "memory": "1024Mi"}},
)
# What kube-apiserver v1.34 returned for WRITTEN (plus defaults it adds).
STORED = _deployment(
    [{"name": "ADMIN_TELEGRAM_IDS"}, {"name": "CLIENT_ID", "value": "t_1"}],
    {"requests": {"cpu": "1", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
)
STORED["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] = "/dev/termination-log"


def test_an_env_value_the_server_dropped_as_empty_is_not_drift() -> None:
    written = _deployment([{"name": "OWNER_TELEGRAM_ID", "value": ""}], {})
    stored = _deployment([{"name": "OWNER_TELEGRAM_ID"}], {})
    assert is_subset(written, stored)


def test_quantities_in_the_servers_canonical_form_are_not_drift() -> None:
    assert is_subset(WRITTEN, STORED)


def test_a_changed_env_value_is_drift() -> None:
    edited = copy.deepcopy(STORED)
    edited["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] = "t_2"
    assert not is_subset(WRITTEN, edited)


def test_an_env_value_set_by_hand_where_ours_is_empty_is_drift() -> None:
    edited = copy.deepcopy(STORED)
    edited["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "42"
    assert not is_subset(WRITTEN, edited)


def test_a_changed_quantity_is_drift() -> None:
    edited = copy.deepcopy(STORED)
    edited["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "2Gi"
    assert not is_subset(WRITTEN, edited)


def test_quantities_parse_like_kubernetes() -> None:
    quantity = manifests.quantity
    assert quantity("250m") == quantity("0.25")
    assert quantity("64Mi") == 64 * 2**20
    assert quantity("1k") == quantity("1e3") == 1000
    assert quantity("lots") is None
