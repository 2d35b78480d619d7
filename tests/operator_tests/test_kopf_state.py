"""kopf's bookkeeping moves off the platform's annotation prefix without re-running creation."""

from __future__ import annotations

import json
from pathlib import Path

from booking_contract import crd
from booking_operator.kopf_state import moved_annotations
from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.operator_process import (
    OperatorProcess,
    Platform,
    create_token_secret,
    eventually,
    operator_env,
    parse_log_lines,
    tenant_body,
)

OLD, NEW = crd.LEGACY_KOPF_PREFIX, crd.KOPF_PREFIX


def test_kopfs_records_move_to_the_new_prefix_and_the_old_marker_goes() -> None:
    patch = moved_annotations(
        {
            f"{OLD}/kopf-managed": "yes",
            f"{OLD}/last-handled-configuration": '{"spec":{}}\n',
            f"{OLD}/booking_operator.handlers.reconcile_tenant": '{"retries":1}',
        }
    )
    assert patch == {
        f"{OLD}/kopf-managed": None,
        f"{NEW}/kopf-managed": "yes",
        f"{OLD}/last-handled-configuration": None,
        f"{NEW}/last-handled-configuration": '{"spec":{}}\n',
        f"{OLD}/booking_operator.handlers.reconcile_tenant": None,
        f"{NEW}/booking_operator.handlers.reconcile_tenant": '{"retries":1}',
    }


def test_user_and_other_tools_annotations_stay_where_they_are() -> None:
    assert (
        moved_annotations(
            {
                crd.ROTATE_CREDENTIALS_ANNOTATION: "1",
                crd.MIGRATED_FROM_ANNOTATION: "client_001",
                "example.com/kopf-managed": "yes",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
            }
        )
        == {}
    )


def test_records_already_under_the_new_prefix_are_not_overwritten() -> None:
    patch = moved_annotations(
        {f"{OLD}/last-handled-configuration": "old", f"{NEW}/last-handled-configuration": "new"}
    )
    assert patch == {f"{OLD}/last-handled-configuration": None}


async def test_a_tenant_of_the_first_version_is_resumed_not_created_again(
    platform_services: Platform, own_cluster: EmulatedCluster, own_kube: KubeClient, tmp_path: Path
) -> None:
    namespace = "first-version"
    body = tenant_body("salon", "t_first_version")
    # What the first version's kopf left on every tenant it had handled.
    body["metadata"]["annotations"] = {
        f"{OLD}/kopf-managed": "yes",
        f"{OLD}/last-handled-configuration": json.dumps({"spec": body["spec"]}, separators=(",", ":")) + "\n",
    }
    await create_token_secret(own_kube, namespace)
    await own_kube.create(BOOKINGTENANTS, namespace, body)
    op = OperatorProcess(
        env=operator_env(platform_services, own_cluster, tmp_path), log_path=tmp_path / "op.log"
    )
    op.start()
    try:

        async def moved() -> dict[str, str] | None:
            tenant = await own_kube.get(BOOKINGTENANTS, namespace, "salon")
            annotations: dict[str, str] = tenant["metadata"].get("annotations") or {}
            return annotations if f"{NEW}/last-handled-configuration" in annotations else None

        annotations = await eventually(moved, what="kopf's diff base under the new prefix")
        assert f"{OLD}/kopf-managed" not in annotations
        assert f"{OLD}/last-handled-configuration" not in annotations

        def processed(kind: str) -> bool:
            return any(
                str(line.get("message", "")).startswith(f"{kind} is processed")
                and line.get("object", {}).get("name") == "salon"
                for line in parse_log_lines(op.logs())
            )

        await eventually(lambda: _async(processed("Resuming")), what="the resume handler run for the tenant")
        assert not processed("Creation")
    finally:
        op.stop()


async def _async(value: bool) -> bool:
    return value
