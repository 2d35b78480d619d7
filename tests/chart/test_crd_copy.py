"""The chart ships the CRD from crds/: one source of truth, byte for byte."""

from __future__ import annotations

from .conftest import CHART, ROOT


def test_chart_crd_is_identical_to_the_repository_crd() -> None:
    source = ROOT / "crds" / "bookingtenants.bookingsaas.dev.yaml"
    copy = CHART / "crds" / "bookingtenants.bookingsaas.dev.yaml"
    assert copy.read_bytes() == source.read_bytes(), (
        "charts/booking-saas/crds/ differs from crds/: "
        "cp crds/bookingtenants.bookingsaas.dev.yaml charts/booking-saas/crds/"
    )


def test_chart_ships_only_the_crd_not_the_sample_tenant() -> None:
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == ["bookingtenants.bookingsaas.dev.yaml"]
