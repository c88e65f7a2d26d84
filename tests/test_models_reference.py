"""Posterior correctness against independent references (quadrature, lme4, brms).

Tolerances are Monte-Carlo errors: a posterior mean from MCMC differs from the exact value by
about its MCSE, so we allow 4 MCSE (combined with the reference's own MCSE for brms).
"""

from dataclasses import dataclass, field

import arviz_stats as azs
import numpy as np
import pytest
from scipy import stats

from tests.builders import (
    Z,
    assert_agrees_with_brms,
    assert_site_effects_near,
    bundled_study,
    monte_carlo_error,
    reference,
)
from tests.reference.normal_normal_quadrature import posterior_moments


def test_eight_schools_matches_quadrature(eight_schools_fit, eight_schools):
    data = eight_schools.data
    mu_prior, tau_prior = eight_schools_fit.priors_.mu, eight_schools_fit.priors_.tau
    assert mu_prior.family == "normal" and tau_prior.family == "half-normal"
    (tau_scale,) = tau_prior.params
    expected = posterior_moments(
        data.estimate,
        data.se,
        m0=mu_prior.params[0],
        s0=mu_prior.params[1],
        log_prior_tau=lambda t: stats.halfnorm.logpdf(t, scale=tau_scale),
    )
    posterior = eight_schools_fit.posterior_["posterior"]
    for name in ["mu", "tau", "theta"]:
        draws = posterior[name].values
        mean, sd = draws.mean(axis=(0, 1)), draws.std(axis=(0, 1), ddof=1)
        mcse_mean, mcse_sd = (
            monte_carlo_error(eight_schools_fit, name),
            monte_carlo_error(eight_schools_fit, name, "sd"),
        )
        keys = [name] if name != "theta" else [f"theta_{j}" for j in range(data.n_sites)]
        expected_mean = np.array([expected[key][0] for key in keys])
        expected_sd = np.array([expected[key][1] for key in keys])
        np.testing.assert_array_less(np.abs(mean - expected_mean), Z * mcse_mean, err_msg=name)
        np.testing.assert_array_less(np.abs(sd - expected_sd), Z * mcse_sd, err_msg=name)


def test_eight_schools_with_a_half_cauchy_tau_prior_matches_quadrature(eight_schools):
    import sitefx

    fit = sitefx.SiteEffects(
        priors={"mu": "normal(0, 50)", "tau": "half-cauchy(5)"}, method="nuts", draws=2000, seed=5
    ).fit(eight_schools)
    expected = posterior_moments(
        eight_schools.data.estimate,
        eight_schools.data.se,
        m0=0.0,
        s0=50.0,
        log_prior_tau=lambda t: stats.halfcauchy.logpdf(t, scale=5.0),
    )
    for name in ["mu", "tau"]:
        draws = fit.posterior_["posterior"][name].values
        assert abs(draws.mean() - expected[name][0]) < Z * monte_carlo_error(fit, name), name


def _star_reference(package):
    """STAR with classroom intercepts nested in schools (tests/reference/star_classroom.json)."""
    return reference("star_classroom")[package]


def test_star_matches_brms(star_fit):
    """Same model, same priors as brms/rstan: posterior summaries agree within MC error."""
    brms = _star_reference("brms")
    data_note = brms["provenance"]["data"]
    assert (data_note["rows"], data_note["schools"], data_note["classrooms"]) == (3720, 78, 224)
    assert star_fit.data_.n_records == 3720 and star_fit.data_.n_sites == 78
    assert_agrees_with_brms(star_fit, brms["parameters"], z=Z)


def test_star_site_effects_match_brms(star_fit):
    # MC error of each mean is at most ~0.03 posterior SDs here (ESS > 1000 for every site).
    theta = _star_reference("brms")["theta"]
    assert_site_effects_near(star_fit, theta, "school", sds=0.12, sd_rtol=0.1)


def test_star_close_to_lme4_reml(star_fit):
    """Bayesian and REML fits of the same model agree closely with 3,720 students.

    Fixed effects: within 0.1 REML standard errors; residual SD: 0.5%; the SDs of school and
    classroom intercepts: posterior medians within 10%. REML puts tau at the boundary
    (singular fit, rho = 1), so tau and rho are checked against brms only.
    """
    reml = _star_reference("lme4")
    assert reml["singular"] and reml["n_classrooms"] == 224
    table = star_fit.summary().set_index("parameter")
    fixed = {
        "mu": "small",
        "alpha_mean": "(Intercept)",
        "beta[female]": "female_c",
        "beta[minority]": "minority_c",
        "beta[free_lunch]": "free_lunch_c",
    }
    for name, term in fixed.items():
        difference = abs(table.at[name, "mean"] - reml["fixef"][term])
        assert difference < 0.1 * reml["fixef_se"][term], name
        assert table.at[name, "sd"] == pytest.approx(reml["fixef_se"][term], rel=0.15), name
    assert table.at["sigma", "mean"] == pytest.approx(reml["sigma"], rel=0.005)
    for name in ["alpha_sd", "cluster_sd"]:
        assert table.at[name, "q50"] == pytest.approx(reml[name], rel=0.1), name


def _assert_close_to_reml(table, reml, *, sd_names, rel):
    """mu's posterior mean within 0.2 REML standard errors of the REML estimate, and the
    posterior median of each SD in ``sd_names`` within ``rel`` of its REML value (an SD's
    posterior is skewed, so its median, not its mean, is the comparable point)."""
    assert abs(table.at["mu", "mean"] - reml["mu"]) < 0.2 * reml["mu_se"]
    for name in sd_names:
        assert table.at[name, "q50"] == pytest.approx(reml[name], rel=rel), name


def test_teacher_expectancy_close_to_metafor_reml():
    """19 studies, weakly informative priors: the posterior sits near the REML fit (tau's
    median within 15%)."""
    import sitefx

    reml = reference("metafor_rma")["teacher_expectancy"]
    fit = sitefx.SiteEffects(seed=2).fit(bundled_study("teacher_expectancy"))
    _assert_close_to_reml(fit.summary().set_index("parameter"), reml, sd_names=["tau"], rel=0.15)


def test_meta_regression_close_to_metafor_reml():
    """Teacher expectancy on weeks of prior contact (centred), as metafor's rma(mods = ~ weeks).

    Intercept and slope within 0.2 REML standard errors; residual tau's posterior median
    within 20% of the REML estimate (19 studies leave tau uncertain and skewed).
    """
    import sitefx

    reml = reference("metafor_rma")["teacher_expectancy_weeks"]
    study = bundled_study("teacher_expectancy", moderators="weeks")
    table = sitefx.SiteEffects(seed=2).fit(study).summary().set_index("parameter")
    _assert_close_to_reml(table, reml, sd_names=["tau"], rel=0.2)
    assert abs(table.at["gamma[weeks]", "mean"] - reml["gamma"]) < 0.2 * reml["gamma_se"]
    assert 0 < table.at["variance_explained", "q50"] < 1


@pytest.fixture(scope="module")
def school_calendar_fit():
    """The three-level meta-analysis with brms's priors (tests/reference/school_calendar.json)."""
    import sitefx

    priors = {"mu": "normal(0, 1)", "tau": "half-normal(0.5)", "tau_district": "half-normal(0.5)"}
    study = bundled_study("school_calendar")
    # its funnel (five districts) takes the smaller steps sitefx's warning advises
    return sitefx.SiteEffects(priors=priors, draws=2500, target_accept=0.99, seed=5).fit(study)


def test_three_level_matches_brms(school_calendar_fit):
    """Studies within districts (metafor's dat.konstantopoulos2011), same model and priors as
    brms: mu, tau, tau_district and all 56 study effects agree within Monte-Carlo error."""
    fit = school_calendar_fit
    brms = reference("school_calendar")["brms"]
    assert_agrees_with_brms(fit, brms["parameters"], z=Z)
    theta = brms["theta"]
    assert_site_effects_near(fit, theta, "study", sds=0.1, sd_rtol=0.1)
    table = fit.summary().set_index("parameter")
    new = brms["theta_new_new_district"]
    assert table.at["theta_new", "sd"] == pytest.approx(new["sd"], rel=0.05)
    districts = fit.posterior_["constant_data"]["site_district"].sel(site=theta["study"])
    assert districts.values.tolist() == theta["district"]


def test_three_level_close_to_metafor_reml(school_calendar_fit):
    """Against rma.mv(yi, vi, random = ~ 1 | district/study): the posterior medians of both
    SDs within 15% of the REML values."""
    reml = reference("school_calendar")["reml"]
    table = school_calendar_fit.summary().set_index("parameter")
    _assert_close_to_reml(table, reml, sd_names=["tau", "tau_district"], rel=0.15)


@dataclass(frozen=True)
class BrmsCase:
    """A bundled study fitted by sitefx and by brms/rstan with the same model and priors.

    ``priors`` are sitefx's default priors for the study (``robust``: those for Student-t site
    effects), ``brms_priors`` the same priors as brms's provenance writes them; ``rhats``: the
    reference stores R-hats (all below 1.01 are required then)."""

    study: str
    reference: str
    site_key: str
    priors: dict[str, str]
    brms_priors: list[str]
    settings: dict = field(default_factory=dict)
    robust: bool = False
    rhats: bool = True


BRMS_CASES = [
    # Teacher expectancy with Student-t site effects, nu learned: ``gr(study, dist =
    # "student")``, nu ~ gamma(2, 0.1) untruncated (brms's df bound set to 0). brms's nu mixes
    # slowly through its scale mixture (MCSE 0.45 against a posterior SD of 14).
    BrmsCase(
        "teacher_expectancy",
        "student_t_brms",
        "study",
        {"mu": "normal(0, 0.9)", "tau": "half-normal(0.36)", "nu": "gamma(2, 0.1)"},
        ["normal(0, 0.9)", "normal(0, 0.36)", "gamma(2, 0.1)"],
        {"site_dist": "student-t", "draws": 2000, "max_tree_depth": 12},
        robust=True,
        rhats=False,
    ),
    # Binary outcomes: ``bernoulli()`` records, ``passed ~ 0 + Intercept + program + (1 +
    # program || school)``; sitefx fits the per-school arm counts, which are sufficient
    # without covariates: the same posterior. brms's MCSEs are 0.001-0.003 from 20,000 draws,
    # sitefx's a little larger from 10,000.
    BrmsCase(
        "reading_pass",
        "reading_pass_brms",
        "school",
        {
            "mu": "normal(0, 2.5)",
            "tau": "half-normal(1)",
            "alpha_mean": "normal(0, 2.5)",
            "alpha_sd": "half-normal(2.5)",
        },
        ["normal(0, 2.5)", "normal(0, 2.5)", "normal(0, 2.5)", "normal(0, 1)"],
        {"draws": 2500},
    ),
    # Growth: each pupil's least-squares growth per year, then ``slope ~ 0 + Intercept +
    # tutored + (1 + tutored | school)`` with LKJ(2) on the intercept-effect correlation.
    # sitefx samples the collapsed model (school effects integrated out, then drawn given each
    # draw): the same posterior.
    BrmsCase(
        "tutoring_growth",
        "tutoring_growth_brms",
        "school",
        {
            "mu": "normal(0, 9.2)",
            "tau": "half-normal(3.7)",
            "alpha_mean": "normal(9, 9.2)",
            "alpha_sd": "half-normal(3.7)",
            "sigma": "exponential(0.27)",
            "rho": "lkj(2)",
        },
        [
            "normal(9, 9.2)",
            "normal(0, 9.2)",
            "normal(0, 3.7)",
            "normal(0, 3.7)",
            "exponential(0.27)",
            "lkj(2)",
        ],
        {"draws": 2500},
    ),
]


@pytest.mark.parametrize("case", BRMS_CASES, ids=lambda case: case.reference.removesuffix("_brms"))
def test_bundled_study_matches_brms_with_its_default_priors(case):
    """The population parameters and every site's effect (brms's ``b + r`` per draw): means
    within Z combined MCSEs (sitefx's and brms's), SDs within 10% (their MC errors are 1-4%
    here)."""
    import sitefx
    from sitefx.families import default_priors

    brms = reference(case.reference)
    assert brms["provenance"]["priors"] == case.brms_priors
    assert brms["provenance"]["divergences"] == 0
    if case.rhats:
        assert max(row["rhat"] for row in brms["parameters"]) < 1.01
        assert max(brms["theta"]["rhat"]) < 1.01
    study = bundled_study(case.study)
    assert default_priors(study.data, robust=case.robust).as_strings() == case.priors
    fit = sitefx.SiteEffects(priors=case.priors, chains=4, seed=7, **case.settings).fit(study)
    assert fit.priors_.as_strings() == case.priors
    assert_agrees_with_brms(fit, brms["parameters"], z=Z)
    theta = brms["theta"]
    sites = theta[case.site_key]
    assert sorted(sites) == sorted(study.data.site)
    posterior = fit.posterior_["posterior"].to_dataset()
    draws = posterior["theta"].sel(site=sites)
    mcse = azs.mcse(posterior[["theta"]], method="mean")["theta"].sel(site=sites)
    tolerance = Z * np.hypot(mcse.values, theta["mcse_mean"])
    difference = draws.mean(("chain", "draw")).values - np.array(theta["mean"])
    np.testing.assert_array_less(np.abs(difference), tolerance)
    np.testing.assert_allclose(draws.std(("chain", "draw")).values, theta["sd"], rtol=0.1)


def test_reading_pass_brms_reference_is_of_its_2880_pupils_in_24_schools():
    """brms's priors are on the intercept, the program effect and the two school SDs."""
    provenance = reference("reading_pass_brms")["provenance"]
    assert provenance["prior_targets"] == [
        "b  Intercept",
        "b  program",
        "sd school Intercept",
        "sd school program",
    ]
    study = bundled_study("reading_pass")
    assert (study.data.n_records, study.data.n_sites) == (2880, 24)


def test_tutoring_growth_brms_reference_fitted_the_same_growth_slopes():
    """brms fitted the slopes R computed from the long data (year centred at its mean, 1.5,
    as sitefx's growth_records does): the same outcome as sitefx's."""
    slopes = reference("tutoring_growth_brms")["provenance"]["data"]["slopes"]
    outcome = bundled_study("tutoring_growth").data.outcome
    assert len(outcome) == slopes["n"] == 1200
    for name, value in [
        ("mean", outcome.mean()),
        ("sd", outcome.std(ddof=1)),
        ("min", outcome.min()),
        ("max", outcome.max()),
    ]:
        assert value == pytest.approx(slopes[name], rel=1e-9, abs=1e-9), name
