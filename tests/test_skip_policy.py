"""The suite fails when a test is skipped for a reason docs/testing.md does not list."""

from __future__ import annotations

import pytest

SUITE = """
import pytest

def test_runs():
    assert True

@pytest.mark.skip(reason={reason!r})
def test_skipped():
    pass
"""


def _pytest(pytester: pytest.Pytester) -> pytest.RunResult:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester.runpytest("-p", "harness.skip_policy", "-p", "no:randomly", "-p", "no:cacheprovider")


def _run(pytester: pytest.Pytester, reason: str) -> pytest.RunResult:
    pytester.makepyfile(test_sample=SUITE.format(reason=reason))
    return _pytest(pytester)


def test_a_skip_for_a_missing_tool_fails_the_run(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "no helm binary: run hack/install-helm.sh")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*skips that are not documented*", "*test_skipped: no helm binary*"])


@pytest.mark.parametrize(
    "reason",
    [
        "benchmark: run with `make bench`",
        "e2e: kubectl is not on PATH (install it and run `make up`; see docs/deploy.md)",
        "set BOOKING_BOT_IMAGE to a built image (needs podman)",
        "needs a real API server: KUBECONFIG and kubectl (`make e2e` builds the cluster tier)",
    ],
)
def test_a_documented_skip_keeps_the_run_green(pytester: pytest.Pytester, reason: str) -> None:
    result = _run(pytester, reason)
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, skipped=1)


def test_an_xfail_fails_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_sample="import pytest\n\n@pytest.mark.xfail(reason='later')\ndef test_x():\n    assert False\n"
    )
    result = _pytest(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
