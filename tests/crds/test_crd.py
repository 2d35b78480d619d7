"""The BookingTenant CRD: what the API server accepts, rejects and fills in, and what it documents.

Objects are checked with ``harness.crd_schema`` against the CRD's own openAPIV3Schema and CEL
rules, the checks the Kubernetes emulator used by the other tests does not make.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from booking_contract import crd
from booking_contract.client_id import RESERVED_NAMES as PLATFORM_RESERVED_NAMES
from harness.crd_schema import BOOKINGTENANT_CRD, REPO_ROOT, CrdSchema, apply_defaults, validate

SAMPLE: Path = REPO_ROOT / "crds" / "tenant.yaml"
CONTRACTS: Path = REPO_ROOT / "docs" / "contracts.md"
RESERVED_NAMES = sorted(PLATFORM_RESERVED_NAMES)  # the platform's list: the CRD must refuse each


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


CRD: dict[str, Any] = load_yaml(BOOKINGTENANT_CRD)
VERSION: dict[str, Any] = CRD["spec"]["versions"][0]
SCHEMA: dict[str, Any] = VERSION["schema"]["openAPIV3Schema"]


def sample_documents() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(SAMPLE.read_text(encoding="utf-8")))


def sample_tenant() -> dict[str, Any]:
    return next(doc for doc in sample_documents() if doc["kind"] == "BookingTenant")


def tenant(**spec: Any) -> dict[str, Any]:
    """The sample tenant with some spec fields replaced (a value of None removes the field)."""
    obj = sample_tenant()
    for key, value in spec.items():
        if value is None:
            obj["spec"].pop(key, None)
        else:
            obj["spec"][key] = value
    return obj


def payment(**fields: Any) -> dict[str, Any]:
    record = {
        "id": "2f6c7a1e-000f-5000-9000-1b2c3d4e5f60",
        "plan": "1m",
        "days": 30,
        "amount": "990.00",
        "currency": "RUB",
        "appliedAt": "2026-11-26T05:00:00Z",
    }
    record.update(fields)
    return record


def errors_on(field: str, errors: list[str]) -> list[str]:
    return [error for error in errors if error.startswith(f"{field}:") or error.startswith(f"{field}[")]


def assert_rejected(obj: dict[str, Any], field: str, old: dict[str, Any] | None = None) -> list[str]:
    errors = validate(obj, old)
    assert errors_on(field, errors), f"expected an error naming {field}, got {errors}"
    return errors_on(field, errors)


def schema_nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every field, item and map-value schema (not the anyOf branches of int-or-string)."""
    yield path or "<root>", node
    for name, prop in node.get("properties", {}).items():
        yield from schema_nodes(prop, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from schema_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from schema_nodes(node["additionalProperties"], f"{path}{{}}")


def schema_at(path: str) -> dict[str, Any] | None:
    node: dict[str, Any] | None = SCHEMA
    for name in path.strip(".").split("."):
        node = (node or {}).get("properties", {}).get(name)
    return node


def contract_section(title: str) -> str:
    text = CONTRACTS.read_text(encoding="utf-8")
    start = text.index(f"### {title}")
    end = text.find("\n#", start + 1)
    return text[start : end if end != -1 else len(text)]


def without_parentheses(text: str) -> str:
    while re.search(r"\([^()]*\)", text):
        text = re.sub(r"\([^()]*\)", "", text)
    return text


# --- the sample ------------------------------------------------------------------------------


def test_the_sample_tenant_is_valid() -> None:
    assert validate(sample_tenant()) == []


def test_the_sample_tenant_refers_to_the_sample_secret_and_its_token_key() -> None:
    secret = next(doc for doc in sample_documents() if doc["kind"] == "Secret")
    ref = sample_tenant()["spec"]["botTokenSecretRef"]
    assert secret["metadata"]["name"] == ref["name"] == "client-001-bot-token"
    assert secret["stringData"][ref["key"]] == "123456:REPLACE-WITH-YOUR-BOTFATHER-TOKEN"


def test_the_sample_tenant_has_the_documented_values() -> None:
    obj = sample_tenant()
    assert obj["metadata"]["name"] == "client-001"
    assert obj["spec"]["clientId"] == "client_001"
    assert obj["spec"]["ownerTelegramId"] == 123456789
    assert obj["spec"]["companyName"]
    assert (obj["spec"]["plan"], obj["spec"]["timezone"], obj["spec"]["language"]) == (
        "1m",
        "Europe/Moscow",
        "ru",
    )
    assert obj["spec"]["deletionPolicy"] == "Retain"


def test_the_sample_tells_the_user_to_replace_the_token() -> None:
    assert re.search(r"#.*REPLACE.*@BotFather", SAMPLE.read_text(encoding="utf-8"))


# --- clientId --------------------------------------------------------------------------------


def test_a_tenant_without_client_id_is_rejected() -> None:
    assert assert_rejected(tenant(clientId=None), "spec.clientId") == ["spec.clientId: Required value"]


@pytest.mark.parametrize(
    "client_id",
    [
        pytest.param("Client_001", id="uppercase"),
        pytest.param("ab", id="too-short"),
        pytest.param("a" * 41, id="too-long"),
        pytest.param("1client", id="leading-digit"),
        pytest.param("client-001", id="dash"),
        pytest.param("_client", id="leading-underscore"),
        pytest.param("", id="empty"),
    ],
)
def test_a_client_id_outside_the_pattern_is_rejected(client_id: str) -> None:
    assert_rejected(tenant(clientId=client_id), "spec.clientId")


@pytest.mark.parametrize("client_id", ["abc", "client_001", "a" * 40, "shop_2_spb"])
def test_a_client_id_inside_the_pattern_is_accepted(client_id: str) -> None:
    assert validate(tenant(clientId=client_id)) == []


def test_a_client_id_with_the_postgres_pg_prefix_is_rejected() -> None:
    (error,) = assert_rejected(tenant(clientId="pg_salon"), "spec.clientId")
    assert "pg_" in error


@pytest.mark.parametrize("client_id", RESERVED_NAMES)
def test_a_reserved_client_id_is_rejected(client_id: str) -> None:
    (error,) = assert_rejected(tenant(clientId=client_id), "spec.clientId")
    assert "reserved" in error


def test_changing_the_client_id_on_update_is_rejected_as_immutable() -> None:
    old = sample_tenant()
    (error,) = assert_rejected(tenant(clientId="client_002"), "spec.clientId", old=old)
    assert "immutable" in error


def test_other_spec_changes_on_update_are_accepted() -> None:
    old = sample_tenant()
    new = tenant(
        companyName="Aurora Spa",
        plan="12m",
        paidUntil="2027-11-26T00:00:00Z",
        suspended=True,
        deletionPolicy="Delete",
        language="en",
        admins=[42, 43],
        payments=[payment()],
    )
    assert validate(new, old) == []


def test_the_immutability_rule_does_not_apply_on_create() -> None:
    assert validate(tenant(clientId="client_002")) == []


# --- other spec fields -----------------------------------------------------------------------


def test_an_unknown_deletion_policy_is_rejected() -> None:
    assert_rejected(tenant(deletionPolicy="Orphan"), "spec.deletionPolicy")


@pytest.mark.parametrize("runtime", ["Shared", "Dedicated"])
def test_both_runtimes_are_accepted(runtime: str) -> None:
    assert validate(tenant(runtime=runtime)) == []


def test_an_unknown_runtime_is_rejected() -> None:
    assert_rejected(tenant(runtime="shared"), "spec.runtime")


def test_an_absent_runtime_is_left_to_the_operators_default() -> None:
    runtime = schema_at(".spec.runtime")
    assert runtime is not None and "default" not in runtime
    assert "DEFAULT_RUNTIME" in runtime["description"]


@pytest.mark.parametrize("language", ["de", "RU", ""])
def test_an_unsupported_language_is_rejected(language: str) -> None:
    assert_rejected(tenant(language=language), "spec.language")


@pytest.mark.parametrize("owner", [-1, 0, "123456789"])
def test_an_owner_telegram_id_that_is_not_a_positive_integer_is_rejected(owner: object) -> None:
    assert_rejected(tenant(ownerTelegramId=owner), "spec.ownerTelegramId")


def test_a_tenant_without_bot_token_secret_ref_is_rejected() -> None:
    assert assert_rejected(tenant(botTokenSecretRef=None), "spec.botTokenSecretRef") == [
        "spec.botTokenSecretRef: Required value"
    ]


def test_a_bot_token_secret_ref_without_a_name_is_rejected() -> None:
    assert_rejected(tenant(botTokenSecretRef={"key": "token"}), "spec.botTokenSecretRef.name")


@pytest.mark.parametrize(
    "paid_until",
    [
        pytest.param("2026-12-31", id="date-only"),
        pytest.param("tomorrow", id="words"),
        pytest.param("2026-12-31T24:00:00Z", id="hour-24"),
        pytest.param("2026-12-31 23:59:59Z", id="space-separator"),
        pytest.param("2026-12-31T23:59:59", id="no-offset"),
    ],
)
def test_a_paid_until_that_is_not_an_rfc3339_date_time_is_rejected(paid_until: str) -> None:
    assert_rejected(tenant(paidUntil=paid_until), "spec.paidUntil")


@pytest.mark.parametrize("paid_until", ["2026-12-31T23:59:59Z", "2026-12-31T23:59:59.5+03:00"])
def test_an_rfc3339_paid_until_is_accepted(paid_until: str) -> None:
    assert validate(tenant(paidUntil=paid_until)) == []


@pytest.mark.parametrize("timezone", ["Europe/Moscow", "UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+3"])
def test_an_iana_time_zone_name_is_accepted(timezone: str) -> None:
    assert validate(tenant(timezone=timezone)) == []


@pytest.mark.parametrize("timezone", ["Europe/", "+03:00", "Europe Moscow", "/Moscow"])
def test_a_time_zone_that_is_not_an_iana_name_is_rejected(timezone: str) -> None:
    assert_rejected(tenant(timezone=timezone), "spec.timezone")


def test_more_than_twenty_admins_are_rejected() -> None:
    assert_rejected(tenant(admins=list(range(1, 22))), "spec.admins")


def test_a_duplicate_admin_is_rejected() -> None:
    assert_rejected(tenant(admins=[42, 42]), "spec.admins")


def test_bot_resources_take_kubernetes_quantities() -> None:
    resources = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": 1, "memory": "128Mi"}}
    bot = {"image": "registry.local/booking-bot:1.2", "resources": resources}
    assert validate(tenant(bot=bot)) == []


def test_a_bot_resource_that_is_not_a_quantity_is_rejected() -> None:
    assert_rejected(
        tenant(bot={"resources": {"limits": {"memory": "lots"}}}), "spec.bot.resources.limits.memory"
    )


def test_an_undeclared_spec_field_is_reported_as_unknown() -> None:
    assert assert_rejected(tenant(botToken="123:abc"), "spec.botToken") == ["spec.botToken: unknown field"]


# --- the object name -------------------------------------------------------------------------


def test_a_name_longer_than_48_characters_is_rejected() -> None:
    obj = sample_tenant()
    obj["metadata"]["name"] = "t" * 49
    errors = validate(obj)
    assert len(errors) == 1
    assert "metadata.name" in errors[0]
    assert "48" in errors[0]


def test_a_name_of_48_characters_is_accepted() -> None:
    obj = sample_tenant()
    obj["metadata"]["name"] = "t" * 48
    assert validate(obj) == []


# --- payments --------------------------------------------------------------------------------


def test_applied_payments_are_accepted() -> None:
    assert validate(tenant(payments=[payment(), payment(id="second", plan="3m", days=90)])) == []


@pytest.mark.parametrize("amount", ["990", "990.0", "990.000", "-990.00", "990,00", "9.9e2"])
def test_a_payment_with_a_bad_amount_is_rejected(amount: str) -> None:
    assert_rejected(tenant(payments=[payment(amount=amount)]), "spec.payments[0].amount")


def test_payments_with_duplicate_ids_are_rejected() -> None:
    (error,) = assert_rejected(tenant(payments=[payment(), payment(days=60)]), "spec.payments[1]")
    assert "Duplicate value" in error


@pytest.mark.parametrize(
    ("field", "value"),
    [("days", 0), ("days", 3661), ("currency", "rub"), ("appliedAt", "yesterday"), ("id", "x" * 65)],
)
def test_a_payment_with_a_field_out_of_range_is_rejected(field: str, value: object) -> None:
    assert_rejected(tenant(payments=[payment(**{field: value})]), f"spec.payments[0].{field}")


def test_a_payment_without_an_id_is_rejected() -> None:
    record = payment()
    del record["id"]
    assert_rejected(tenant(payments=[record]), "spec.payments[0].id")


def test_more_than_1000_payments_are_rejected() -> None:
    payments = [payment(id=f"p{n}") for n in range(1001)]
    assert_rejected(tenant(payments=payments), "spec.payments")


# --- defaults --------------------------------------------------------------------------------


MINIMAL: dict[str, Any] = {
    "apiVersion": "bookingsaas.dev/v1alpha1",
    "kind": "BookingTenant",
    "metadata": {"name": "minimal"},
    "spec": {"clientId": "minimal", "companyName": "Minimal", "botTokenSecretRef": {"name": "minimal-bot"}},
}


@pytest.mark.parametrize(
    ("field", "default"),
    [
        ("deletionPolicy", "Retain"),
        ("suspended", False),
        ("language", "ru"),
        ("timezone", "Europe/Moscow"),
    ],
)
def test_an_omitted_spec_field_gets_its_default(field: str, default: object) -> None:
    assert apply_defaults(MINIMAL)["spec"][field] == default


def test_an_omitted_bot_token_secret_key_defaults_to_token() -> None:
    assert apply_defaults(MINIMAL)["spec"]["botTokenSecretRef"] == {"name": "minimal-bot", "key": "token"}


def test_defaulting_keeps_the_values_given_and_leaves_the_input_untouched() -> None:
    given = copy.deepcopy(MINIMAL)
    given["spec"].update(deletionPolicy="Delete", suspended=True, language="en", timezone="UTC")
    defaulted = apply_defaults(given)
    assert {k: defaulted["spec"][k] for k in ("deletionPolicy", "suspended", "language", "timezone")} == {
        "deletionPolicy": "Delete",
        "suspended": True,
        "language": "en",
        "timezone": "UTC",
    }
    assert "key" not in MINIMAL["spec"]["botTokenSecretRef"]


def test_optional_fields_without_a_default_stay_absent() -> None:
    spec = apply_defaults(MINIMAL)["spec"]
    assert not {"paidUntil", "plan", "ownerTelegramId", "admins", "bot", "payments"} & spec.keys()


def test_a_minimal_tenant_is_valid() -> None:
    assert validate(MINIMAL) == []


# --- status ----------------------------------------------------------------------------------


def full_status() -> dict[str, Any]:
    condition = {
        "type": "Ready",
        "status": "True",
        "reason": "BotRunning",
        "message": "",
        "lastTransitionTime": "2026-11-26T05:00:00Z",
        "observedGeneration": 3,
    }
    return {
        "phase": "Ready",
        "message": "the bot is running",
        "observedGeneration": 3,
        "paidUntil": "2026-12-26T05:00:00Z",
        "botUsername": "aurora_salon_bot",
        "schema": "client_001",
        "databaseRole": "client_001",
        "redisUser": "client_001",
        "secretName": "client-001-credentials",
        "deploymentName": "client-001-bot",
        "credentialsRotation": "2026-11-26",
        "lastReconcileTime": "2026-11-26T05:00:00Z",
        "conditions": [condition, {**condition, "type": "Database", "reason": "SchemaReady"}],
    }


def test_a_status_with_every_field_the_operator_writes_is_accepted() -> None:
    obj = sample_tenant()
    obj["status"] = full_status()
    assert validate(obj) == []


def test_a_status_field_the_schema_does_not_declare_is_reported_as_unknown() -> None:
    obj = sample_tenant()
    obj["status"] = {"phase": "Ready", "podName": "x"}
    assert validate(obj) == ["status.podName: unknown field"]


def test_an_unknown_phase_is_rejected() -> None:
    obj = sample_tenant()
    obj["status"] = {"phase": "Running"}
    assert_rejected(obj, "status.phase")


def test_a_condition_status_other_than_true_false_unknown_is_rejected() -> None:
    obj = sample_tenant()
    obj["status"] = full_status()
    obj["status"]["conditions"][0]["status"] = "Yes"
    assert_rejected(obj, "status.conditions[0].status")


def test_two_conditions_of_the_same_type_are_rejected() -> None:
    obj = sample_tenant()
    obj["status"] = full_status()
    obj["status"]["conditions"][1]["type"] = "Ready"
    assert_rejected(obj, "status.conditions[1]")


def test_a_bot_username_with_the_at_sign_is_rejected() -> None:
    obj = sample_tenant()
    obj["status"] = {"botUsername": "@aurora_salon_bot"}
    assert_rejected(obj, "status.botUsername")


def test_status_declares_every_field_in_the_contract() -> None:
    section = contract_section("status")
    top_level = set(re.findall(r"`([a-z][A-Za-z]*)`", without_parentheses(section)))
    assert {"phase", "conditions", "botUsername"} <= top_level  # the parsing still finds the list
    status = SCHEMA["properties"]["status"]["properties"]
    assert top_level <= status.keys()
    condition_fields = re.search(r"keyed by `type`:\s*`([^`]*)`", section)
    assert condition_fields
    expected = {field.strip() for field in without_parentheses(condition_fields.group(1)).split(",")}
    assert expected == status["conditions"]["items"]["properties"].keys()


def test_the_phases_are_exactly_the_contracts() -> None:
    phases = re.search(r"`phase` \(`([^`]*)`\)", contract_section("status"))
    assert phases
    assert SCHEMA["properties"]["status"]["properties"]["phase"]["enum"] == [
        phase.strip() for phase in phases.group(1).split(",")
    ]


def test_the_contracts_condition_types_are_valid_condition_types() -> None:
    types_line = re.search(r"Condition types: (.*)\.", contract_section("status"))
    assert types_line
    types = re.findall(r"`(\w+)`", types_line.group(1))
    assert types == list(crd.CONDITION_TYPES)  # the page lists exactly what the operator sets
    conditions = SCHEMA["properties"]["status"]["properties"]["conditions"]
    pattern = conditions["items"]["properties"]["type"]["pattern"]
    assert all(re.fullmatch(pattern, condition_type) for condition_type in types)
    assert conditions["maxItems"] >= len(types)


def test_conditions_have_the_standard_kubernetes_shape() -> None:
    conditions = SCHEMA["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert item["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert item["properties"]["lastTransitionTime"]["format"] == "date-time"
    assert item["properties"]["observedGeneration"]["format"] == "int64"
    assert set(item["required"]) == {"type", "status", "reason", "message", "lastTransitionTime"}


# --- the spec against the contract -----------------------------------------------------------


def test_spec_declares_every_field_in_the_contract() -> None:
    fields = re.findall(r"^\| `([a-zA-Z.]+)` \|", contract_section("spec"), flags=re.MULTILINE)
    assert len(fields) >= 14
    missing = [field for field in fields if schema_at(f"spec.{field}") is None]
    assert missing == []


def test_spec_requires_exactly_client_id_company_name_and_bot_token_secret_ref() -> None:
    assert set(SCHEMA["properties"]["spec"]["required"]) == {"clientId", "companyName", "botTokenSecretRef"}


def test_payments_are_a_list_map_keyed_by_id() -> None:
    payments = SCHEMA["properties"]["spec"]["properties"]["payments"]
    assert payments["x-kubernetes-list-type"] == "map"
    assert payments["x-kubernetes-list-map-keys"] == ["id"]
    assert "id" in payments["items"]["required"]


# --- the CRD itself --------------------------------------------------------------------------


def test_the_crd_names_match_the_contract() -> None:
    spec = CRD["spec"]
    assert CRD["metadata"]["name"] == "bookingtenants.bookingsaas.dev"
    assert spec["group"] == "bookingsaas.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "BookingTenant"
    assert spec["names"]["plural"] == "bookingtenants"
    assert spec["names"]["singular"] == "bookingtenant"
    assert spec["names"]["shortNames"] == ["bt"]
    assert spec["names"]["categories"] == ["bookingsaas"]


def test_the_only_version_is_v1alpha1_served_and_stored_with_a_status_subresource() -> None:
    assert [v["name"] for v in CRD["spec"]["versions"]] == ["v1alpha1"]
    assert VERSION["served"] is True
    assert VERSION["storage"] is True
    assert VERSION["subresources"] == {"status": {}}


def test_every_schema_node_has_a_description() -> None:
    undocumented = [path for path, node in schema_nodes(SCHEMA) if not node.get("description", "").strip()]
    assert undocumented == []


def test_the_schema_is_structural() -> None:
    untyped = [
        path
        for path, node in schema_nodes(SCHEMA)
        if "type" not in node and not node.get("x-kubernetes-int-or-string")
    ]
    assert untyped == []


def test_no_schema_node_preserves_unknown_fields() -> None:
    assert "x-kubernetes-preserve-unknown-fields" not in BOOKINGTENANT_CRD.read_text(encoding="utf-8")


def test_int_or_string_nodes_use_the_structural_any_of_shape() -> None:
    nodes = [node for _, node in schema_nodes(SCHEMA) if node.get("x-kubernetes-int-or-string")]
    assert nodes  # bot.resources requests and limits
    for node in nodes:
        assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}]
        assert "type" not in node


def test_every_list_is_bounded_so_cel_rules_stay_within_budget() -> None:
    unbounded = [
        path for path, node in schema_nodes(SCHEMA) if node.get("type") == "array" and "maxItems" not in node
    ]
    assert unbounded == []


def test_every_string_a_cel_rule_reads_has_a_max_length() -> None:
    ruled_strings = [
        (path, node)
        for path, node in schema_nodes(SCHEMA)
        if node.get("type") == "string" and node.get("x-kubernetes-validations")
    ]
    assert ruled_strings  # spec.clientId
    assert [path for path, node in ruled_strings if "maxLength" not in node] == []


def test_every_cel_rule_has_a_message() -> None:
    rules = [rule for _, node in schema_nodes(SCHEMA) for rule in node.get("x-kubernetes-validations", [])]
    assert len(rules) == 4
    assert all(rule.get("message") for rule in rules)


def test_printer_columns_point_at_fields_the_schema_declares() -> None:
    columns = {column["name"]: column for column in VERSION["additionalPrinterColumns"]}
    assert list(columns) == ["Client", "Plan", "Phase", "Paid Until", "Runtime", "Shard", "Bot", "Age"]
    assert columns["Bot"]["priority"] == 1
    assert columns["Shard"]["priority"] == 1
    assert columns["Age"]["jsonPath"] == ".metadata.creationTimestamp"
    for name, column in columns.items():
        if name != "Age":
            assert schema_at(column["jsonPath"]) is not None, column["jsonPath"]


def test_the_root_schema_leaves_metadata_to_the_api_server() -> None:
    # The API server refuses a CRD whose root `metadata` node says anything beyond `type: object`
    # (even a description); the CEL rule on metadata.name works without declaring it.
    assert SCHEMA["properties"].get("metadata", {"type": "object"}) == {"type": "object"}


# --- the harness on other schemas (it is shared by every component's tests) ------------------


def widget_crd(spec_schema: dict[str, Any]) -> CrdSchema:
    """A one-version CRD around ``spec_schema``, to exercise the harness beyond BookingTenant."""
    root = {"type": "object", "properties": {"spec": spec_schema}}
    version = {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": root}}
    return CrdSchema({"spec": {"versions": [version]}})


FROZEN_SIZE = {
    "type": "integer",
    "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "frozen"}],
}
ITEM = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "size": FROZEN_SIZE},
}


def test_a_transition_rule_in_a_list_map_item_compares_the_old_item_with_the_same_key() -> None:
    items = {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "items": ITEM,
    }
    crd = widget_crd({"type": "object", "properties": {"items": items}})
    old = {"spec": {"items": [{"name": "a", "size": 1}, {"name": "b", "size": 2}]}}
    reordered = {
        "spec": {"items": [{"name": "b", "size": 2}, {"name": "a", "size": 1}, {"name": "c", "size": 9}]}
    }
    assert crd.validate(reordered, old) == []
    resized = {"spec": {"items": [{"name": "a", "size": 5}]}}
    assert crd.validate(resized, old) == ["spec.items[0].size: Invalid value: frozen"]


def test_a_transition_rule_in_an_atomic_list_item_is_not_evaluated() -> None:
    crd = widget_crd({"type": "object", "properties": {"items": {"type": "array", "items": ITEM}}})
    old = {"spec": {"items": [{"name": "a", "size": 1}]}}
    assert crd.validate({"spec": {"items": [{"name": "a", "size": 5}]}}, old) == []


def test_null_is_accepted_only_where_the_schema_is_nullable() -> None:
    props = {"maybe": {"type": "string", "nullable": True}, "never": {"type": "string", "default": "d"}}
    crd = widget_crd({"type": "object", "properties": props})
    assert crd.apply_defaults({"spec": {"maybe": None, "never": None}}) == {
        "spec": {"maybe": None, "never": "d"}
    }
    assert crd.validate({"spec": {"maybe": None, "never": None}}) == []


def test_a_rule_that_cannot_be_evaluated_is_reported_not_raised() -> None:
    rule = {"rule": "self.missing == 1", "message": "never shown"}
    crd = widget_crd(
        {"type": "object", "properties": {"a": {"type": "string"}}, "x-kubernetes-validations": [rule]}
    )
    (error,) = crd.validate({"spec": {"a": "x"}})
    assert error.startswith("spec: Invalid value: evaluation error")
