"""Unbalanced repeated measures: the long-format growth model (persons' levels and growth
integrated out), its validation, its fits and reports, and its agreement with brms and lme4."""

import numpy as np
import pandas as pd
import pytest

import sitefx
from sitefx import SitefxInputError, StudyDataError
from sitefx.backend import double_precision
from sitefx.data.panel import GrowthPanel
from sitefx.families import family_of
from sitefx.models.growth import person_log_likelihood
from sitefx.testing import simulate_growth_frame
from tests.builders import (
    REFERENCE,
    assert_agrees_with_brms,
    assert_site_effects_near,
    dense_growth_panel,
    reference,
)

ROLES = {"site": "school", "outcome": "score", "treatment": "treated", "wave": "year"}
ROLES |= {"person": "pupil"}
UNBALANCED = REFERENCE / "tutoring_growth_unbalanced.csv"
UNBALANCED_ROLES = {**ROLES, "treatment": "tutored"}


def test_person_likelihood_is_the_multivariate_normal_of_the_scores():
    """The Woodbury form against the dense normal, for persons with 1, 2 and 4 scores."""
    times = [np.array([0.4]), np.array([-1.0, 0.5]), np.array([-1.5, -0.4, 0.6, 1.4])]
    scale_tril = np.array([[3.0, 0.0], [0.6, 0.8]])
    coefficients = np.array([[10.0, 1.0], [12.0, -0.5], [9.0, 2.0]])
    panel, expected = dense_growth_panel(times, coefficients, scale_tril, 1.3)
    assert panel.centre == pytest.approx(0.0, abs=1e-15)  # the times sum to 0
    statistics = panel.person_statistics()
    values = double_precision(person_log_likelihood)(statistics, coefficients, scale_tril, 1.3)
    np.testing.assert_allclose(np.asarray(values), expected, rtol=1e-10)


def test_unbalanced_waves_are_kept_long_with_one_score_persons():
    frame, _ = simulate_growth_frame(4, 10, seed=3)
    frame = frame[~((frame["pupil"] == "s0-0") & (frame["year"] > 0.7))]  # one score left
    study = sitefx.load(frame, **ROLES)
    data = study.data
    assert isinstance(data, GrowthPanel) and family_of(data).name == "long growth"
    assert data.n_records == len(frame) and data.n_persons == 40 and data.n_sites == 4
    assert data.accounting.rows_dropped == 0
    assert data.units == "change in 'score' per unit of 'year'"
    assert frame.groupby("pupil").size()["s0-0"] == 1  # kept, it informs the levels
    assert data.centre == pytest.approx(frame["year"].mean())
    raw = data.raw_site_effects()
    assert np.isfinite(raw.estimate).all() and (raw.se > 0).all()
    assert data.covariates.shape == (40, 0)


def test_baseline_covariates_stay_one_per_person_and_missing_ones_drop_persons():
    frame, _ = simulate_growth_frame(3, 8, seed=4)
    frame = frame[~((frame["pupil"] == "s0-0") & (frame["year"] > 0.7))]
    frame["pretest"] = frame["pupil"].str.len() + frame["treated"]
    data = sitefx.load(frame, **ROLES, covariates=["pretest"]).data
    assert isinstance(data, GrowthPanel) and data.covariate_names == ("pretest",)
    first = frame.drop_duplicates("pupil")["pretest"].to_numpy(dtype=float)
    np.testing.assert_array_equal(data.covariates[:, 0], first)
    frame.loc[frame["pupil"] == "s2-1", "pretest"] = np.nan
    with pytest.warns(sitefx.DataDropWarning):
        data = sitefx.load(frame, **ROLES, covariates=["pretest"], drop_missing=True).data
    assert data.n_persons == 23
    assert data.accounting.rows_dropped == (frame["pupil"] == "s2-1").sum()


def test_missing_scores_are_dropped_as_rows_not_persons():
    frame, _ = simulate_growth_frame(3, 8, seed=4)
    frame.loc[2, "score"] = np.nan
    with pytest.warns(sitefx.DataDropWarning):
        data = sitefx.load(frame, **ROLES, drop_missing=True).data
    assert data.n_records == len(frame) - 1 and data.n_persons == 24
    assert data.accounting.rows_dropped == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda f: pd.concat([f, f.iloc[[0]]]),
            r"persons s0-0 have more than one row for a value of 'year'",
        ),
        (
            lambda f: f.assign(treated=np.where(f.index == 2, 1 - f["treated"], f["treated"])),
            r"column 'treated' must be constant within each person .* persons s0-0",
        ),
        (
            lambda f: f.assign(year=f["year"].astype(str).where(f.index != 3, "spring")),
            r"column 'year' must be numeric; non-numeric values 'spring' at rows 3",
        ),
        (
            lambda f: f.assign(group=f["school"]),
            r"lack some of the waves .* takes no moderators, nesting levels or clusters yet "
            r"\(given: group\).*drop_missing",
        ),
        (
            lambda f: f[~((f["school"] == "s1") & (f["treated"] == 1) & (f["year"] > 0.7))],
            r"1 site\(s\) in column 'school' have fewer than 2 persons scored at two or more "
            r"values of 'year' in an arm of 'treated': s1 \(\d control, 0 treated\); pass "
            r"drop_incomplete_sites",
        ),
    ],
)
def test_bad_unbalanced_panels_are_refused_naming_column_and_persons(change, message):
    frame, _ = simulate_growth_frame(3, 8, seed=5)
    frame = change(frame)
    cluster = "group" if "group" in frame else None
    with pytest.raises(StudyDataError, match=message):
        sitefx.load(frame, **ROLES, cluster=cluster)


def test_sites_without_two_growing_persons_per_arm_are_dropped_when_asked():
    frame, _ = simulate_growth_frame(3, 8, seed=5)
    frame = frame[~((frame["school"] == "s1") & (frame["treated"] == 1) & (frame["year"] > 0.7))]
    with pytest.warns(sitefx.DataDropWarning, match=r"dropped 1 site\(s\) with fewer than 2"):
        data = sitefx.load(frame, **ROLES, drop_incomplete_sites=True).data
    assert data.site == ("s0", "s2") and data.n_persons == 16
    assert data.accounting.rows_dropped == (frame["school"] == "s1").sum()
    (drop,) = data.accounting.drops
    assert drop.sites == ("s1",)


def test_what_the_long_model_lacks_is_refused_in_a_sentence():
    frame, _ = simulate_growth_frame(3, 8, seed=5)
    data = sitefx.load(frame, **ROLES).data
    with pytest.raises(SitefxInputError, match=r"Student-t site effects .* not available for"):
        sitefx.SiteEffects(site_dist="student-t").fit(data)
    with pytest.raises(SitefxInputError, match=r"exact method .*long-format growth"):
        sitefx.SiteEffects(method="exact").fit(data)
    family = family_of(data)
    assert family.simulation_obstacle(data, robust=False) == family.description
    with pytest.raises(SitefxInputError, match="no simulation of unbalanced repeated measures"):
        family.simulate(data, None, None, None, site_df=None, robust=False)


@pytest.mark.filterwarnings("ignore::sitefx.SamplingWarning")  # short chains, on purpose
@pytest.mark.parametrize(
    ("level_effect", "level_names", "covariates"),
    [
        ("common", ["level_effect"], []),
        ("varying", ["level_effect_mean", "level_effect_sd"], ["pretest"]),
    ],
)
def test_long_growth_fits_saves_reopens_and_reports(
    tmp_path, level_effect, level_names, covariates
):
    """The default model, and one with site-varying level effects and a baseline covariate."""
    frame, _ = simulate_growth_frame(5, 12, seed=6)
    frame["pretest"] = frame.groupby("pupil")["score"].transform("first")
    fit = sitefx.SiteEffects(seed=1, chains=2, draws=100, warmup=100, level_effect=level_effect)
    fit.fit(sitefx.load(frame, **ROLES, covariates=covariates))
    posterior = fit.posterior_["posterior"]
    assert ("beta" in posterior) == bool(covariates)
    if covariates:
        assert posterior["beta"].dims == ("chain", "draw", "covariate")
        assert fit.posterior_["constant_data"]["covariate_mean"].size == 1
    for name in ["mu", "tau", "theta", "theta_new", "growth", "alpha", "person_rho"]:
        assert name in posterior, name
    for name in level_names:
        assert posterior[name].dims == ("chain", "draw"), name
        assert f"prior_{name}" in fit.posterior_.attrs, name
    varying = level_effect == "varying"
    assert ("level_effect_site" in posterior) == varying
    if varying:
        assert posterior["level_effect_site"].dims == ("chain", "draw", "site")
    assert fit.posterior_.attrs["data_kind"] == "growth"
    assert len(fit.estimands())
    fit.save(tmp_path / "fit")
    reopened = sitefx.open_fit(tmp_path / "fit")
    assert float(reopened.posterior_["posterior"]["mu"].mean()) == pytest.approx(
        float(posterior["mu"].mean())
    )
    reopened.report(tmp_path / "report")
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "the mean time of the scores" in markdown
    assert ("varying across sites" in markdown) == varying
    assert ("baseline covariates shift each person's level" in markdown) == bool(covariates)
    assert sitefx.ModelSpec.from_tree(reopened.posterior_).level_effect == level_effect


def test_unbalanced_reference_used_sitefx_default_priors_and_data():
    """brms was given sitefx's default priors for these data, on the same centred time."""
    brms = reference("tutoring_growth_unbalanced_brms")
    data = sitefx.load(UNBALANCED, **UNBALANCED_ROLES).data
    priors = family_of(data).default_priors(data, robust=False).as_strings()
    stated = dict(
        zip(brms["provenance"]["prior_targets"], brms["provenance"]["priors"], strict=True)
    )
    pairs = {
        "b  Intercept": "alpha_mean",
        "b  year_c": "growth_mean",
        "b  tutored": "level_effect",
        "b  year_c:tutored": "mu",
        "sd school Intercept": "alpha_sd",
        "sd school year_c": "growth_sd",
        "sd school year_c:tutored": "tau",
        "sd pupil Intercept": "person_sd",
        "sd pupil year_c": "person_growth_sd",
        "sigma  ": "sigma",
        "cor pupil ": "person_rho",
    }
    for target, name in pairs.items():
        spec = priors[name].replace("half-normal(", "normal(0, ")
        assert stated[target].replace(" ", "") == spec.replace(" ", ""), name
    note = brms["provenance"]["data"]
    assert (note["rows"], note["pupils"], note["schools"]) == (data.n_records, 600, 20)
    assert note["centre"] == pytest.approx(data.centre, rel=1e-12)
    assert brms["provenance"]["divergences"] == 0


@pytest.mark.slow
def test_unbalanced_growth_agrees_with_brms_and_lme4():
    """mu, tau and the other population parameters within Monte-Carlo error of brms (posterior
    means, SDs within 10%), each school's theta within 0.15 posterior SDs (SDs within 10%); mu
    within a fifth of lme4's ML standard error of its ML estimate."""
    brms, lme4 = (
        reference("tutoring_growth_unbalanced_brms"),
        reference("tutoring_growth_unbalanced_lme4"),
    )
    study = sitefx.load(UNBALANCED, **UNBALANCED_ROLES)
    fit = sitefx.SiteEffects(seed=2, chains=4, draws=1000, warmup=1000).fit(study)
    assert_agrees_with_brms(fit, brms["parameters"], sd_rtol=0.1)
    assert_site_effects_near(fit, brms["theta"], "school", sds=0.15, sd_rtol=0.1)
    table = fit.summary().set_index("parameter")
    assert abs(table.at["mu", "mean"] - lme4["mu"]) < 0.2 * lme4["mu_se"]
    assert table.at["mu", "sd"] == pytest.approx(lme4["mu_se"], rel=0.25)


def assert_near_ml(table: pd.DataFrame, lme4: dict, pairs: dict[str, str]) -> None:
    """Each sitefx posterior mean within a fifth of lme4's ML standard error of the ML
    estimate, its posterior SD within 25% of that standard error (``pairs``: sitefx's
    parameter to lme4's name)."""
    for name, ml in pairs.items():
        se = lme4[f"{ml}_se"]
        assert abs(table.at[name, "mean"] - lme4[ml]) < 0.2 * se, name
        assert table.at[name, "sd"] == pytest.approx(se, rel=0.25), name


@pytest.mark.slow
def test_site_varying_level_effects_agree_with_lme4():
    """--level-effect varying on the unbalanced panel: mu and level_effect_mean near lme4's
    ML fit with a school-varying effect of tutoring on the level (whose ML SD is 0 here:
    the panel was simulated with one level effect)."""
    lme4 = reference("tutoring_growth_unbalanced_level_effect_lme4")
    study = sitefx.load(UNBALANCED, **UNBALANCED_ROLES)
    fit = sitefx.SiteEffects(seed=2, chains=4, draws=1000, warmup=1000, level_effect="varying")
    table = fit.fit(study).summary().set_index("parameter")
    assert_near_ml(table, lme4, {"mu": "mu", "level_effect_mean": "level_effect"})


@pytest.mark.slow
def test_a_baseline_covariate_agrees_with_lme4():
    """--covariates prior_score on the unbalanced panel: mu, level_effect and the
    covariate's coefficient on the level near lme4's ML fit with prior_score centred."""
    lme4 = reference("tutoring_growth_unbalanced_covariate_lme4")
    study = sitefx.load(UNBALANCED, **UNBALANCED_ROLES, covariates=["prior_score"])
    fit = sitefx.SiteEffects(seed=2, chains=4, draws=1000, warmup=1000).fit(study)
    table = fit.summary().set_index("parameter")
    table.loc["beta"] = table.loc["beta[prior_score]"]
    assert_near_ml(table, lme4, {"mu": "mu", "level_effect": "level_effect", "beta": "beta"})
