"""Comparative interrupted time series: the long-format growth model with a step in each
person's line at their interruption, its validation, its own per-site estimates, its fits and
reports (labelled observational), and its agreement with lme4."""

import numpy as np
import pandas as pd
import pytest

import sitefx
from sitefx import SitefxInputError, StudyDataError
from sitefx.backend import double_precision
from sitefx.data.panel import GrowthPanel
from sitefx.models.growth import person_log_likelihood
from sitefx.testing import simulate_interrupted_frame
from tests.builders import (
    REFERENCE,
    assert_refused_in_one_line,
    dense_growth_panel,
    flags,
    reference,
    run_cli,
)

ROLES = {"site": "district", "outcome": "score", "treatment": "adopted", "wave": "year"}
ROLES |= {"person": "school", "interruption": "start"}
DISTRICTS = REFERENCE / "district_reading_cits.csv"


def test_person_likelihood_with_a_step_is_the_multivariate_normal_of_the_scores():
    """The Woodbury form with the step column in the mean (not in the persons' effects)
    against the dense normal, for persons scored once, before and after, and six times."""
    times = [np.array([0.0]), np.array([-1.0, 1.0]), np.linspace(-1.5, 1.5, 6)]
    scale_tril = np.array([[3.0, 0.0], [0.6, 0.8]])
    coefficients = np.array([[10.0, 1.0, 2.0], [12.0, -0.5, -1.0], [9.0, 2.0, 0.5]])
    panel, expected = dense_growth_panel(times, coefficients, scale_tril, 1.3, interruption=0.0)
    assert panel.centre == pytest.approx(0.0, abs=1e-15)  # the times sum to 0
    statistics = panel.person_statistics()
    assert statistics["xx"].shape == (3, 3, 3)
    values = double_precision(person_log_likelihood)(statistics, coefficients, scale_tril, 1.3)
    np.testing.assert_allclose(np.asarray(values), expected, rtol=1e-10)


def test_interrupted_series_stay_long_even_when_balanced_and_are_observational():
    frame, _ = simulate_interrupted_frame(4, 6, missing=0.0, seed=2)
    study = sitefx.load(frame, **ROLES)
    data = study.data
    assert isinstance(data, GrowthPanel) and data.interrupted
    assert data.n_records == len(frame) and data.n_persons == 24 and data.n_sites == 4
    assert data.units == ""  # a step in the scores: the outcome's units
    starts = frame.drop_duplicates("school")["start"].to_numpy(dtype=float)
    np.testing.assert_array_equal(data.interruption, starts)
    np.testing.assert_array_equal(data.after(), (frame["year"] >= frame["start"]).to_numpy())
    assert study.observational
    assert study.design == "comparative interrupted time series"


def test_each_site_s_own_estimate_is_the_regression_with_persons_own_intercepts():
    """The within-person estimate equals least squares with a dummy per school (the same
    model written out), site by site."""
    frame, _ = simulate_interrupted_frame(3, 9, seed=4)
    raw = sitefx.load(frame, **ROLES).data.raw_site_effects()
    for j, (_, site) in enumerate(frame.groupby("district", sort=False)):
        after = (site["year"] >= site["start"]).to_numpy(float)
        arm, year = site["adopted"].to_numpy(float), site["year"].to_numpy(float)
        dummies = pd.get_dummies(site["school"]).to_numpy(float)
        x = np.column_stack([dummies, year, after, arm * year, arm * after])
        coefficients = np.linalg.lstsq(x, site["score"].to_numpy(float), rcond=None)[0]
        assert raw.estimate[j] == pytest.approx(coefficients[-1], rel=1e-9)
    assert (raw.se > 0).all() and raw.n.tolist() == [9, 9, 9]


def _blank_comparisons_and_stagger_d2(frame: pd.DataFrame) -> np.ndarray:
    """Start years blank for comparison schools; in d2 one adopting school starts a year late."""
    start = frame["start"].where(frame["adopted"] == 1).to_numpy(dtype=float)
    return np.where(frame["school"] == "d2-0", start + 1, start)


@pytest.mark.parametrize(
    ("change", "options", "message"),
    [
        (
            lambda f: f.assign(start=f["start"].where(f.index != 2, 2013)),
            {},
            r"column 'start' must be constant within each person .* persons d0-0",
        ),
        (
            lambda f: f.assign(start=f["start"].where(f["school"] != "d0-1", np.nan)),
            {},
            r"column 'start' is missing for treated persons d0-1: a treated person's line breaks",
        ),
        (
            lambda f: f.assign(start=_blank_comparisons_and_stagger_d2(f)),
            {},
            r"column 'start' is missing for comparison persons in sites d2, whose treated "
            r"persons began at different times",
        ),
        (
            lambda f: f.assign(group=f["district"]),
            {"cluster": "group"},
            r"interrupted time series \(interruption column 'start'\) takes no moderators, "
            r"nesting levels or clusters yet \(given: group\)",
        ),
        (
            lambda f: f[~((f["district"] == "d1") & (f["adopted"] == 1) & (f["year"] >= 2016))],
            {},
            r"1 site\(s\) in column 'district' have fewer than 2 persons scored at two or more "
            r"values of 'year' before their 'start' and once or more after it in an arm of "
            r"'adopted': d1 \(\d control, 0 treated\); pass drop_incomplete_sites",
        ),
        (
            lambda f: f,
            {"wave": None, "person": None},
            r"interrupted time series \(--interruption\) needs repeated measures",
        ),
    ],
)
def test_bad_interrupted_series_are_refused_naming_column_and_persons(change, options, message):
    frame, _ = simulate_interrupted_frame(3, 6, missing=0.0, seed=5)
    with pytest.raises(StudyDataError, match=message):
        sitefx.load(change(frame), **(ROLES | options))


def test_sites_without_lines_on_both_sides_of_the_interruption_are_dropped_when_asked():
    frame, _ = simulate_interrupted_frame(3, 6, missing=0.0, seed=5)
    frame = frame[~((frame["district"] == "d1") & (frame["adopted"] == 1))]
    with pytest.warns(sitefx.DataDropWarning, match=r"dropped 1 site\(s\) with fewer than 2"):
        data = sitefx.load(frame, **ROLES, drop_incomplete_sites=True).data
    assert (
        data.site == ("d0", "d2")
        and data.accounting.rows_dropped == 0 + (frame["district"] == "d1").sum()
    )


def test_comparison_persons_without_a_start_take_their_site_s_reported():
    """Comparison schools with a blank start year read as their district's adopting schools'
    start, said in a warning; the data equal those with the years written in."""
    frame, _ = simulate_interrupted_frame(3, 6, missing=0.0, seed=5)
    blank = frame.assign(start=frame["start"].where(frame["adopted"] == 1))
    with pytest.warns(sitefx.DataReadWarning, match=r"take their site's treated persons' time"):
        filled = sitefx.load(blank, **ROLES).data
    np.testing.assert_array_equal(
        filled.interruption, sitefx.load(frame, **ROLES).data.interruption
    )


def test_site_varying_level_effects_are_refused_for_an_interrupted_series():
    frame, _ = simulate_interrupted_frame(3, 6, seed=5)
    data = sitefx.load(frame, **ROLES).data
    with pytest.raises(SitefxInputError, match=r"--level-effect varying is for growth"):
        sitefx.SiteEffects(level_effect="varying").fit(data)


@pytest.mark.filterwarnings("ignore::sitefx.SamplingWarning")  # short chains, on purpose
def test_the_command_line_fits_reports_and_labels_an_interrupted_series(tmp_path, capsys):
    frame, _ = simulate_interrupted_frame(5, 9, seed=6)
    frame.to_csv(tmp_path / "districts.csv", index=False)
    out = tmp_path / "fit"
    short = ["--chains", "2", "--draws", "150", "--warmup", "150", "--seed", "1"]
    run = run_cli(capsys, "fit", tmp_path / "districts.csv", *flags(ROLES), *short, "--out", out)
    assert run.code == 0, run.err
    fit = sitefx.open_fit(out)
    posterior, attrs = fit.posterior_["posterior"], fit.posterior_.attrs
    for name in ["shift_mean", "shift_sd", "level_difference", "trend_difference"]:
        assert posterior[name].dims == ("chain", "draw"), name
        assert f"prior_{name}" in attrs, name
    assert posterior["shift"].dims == ("chain", "draw", "site") and "level_effect" not in posterior
    assert list(posterior["theta"].site.values) == [f"d{j}" for j in range(5)]
    assert attrs["observational"] == 1
    assert attrs["study_design"] == "comparative interrupted time series"
    assert fit.posterior_["constant_data"]["interruption"].dims == ("record",)
    assert run_cli(capsys, "report", out).code == 0
    markdown = (out / "report.md").read_text()
    assert "treatment was not randomized. The effects compare steps off each unit's" in markdown
    assert "OBSERVATIONAL: treatment was not randomized; effects compare steps" in run.out
    assert "Comparative interrupted time series: effects (mu, theta) are the adopting" in markdown
    refused = run_cli(
        capsys,
        "fit",
        tmp_path / "districts.csv",
        *flags(ROLES),
        "--level-effect",
        "varying",
        "--out",
        tmp_path / "refused",
    )
    assert_refused_in_one_line(refused, "--level-effect varying is for growth")


def test_the_lme4_reference_read_the_same_data():
    """lme4 was given the same scores, centre time and step indicator."""
    lme4 = reference("district_reading_cits_lme4")
    data = sitefx.load(DISTRICTS, **ROLES).data
    note = lme4["provenance"]["data"]
    assert (note["rows"], note["schools"], note["districts"]) == (data.n_records, 180, 15)
    assert note["centre"] == pytest.approx(data.centre, rel=1e-12)
    assert note["after"] == "year >= start" and not lme4["provenance"]["singular"]


@pytest.mark.slow
def test_interrupted_series_agree_with_lme4():
    """The average effect, the comparison step and the arms' differences within a fifth of
    lme4's ML standard error of its ML estimates, with posterior SDs within 25% of those
    standard errors; persons' SDs and sigma within 5%; each district's theta within a
    quarter of its posterior SD of lme4's prediction (its BLUP plus the fixed effect)."""
    lme4 = reference("district_reading_cits_lme4")
    study = sitefx.load(DISTRICTS, **ROLES)
    fit = sitefx.SiteEffects(seed=2, chains=4, draws=1000, warmup=1000).fit(study)
    table = fit.summary().set_index("parameter")
    for name in ["mu", "shift_mean", "level_difference", "trend_difference", "growth_mean"]:
        se = lme4[f"{name}_se"]
        assert abs(table.at[name, "mean"] - lme4[name]) < 0.2 * se, name
        assert table.at[name, "sd"] == pytest.approx(se, rel=0.25), name
    for name in ["person_sd", "person_growth_sd", "sigma"]:
        assert table.at[name, "mean"] == pytest.approx(lme4[name], rel=0.05), name
    theta = fit.posterior_["posterior"]["theta"]
    blup = np.array([lme4["theta"][site] for site in theta.site.values])
    np.testing.assert_array_less(
        np.abs(theta.mean(("chain", "draw")).values - blup),
        0.25 * theta.std(("chain", "draw")).values,
    )
