"""NOTES.txt tells the user what to do next (rendered through `tpl` in a copy of the chart:
`helm template` does not render NOTES, and `helm install --dry-run` needs a cluster)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import CHART, SCENARIOS, Helm


@pytest.fixture(scope="module")
def notes_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chart = tmp_path_factory.mktemp("notes") / "booking-saas"
    shutil.copytree(CHART, chart)
    shutil.move(chart / "templates" / "NOTES.txt", chart / "notes.txt")
    (chart / "templates" / "notes-render.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
        'data:\n  notes: {{ tpl (.Files.Get "notes.txt") . | quote }}\n'
    )
    return chart


def _notes(helm: Helm, chart: Path, values: dict[str, Any]) -> str:
    result = helm.run(
        "template",
        "booking",
        str(chart),
        "-n",
        "booking-system",
        "--show-only",
        "templates/notes-render.yaml",
        values=values,
    )
    assert result.returncode == 0, result.stderr
    return str(yaml.safe_load(result.stdout)["data"]["notes"])


def test_notes_tell_how_to_create_and_watch_a_tenant(helm: Helm, notes_chart: Path) -> None:
    notes = _notes(helm, notes_chart, {})
    # The operator watches the release namespace by default (operator.clusterWide is false).
    assert "kubectl apply -n booking-system -f crds/tenant.yaml" in notes
    assert "kubectl get bt -w" in notes
    assert "webhook is disabled" in notes and "create secret generic" in notes


def test_notes_give_the_yookassa_notification_url_behind_an_ingress(helm: Helm, notes_chart: Path) -> None:
    notes = _notes(helm, notes_chart, SCENARIOS["ingress"])
    assert "https://pay.example.com/webhook/yookassa" in notes
    assert "helm test booking -n booking-system" in notes


def test_notes_warn_when_no_proxy_is_trusted(helm: Helm, notes_chart: Path) -> None:
    assert "WEBHOOK_TRUSTED_PROXIES is empty" in _notes(helm, notes_chart, SCENARIOS["webhook"])
