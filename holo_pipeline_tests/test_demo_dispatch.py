"""The demo's order of a tick's runs over its worker processes."""

from __future__ import annotations

from holo_pipeline.demo import _expected_cost
from holo_pipeline.profile import load_profile


def test_a_tick_of_transfer_runs_starts_with_the_longest() -> None:
    """Transfer runs go out by M, then Nt/N, longest first, so that the tick does not end on one
    long run beside idle workers; runs of other assets keep their order."""
    keys = load_profile("demo").plan.partition_keys()
    requests = [(["transferred_models"], key, {}) for key in keys]
    ordered = [pk for _, pk, _ in sorted(requests, key=_expected_cost, reverse=True)]
    assert sorted(ordered) == sorted(keys)
    assert all(("-m4-" in pk) for pk in ordered[:6])
    assert all(pk.startswith("prostate-") for pk in ordered[-6:])
    slides = [(["super_resolved_holograms", "autofocused_heights"], f"s{i}", {}) for i in range(5)]
    assert sorted(slides, key=_expected_cost, reverse=True) == slides
