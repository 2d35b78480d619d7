"""A skipped test is a failed run unless its reason is one of the documented ones.

A missing tool (helm, chromium, pgbouncer) or a deleted file must not turn a group of tests
into silent skips that leave CI green. The allowed reasons are listed in docs/testing.md;
anything else (and any xfail) makes pytest exit non-zero and lists the culprits at the end.
"""

from __future__ import annotations

import re

import pytest

# docs/testing.md, "Skips": each pattern matches the start of one documented reason.
ALLOWED = (
    re.compile(r"benchmark: run with `make bench`"),  # tests/bench, opt-in with --run-bench
    re.compile(r"e2e: "),  # tests/e2e: needs a real cluster (and sometimes a real bot token)
    re.compile(r"needs a real API server: "),  # tests/security: the cluster tier (KUBECONFIG)
    re.compile(r"set BOOKING_BOT_IMAGE "),  # tests/bot/test_image.py: a built image and podman
    re.compile(r"set BOOKING_OPERATOR_IMAGE "),  # tests/chart/test_operator_image.py: same
)


def allowed(reason: str) -> bool:
    return any(pattern.match(reason) for pattern in ALLOWED)


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


class SkipPolicy:
    """One per pytest run (a run inside a run, as pytester makes, has its own)."""

    def __init__(self) -> None:
        self.unexpected: list[tuple[str, str]] = []

    def _check(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        if hasattr(report, "wasxfail"):
            self.unexpected.append((report.nodeid, f"xfail: {report.wasxfail or 'no reason'}"))
        elif report.skipped and not allowed(reason := _reason(report)):
            self.unexpected.append((report.nodeid, reason))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._check(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._check(report)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.unexpected:
            terminalreporter.section("skips that are not documented (docs/testing.md)", red=True)
            for nodeid, reason in self.unexpected:
                terminalreporter.line(f"{nodeid}: {reason}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.unexpected and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SkipPolicy(), "skip-policy")
