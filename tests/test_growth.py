"""Repeated measures (--wave/--person): growth per person as the outcome, its validation, and
recovery of site-varying effects on growth."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import sitefx
from sitefx import DataDropWarning, StudyDataError
from sitefx.data import load
from sitefx.data.panel import GrowthPanel
from tests.builders import REFERENCE, bundled_study

WAVES = np.array([0.0, 1.0, 2.0, 3.0])


def long_frame(n_sites=30, per_site=40, mu=0.5, tau=0.3, seed=0):
    """Scores at four waves; growth 1 + theta_j in treated and 1 + site noise in control."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(mu, tau, n_sites)
    control_growth = 1.0 + rng.normal(0, 0.4, n_sites)
    rows = []
    for j in range(n_sites):
        for i in range(per_site):
            treated = i % 2
            intercept = rng.normal(50, 5)
            slope = control_growth[j] + treated * theta[j] + rng.normal(0, 0.5)
            for wave in WAVES:
                score = intercept + slope * wave + rng.normal(0, 2)
                rows.append((f"s{j}", f"s{j}-{i}", treated, wave, score, rng.normal()))
    frame = pd.DataFrame(rows, columns=["school", "pupil", "treated", "year", "score", "noise"])
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame, theta


ROLES = {
    "site": "school",
    "outcome": "score",
    "treatment": "treated",
    "wave": "year",
    "person": "pupil",
}


def test_person_slopes_are_least_squares_growth():
    frame, _ = long_frame(n_sites=2, per_site=4)
    data = load(frame, **ROLES).data
    assert data.n_records == 8 and data.units == "change in 'score' per unit of 'year'"
    pupil = frame[frame["pupil"] == "s1-2"]
    expected = np.polyfit(pupil["year"], pupil["score"], 1)[0]
    assert data.site == ("s0", "s1")
    assert data.outcome[4 + 2] == pytest.approx(expected)


def test_two_waves_give_gain_scores():
    frame, _ = long_frame(n_sites=2, per_site=4)
    two = frame[frame["year"].isin([0.0, 2.0])]
    data = load(two, **ROLES).data
    wide = two.pivot(index="pupil", columns="year", values="score")
    gains = (wide[2.0] - wide[0.0]) / 2
    np.testing.assert_allclose(np.sort(data.outcome), np.sort(gains.to_numpy()))


def test_recovers_site_varying_effects_on_growth():
    frame, theta = long_frame(seed=1)
    fit = sitefx.SiteEffects(seed=2).fit(load(frame, **ROLES))
    table = fit.summary().set_index("parameter")
    assert abs(table.at["mu", "mean"] - 0.5) < 3.5 * table.at["mu", "sd"]
    draws = fit.posterior_["posterior"]["theta"]
    theta = xr.DataArray(theta, coords={"site": [f"s{j}" for j in range(len(theta))]})
    inside = (draws.quantile(0.025, ("chain", "draw")) < theta) & (
        theta < draws.quantile(0.975, ("chain", "draw"))
    )
    assert inside.mean() > 0.85
    assert fit.data_.accounting.rows_read == len(frame)


def test_unbalanced_waves_go_long_or_with_a_cluster_are_refused_or_dropped():
    """A missed wave makes the data a long growth panel (tests/test_growth_long.py), with
    baseline covariates too; with a cluster, which that model takes not yet, persons missing
    waves are refused, or dropped with drop_missing as before (the growth-rate model of the
    complete persons)."""
    frame, _ = long_frame(n_sites=2, per_site=6)
    frame["pretest"] = frame.groupby("pupil")["noise"].transform("first")
    frame["classroom"] = frame["school"]
    missing = frame.drop(index=frame.index[(frame["pupil"] == "s0-1") & (frame["year"] == 3)])
    panel = load(missing, **ROLES, covariates=["pretest"]).data
    assert isinstance(panel, GrowthPanel) and panel.n_persons == 12
    assert panel.covariate_names == ("pretest",)
    with pytest.raises(StudyDataError, match=r"persons s0-1 lack some of the waves 0, 1, 2, 3"):
        load(missing, **ROLES, cluster="classroom")
    frame.loc[(frame["pupil"] == "s0-1") & (frame["year"] == 3), "score"] = np.nan
    with pytest.warns(DataDropWarning):
        data = load(frame, **ROLES, cluster="classroom", drop_missing=True).data
    assert data.n_records == 11
    assert data.accounting.rows_dropped == 4  # the missing score, then the pupil's other rows


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(treated=np.arange(len(f)) % 2), "'treated' must be constant within"),
        (lambda f: pd.concat([f, f.iloc[[0]]]), "more than one row for a value of 'year'"),
        (lambda f: f[f["year"] == 0], "needs at least 2 waves"),
    ],
)
def test_inconsistent_repeated_measures_are_refused(change, message):
    frame, _ = long_frame(n_sites=2, per_site=4)
    with pytest.raises(StudyDataError, match=message):
        load(change(frame), **ROLES)


def test_a_wave_column_needs_a_person_id():
    frame, _ = long_frame(n_sites=2, per_site=4)
    with pytest.raises(StudyDataError, match=r"both a wave column \(--wave\) and a person id"):
        load(frame, **{**ROLES, "person": None})


def test_tutoring_growth_close_to_lme4():
    """The bundled study against lme4 REML (tests/reference/tutoring_growth_lme4.json).

    The slopes-as-outcomes model sitefx fits equals lme4's fit of the long data with
    uncorrelated starting levels and growth (``block_diagonal_check``, and the two-stage fit):
    mu within 0.1 REML SE, posterior SD within 15% of the SE, tau and alpha_sd medians within
    20%, sigma (the spread of pupils' slopes) within 2%. The full long-data model, whose
    starting levels correlate with growth, gives the same mu.
    """
    reference = json.loads((REFERENCE / "tutoring_growth_lme4.json").read_text())
    study = bundled_study("tutoring_growth")
    table = sitefx.SiteEffects(seed=3).fit(study).summary().set_index("parameter")
    two_stage = reference["two_stage"]
    for name in ["mu", "alpha_mean"]:
        se = two_stage["mu_se" if name == "mu" else "alpha_se"]
        assert abs(table.at[name, "mean"] - two_stage[name]) < 0.1 * se, name
        assert table.at[name, "sd"] == pytest.approx(se, rel=0.15), name
    for name in ["tau", "alpha_sd"]:
        assert table.at[name, "q50"] == pytest.approx(two_stage[name], rel=0.2), name
    assert table.at["sigma", "mean"] == pytest.approx(two_stage["sigma"], rel=0.02)
    assert reference["full"]["mu"] == pytest.approx(two_stage["mu"], rel=1e-8)
    assert reference["block_diagonal_check"]["tau"] == pytest.approx(two_stage["tau"], rel=1e-4)
