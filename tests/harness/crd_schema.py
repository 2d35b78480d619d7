"""Custom objects checked against their CRD's own openAPIV3Schema, as an API server would.

The Kubernetes emulator used in tests stores whatever it is given. This module stands in for the
API server's handling of a custom resource write, in the order the API server applies it:

1. structural defaulting (``apply_defaults``): missing fields that declare a ``default`` are
   filled, also inside defaults just set; ``null`` in a non-nullable field is dropped (then
   defaulted);
2. OpenAPI value validation with ``jsonschema`` (Draft 2020-12): ``x-kubernetes-int-or-string``,
   ``nullable``, integer formats ``int32``/``int64`` (as bounds) and RFC 3339 ``date-time``/``date``
   formats really checked (a ``T`` separator and an offset are required, as by the API server;
   impossible dates such as February 30th are rejected too, which the API server, checking only
   month <= 12 and day <= 31, lets through); fields the schema does not declare are reported as
   ``unknown field`` (what ``kubectl apply`` reports with its default strict field validation; a
   lenient API server would silently prune them, which is worse for whoever wrote them);
3. ``x-kubernetes-list-type`` ``map`` (unique keys) and ``set`` (unique items);
4. ``x-kubernetes-validations`` CEL rules, with ``cel-python``: ``self`` is bound to the value at
   the rule's node (date-time strings as CEL timestamps), each rule only where its node is present.
   Transition rules (those that mention ``oldSelf``) are evaluated on update only, when the old
   object has a value at the same place (correlated through object fields and list-map keys, as
   Kubernetes does), and skipped on create.

Not emulated: Kubernetes' CEL extension libraries (``quantity()``, ``url()``, ``isSorted()``...,
which cel-python lacks), ``messageExpression``, ``optionalOldSelf``, validation ratcheting of
unchanged invalid values, CEL cost limits, and ObjectMeta validation beyond the schema.

Use :func:`validate` and :func:`apply_defaults` for a BookingTenant, or :class:`CrdSchema` for any
CRD file.
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import yaml
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

REPO_ROOT = Path(__file__).resolve().parents[2]
BOOKINGTENANT_CRD = REPO_ROOT / "crds" / "bookingtenants.bookingsaas.dev.yaml"

_RFC3339_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)
_RFC3339_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_INT_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_TYPE_CHECKS: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}
_OLD_SELF = re.compile(r"\boldSelf\b")


def parse_date_time(value: str) -> datetime.datetime | None:
    """An RFC 3339 date-time (offset required, as Kubernetes writes them), or None if it is not one."""
    if not _RFC3339_DATE_TIME.match(value):
        return None
    normalised = value[:10] + "T" + value[11:].upper().replace("Z", "+00:00")
    try:
        return datetime.datetime.fromisoformat(normalised)
    except ValueError:  # e.g. month 13 or February 30th: the shape matched, the calendar did not
        return None


def _format_checker() -> jsonschema.FormatChecker:
    # A checker of our own: jsonschema's built-in date-time check silently passes everything
    # unless the optional rfc3339-validator package is installed.
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("date-time")  # type: ignore[untyped-decorator]
    def _is_date_time(value: object) -> bool:
        return not isinstance(value, str) or parse_date_time(value) is not None

    @checker.checks("date")  # type: ignore[untyped-decorator]
    def _is_date(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _RFC3339_DATE.match(value):
            return False
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            return False
        return True

    return checker


def to_json_schema(node: Mapping[str, Any], *, resource_root: bool = False) -> dict[str, Any]:
    """Translate a structural OpenAPI v3 schema node into JSON Schema (Draft 2020-12)."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "default", "example", "externalDocs"):
            continue
        if key == "properties":
            out[key] = {name: to_json_schema(prop) for name, prop in value.items()}
        elif key in ("items", "not"):
            out[key] = to_json_schema(value)
        elif key == "additionalProperties":
            out[key] = to_json_schema(value) if isinstance(value, Mapping) else value
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [to_json_schema(branch) for branch in value]
        elif key in ("format", "minimum", "maximum") and node.get("type") == "integer":
            continue  # merged with the integer format's bounds below
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            continue  # OpenAPI 3.0 booleans, translated below
        else:
            out[key] = copy.deepcopy(value)
    if node.get("type") == "integer":
        low, high = _INT_BOUNDS.get(node.get("format", ""), (None, None))
        for bound, limit, pick in (("minimum", low, max), ("maximum", high, min)):
            declared = node.get(bound)
            chosen = limit if declared is None else declared if limit is None else pick(limit, declared)
            if chosen is not None:
                out[bound] = chosen
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if node.get(exclusive) is True and bound in node:
            out[exclusive] = out.pop(bound, node[bound])
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if resource_root:
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if (
        node.get("type") == "object"
        and "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if node.get("x-kubernetes-embedded-resource"):
        out.pop("additionalProperties", None)
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        elif "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key}]"


def _path_of(parts: Iterable[str | int]) -> str:
    path = ""
    for part in parts:
        path = _join(path, part)
    return path


def _has_type(schema: Mapping[str, Any], value: object) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, int | str) and not isinstance(value, bool)
    expected = _TYPE_CHECKS.get(schema.get("type", ""), ())
    if not expected:
        return True
    if isinstance(value, bool) and bool not in expected:
        return False
    return isinstance(value, expected)


def _to_cel(schema: Mapping[str, Any], value: Any) -> Any:
    """A JSON value as the CEL value Kubernetes binds for this schema node."""
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        fields = {}
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, Mapping) else {})
            fields[celtypes.StringType(key)] = _to_cel(sub, item)
        return celtypes.MapType(fields)
    if isinstance(value, list):
        items = schema.get("items", {})
        return celtypes.ListType([_to_cel(items, item) for item in value])
    if isinstance(value, str) and schema.get("format") == "date-time":
        parsed = parse_date_time(value)
        if parsed is not None:
            return celtypes.TimestampType(parsed)
    return json_to_cel(value)


def _list_key(item: Any, keys: list[str]) -> tuple[str, ...] | None:
    if not isinstance(item, dict):
        return None
    return tuple(json.dumps(item.get(key), sort_keys=True) for key in keys)


class CrdSchema:
    """One version of a CustomResourceDefinition's schema, ready to default and validate objects."""

    def __init__(self, crd: Mapping[str, Any], version: str | None = None) -> None:
        self.crd = crd
        versions = crd["spec"]["versions"]
        chosen = next((v for v in versions if v["name"] == version), None) if version else None
        if chosen is None:
            chosen = next(v for v in versions if v.get("storage"))
        self.version: str = chosen["name"]
        self.schema: dict[str, Any] = chosen["schema"]["openAPIV3Schema"]
        self._validator = jsonschema.Draft202012Validator(
            to_json_schema(self.schema, resource_root=True), format_checker=_format_checker()
        )
        self._cel = celpy.Environment()
        self._programs: dict[str, Any] = {}

    @classmethod
    def load(cls, path: Path | str, version: str | None = None) -> CrdSchema:
        crd = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return cls(crd, version)

    # -- defaulting ---------------------------------------------------------------------------

    def apply_defaults(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``obj`` with the schema's defaults filled in, as the API server stores it."""
        result = copy.deepcopy(dict(obj))
        _default(self.schema, result)
        return result

    # -- validation ---------------------------------------------------------------------------

    def validate(self, obj: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> list[str]:
        """Error messages for writing ``obj`` (a create, or an update of ``old``); empty = accepted.

        Both objects are defaulted first, as the API server does before validating.
        """
        new = self.apply_defaults(obj)
        previous = self.apply_defaults(old) if old is not None else None
        errors = [
            message
            for error in self._validator.iter_errors(new)
            for message in self._schema_error_message(error)
        ]
        self._walk(self.schema, new, previous, "", errors)
        return errors

    def _schema_error_message(self, error: jsonschema.ValidationError) -> list[str]:
        path = _path_of(error.absolute_path)
        if error.validator == "required":
            match = re.match(r"^'(.*)' is a required property$", error.message)
            name = match.group(1) if match else error.message
            return [f"{_join(path, name)}: Required value"]
        if error.validator == "additionalProperties" and error.validator_value is False:
            declared = error.schema.get("properties", {})
            instance = error.instance if isinstance(error.instance, dict) else {}
            return [f"{_join(path, key)}: unknown field" for key in instance if key not in declared]
        if error.validator == "format":
            return [f"{path}: Invalid value: {error.instance!r}: must be an RFC 3339 {error.validator_value}"]
        return [f"{path or '<root>'}: Invalid value: {error.message}"]

    def _walk(self, schema: Mapping[str, Any], value: Any, old: Any, path: str, errors: list[str]) -> None:
        if value is None or not _has_type(schema, value):
            return  # the schema validation above has reported it (or it is an absent optional field)
        for rule in schema.get("x-kubernetes-validations", ()):
            self._check_rule(rule, schema, value, old, path, errors)
        if isinstance(value, dict):
            props = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for key, item in value.items():
                sub = props.get(key, extra if isinstance(extra, Mapping) else None)
                if sub is not None:
                    old_item = old.get(key) if isinstance(old, dict) else None
                    self._walk(sub, item, old_item, _join(path, key), errors)
        elif isinstance(value, list):
            self._walk_list(schema, value, old, path, errors)

    def _walk_list(
        self, schema: Mapping[str, Any], value: list[Any], old: Any, path: str, errors: list[str]
    ) -> None:
        items = schema.get("items", {})
        list_type = schema.get("x-kubernetes-list-type", "atomic")
        keys: list[str] = list(schema.get("x-kubernetes-list-map-keys", ()))
        old_by_key: dict[tuple[str, ...], Any] = {}
        if list_type == "map" and isinstance(old, list):
            for old_item in old:
                old_key = _list_key(old_item, keys)
                if old_key is not None:
                    old_by_key.setdefault(old_key, old_item)
        seen: set[str] = set()
        for index, item in enumerate(value):
            item_path = _join(path, index)
            if list_type == "map":
                key = _list_key(item, keys)
                marker = json.dumps(key)
                if key is not None and marker in seen:
                    shown = {name: item.get(name) for name in keys}
                    errors.append(f"{item_path}: Duplicate value: {json.dumps(shown)}")
                seen.add(marker)
                old_item = old_by_key.get(key) if key is not None else None
            else:
                if list_type == "set":
                    marker = json.dumps(item, sort_keys=True)
                    if marker in seen:
                        errors.append(f"{item_path}: Duplicate value: {marker}")
                    seen.add(marker)
                old_item = None  # Kubernetes correlates old and new items of map lists only
            self._walk(items, item, old_item, item_path, errors)

    def _check_rule(
        self,
        rule: Mapping[str, Any],
        schema: Mapping[str, Any],
        value: Any,
        old: Any,
        path: str,
        errors: list[str],
    ) -> None:
        expression: str = rule["rule"]
        activation = {"self": _to_cel(schema, value)}
        if _OLD_SELF.search(expression):
            if old is None or not _has_type(schema, old):
                return  # a transition rule: only on update, where the old object has this value too
            activation["oldSelf"] = _to_cel(schema, old)
        where = path or "<root>"
        try:
            outcome = self._program(expression).evaluate(activation)
        except CELEvalError as error:
            errors.append(f"{where}: Invalid value: evaluation error in rule {expression!r}: {error.args[0]}")
            return
        if isinstance(outcome, CELEvalError):
            errors.append(
                f"{where}: Invalid value: evaluation error in rule {expression!r}: {outcome.args[0]}"
            )
        elif outcome is not True and not (isinstance(outcome, celtypes.BoolType) and bool(outcome)):
            message = rule.get("message") or f"failed rule: {expression}"
            errors.append(f"{where}: Invalid value: {message}")

    def _program(self, expression: str) -> Any:
        program = self._programs.get(expression)
        if program is None:
            program = self._cel.program(self._cel.compile(expression))
            self._programs[expression] = program
        return program


def _default(schema: Mapping[str, Any], value: Any) -> None:
    """Fill defaults into ``value`` in place, top-down, the way the API server's defaulting does."""
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get("properties", {})
        for key, sub in props.items():
            if key in value and value[key] is None and not sub.get("nullable"):
                del value[key]  # pruned, then possibly defaulted below
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, Mapping) else None)
            if sub is not None:
                _default(sub, item)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for item in value:
                _default(items, item)


@functools.cache
def bookingtenant_schema() -> CrdSchema:
    """The BookingTenant CRD of this repository (crds/), loaded once."""
    return CrdSchema.load(BOOKINGTENANT_CRD)


def validate(obj: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> list[str]:
    """Error messages the API server would answer a BookingTenant write with; empty = accepted."""
    return bookingtenant_schema().validate(obj, old)


def apply_defaults(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A BookingTenant with the CRD's defaults filled in, as the API server would store it."""
    return bookingtenant_schema().apply_defaults(obj)
