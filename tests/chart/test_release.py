"""The release path, checked offline: the workflows are valid GitHub Actions workflows, every
action is pinned by commit digest, the images they push are the images the chart deploys by
default, and the chart's appVersion is every package's version (the tag a release needs).

Nothing here can push an image; what can be known before a tag is pushed is checked.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import CHART, ROOT, Helm

WORKFLOWS = ROOT / ".github" / "workflows"
RELEASE = WORKFLOWS / "release.yml"
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
PLATFORM_IMAGES = {"operator": "booking-operator", "bot": "booking-bot", "webhook": "booking-webhook"}


def _load(path: Path) -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load(path.read_text())
    return workflow


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _check_schema(*paths: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with its vendored copy of SchemaStore's GitHub workflow schema (offline)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return values


def _app_version() -> str:
    return str(yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"])


def test_there_is_a_ci_workflow_running_the_ci_script_and_a_release_workflow_on_version_tags() -> None:
    ci = _load(WORKFLOWS / "ci.yml")
    assert any(step.get("run") == "bash .ci/run" for step in _steps(ci))
    release: dict[Any, Any] = _load(RELEASE)
    triggers = release[True]  # PyYAML reads the key `on` as a boolean
    assert triggers == {"push": {"tags": ["v*"]}}


def test_every_workflow_is_valid_by_the_github_workflow_schema() -> None:
    result = _check_schema(*sorted(WORKFLOWS.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  test:\n    run-on: ubuntu-24.04\n    steps: [{run: 'true'}]\n")
    assert _check_schema(broken).returncode != 0


def test_every_action_is_pinned_by_a_full_commit_digest_with_its_version_in_a_comment() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        uses = [step["uses"] for step in _steps(_load(path)) if "uses" in step]
        assert uses, path
        assert [u for u in uses if not PINNED.match(u)] == [], path
        for line in path.read_text().splitlines():
            if "uses:" in line:
                assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


def test_the_release_builds_each_platform_image_for_amd64_and_arm64_from_the_repository_root() -> None:
    release = _load(RELEASE)
    matrix = release["jobs"]["images"]["strategy"]["matrix"]["include"]
    assert {entry["image"] for entry in matrix} == set(PLATFORM_IMAGES.values())
    for entry in matrix:
        assert (ROOT / entry["dockerfile"]).is_file(), entry
    (build,) = [s for s in _steps(release) if s.get("uses", "").startswith("docker/build-push-action@")]
    assert build["with"]["context"] == "."
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    tag = "${{ needs.version.outputs.registry }}/${{ matrix.image }}:${{ needs.version.outputs.version }}"
    assert build["with"]["tags"] == tag


def test_the_release_pushes_to_the_owners_ghcr_namespace_and_the_chart_to_its_charts_repository() -> None:
    text = RELEASE.read_text()
    assert "OWNER: ${{ github.repository_owner }}" in text
    assert 'echo "registry=ghcr.io/${OWNER,,}"' in text  # GHCR names are lowercase
    assert 'helm push dist/booking-saas-*.tgz "oci://$REGISTRY/charts"' in text


def test_the_chart_defaults_to_the_released_images_under_the_upstream_owner() -> None:
    values = _values()
    assert values["imageRegistry"] == "ghcr.io/booking-saas"
    # The release rewrites this very line for a fork (`sed "s|^imageRegistry: .*|..."`).
    assert re.search(r"^imageRegistry: ghcr.io/booking-saas$", (CHART / "values.yaml").read_text(), re.M)
    for component, image in PLATFORM_IMAGES.items():
        assert values[component]["image"]["repository"] == image
        assert values[component]["image"]["tag"] == ""  # = the chart's appVersion


def test_the_rendered_chart_runs_the_images_a_release_of_its_app_version_pushes(helm: Helm) -> None:
    manifests = helm.render(
        {"webhook": {"enabled": True, "existingSecret": "w"}, "salesBot": {"enabled": True}}
    )
    images = set()
    for manifest in manifests:
        if manifest["kind"] in ("Deployment", "Pod"):
            spec = manifest["spec"] if manifest["kind"] == "Pod" else manifest["spec"]["template"]["spec"]
            for container in spec["containers"]:
                images.add(container["image"])
                images.update(e["value"] for e in container.get("env", []) if e["name"] == "BOT_IMAGE")
    expected = {f"ghcr.io/booking-saas/{image}:{_app_version()}" for image in PLATFORM_IMAGES.values()}
    assert expected <= images, images


def test_an_empty_image_registry_deploys_bare_local_names(helm: Helm) -> None:
    """What `make up` does: images loaded into kind under their bare names."""
    manifests = helm.render({"imageRegistry": "", "operator": {"image": {"tag": "dev"}}})
    (operator,) = [m for m in manifests if m["kind"] == "Deployment" and "operator" in m["metadata"]["name"]]
    assert operator["spec"]["template"]["spec"]["containers"][0]["image"] == "booking-operator:dev"


@pytest.mark.parametrize(
    "pyproject", sorted(p for p in ROOT.glob("*/pyproject.toml")), ids=lambda p: p.parent.name
)
def test_every_package_version_is_the_charts_app_version(pyproject: Path) -> None:
    version = tomllib.loads(pyproject.read_text())["project"]["version"]
    assert version == _app_version(), (
        f"{pyproject.relative_to(ROOT)}: bump it with the chart (docs/releasing.md)"
    )


def test_the_changelog_has_a_section_for_the_app_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog
    assert re.search(rf"^## \[{re.escape(_app_version())}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M)


def test_the_chart_version_is_its_app_version() -> None:
    """One number per release (docs/releasing.md): a chart-only fix is a patch release of everything."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert str(chart["version"]) == _app_version()
