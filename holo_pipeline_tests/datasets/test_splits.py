import pandas as pd
import pytest

from holo_pipeline.datasets.splits import (
    SPLITS,
    assign_splits,
    patient_leakage,
    split_coverage,
)


def _slides(spec):
    """spec: list of (slide_id, patient_id, tissue)."""
    return pd.DataFrame(spec, columns=["slide_id", "patient_id", "tissue"])


def _cohort(n_patients, tissue="prostate", slides_per_patient=2, start=0):
    return [
        (f"{tissue[:3]}-p{p:02d}-s{s}", f"p{p:02d}", tissue)
        for p in range(start, start + n_patients)
        for s in range(slides_per_patient)
    ]


def test_every_patient_in_one_split_and_every_tissue_covered():
    slides = _slides(_cohort(7, "prostate") + _cohort(3, "lung") + _cohort(1, "pap_smear"))
    out = assign_splits(slides)
    assert patient_leakage(out).empty
    coverage = split_coverage(out)
    assert (coverage.loc[["prostate", "lung"]] > 0).all().all()
    assert coverage.loc["pap_smear"].sum() == 1
    assert set(out["split"]) <= set(SPLITS)


def test_deterministic_and_independent_of_row_order():
    slides = _slides(_cohort(6) + _cohort(4, "lung"))
    a = assign_splits(slides)
    b = assign_splits(slides.sample(frac=1.0, random_state=3))
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("seed", range(5))
def test_adding_slides_never_moves_an_old_slide_and_keeps_coverage(seed):
    salt = f"salt-{seed}"
    ledger = None
    history = {}
    cohort = _cohort(9, "salivary_gland", slides_per_patient=1)
    for n in range(1, len(cohort) + 1):
        ledger = assign_splits(_slides(cohort[:n]), ledger, salt=salt)
        for row in ledger.itertuples():
            assert history.setdefault(row.slide_id, row.split) == row.split
        if n >= 3:
            assert (split_coverage(ledger).loc["salivary_gland"] > 0).all()
    # a new slide of a known patient joins that patient's split
    extra = [*cohort, ("sal-p03-late", "p03", "salivary_gland")]
    out = assign_splits(_slides(extra), ledger, salt=salt).set_index("slide_id")
    assert out.loc["sal-p03-late", "split"] == out.loc["sal-p03-s0", "split"]


def test_leakage_is_reported():
    bad = _slides([("a", "p1", "lung"), ("b", "p1", "lung"), ("c", "p2", "lung")])
    bad["split"] = ["train", "test", "val"]
    leaked = patient_leakage(bad)
    assert leaked.to_dict(orient="records") == [
        {"tissue": "lung", "patient_id": "p1", "splits": "test,train"}
    ]


def test_fractions_are_validated():
    with pytest.raises(ValueError, match="fractions"):
        assign_splits(_slides(_cohort(2)), fractions=(0.5, 0.5, 0.5))
