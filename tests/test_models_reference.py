"""Posterior correctness against independent references (quadrature, lme4, brms).

Tolerances are Monte-Carlo errors: a posterior mean from MCMC differs from the exact value by
about its MCSE, so we allow 4 MCSE (combined with the reference's own MCSE for brms).
"""

import json

import arviz_stats as azs
import numpy as np
import pytest
from scipy import stats

from tests.conftest import REFERENCE, STUDIES, assert_agrees_with_brms
from tests.reference.normal_normal_quadrature import posterior_moments

Z = 4.0


def _mcse(fit, name, method):
    posterior = fit.posterior_["posterior"].to_dataset()[[name]]
    return azs.mcse(posterior, method=method)[name].values


def test_eight_schools_matches_quadrature(eight_schools_fit, eight_schools):
    data = eight_schools.data
    mu_prior, tau_prior = eight_schools_fit.priors_.mu, eight_schools_fit.priors_.tau
    assert mu_prior.family == "normal" and tau_prior.family == "half-normal"
    (tau_scale,) = tau_prior.params
    reference = posterior_moments(
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
            _mcse(eight_schools_fit, name, "mean"),
            _mcse(eight_schools_fit, name, "sd"),
        )
        keys = [name] if name != "theta" else [f"theta_{j}" for j in range(data.n_sites)]
        expected_mean = np.array([reference[key][0] for key in keys])
        expected_sd = np.array([reference[key][1] for key in keys])
        np.testing.assert_array_less(np.abs(mean - expected_mean), Z * mcse_mean, err_msg=name)
        np.testing.assert_array_less(np.abs(sd - expected_sd), Z * mcse_sd, err_msg=name)


def test_eight_schools_other_tau_prior(eight_schools):
    """A heavy-tailed tau prior (half-Cauchy) also matches quadrature."""
    import sitefx

    fit = sitefx.SiteEffects(
        priors={"mu": "normal(0, 50)", "tau": "half-cauchy(5)"}, method="nuts", draws=2000, seed=5
    ).fit(eight_schools)
    reference = posterior_moments(
        eight_schools.data.estimate,
        eight_schools.data.se,
        m0=0.0,
        s0=50.0,
        log_prior_tau=lambda t: stats.halfcauchy.logpdf(t, scale=5.0),
    )
    for name in ["mu", "tau"]:
        draws = fit.posterior_["posterior"][name].values
        assert abs(draws.mean() - reference[name][0]) < Z * _mcse(fit, name, "mean"), name


def _star_reference(package):
    """STAR with classroom intercepts nested in schools (tests/reference/star_classroom.json)."""
    return json.loads((REFERENCE / "star_classroom.json").read_text())[package]


def test_star_matches_brms(star_fit):
    """Same model, same priors as brms/rstan: posterior summaries agree within MC error."""
    reference = _star_reference("brms")
    data_note = reference["provenance"]["data"]
    assert (data_note["rows"], data_note["schools"], data_note["classrooms"]) == (3720, 78, 224)
    assert star_fit.data_.n_records == 3720 and star_fit.data_.n_sites == 78
    assert_agrees_with_brms(star_fit, reference["parameters"], z=Z)


def test_star_site_effects_match_brms(star_fit):
    theta = _star_reference("brms")["theta"]
    posterior = star_fit.posterior_["posterior"]["theta"].sel(site=theta["school"])
    mean = posterior.mean(("chain", "draw")).values
    sd = posterior.std(("chain", "draw")).values
    # MC error of each mean is at most ~0.03 posterior SDs here (ESS > 1000 for every site).
    np.testing.assert_array_less(np.abs(mean - np.array(theta["mean"])), 0.12 * sd)
    np.testing.assert_allclose(sd, theta["sd"], rtol=0.1)


def test_star_close_to_lme4_reml(star_fit):
    """Bayesian and REML fits of the same model agree closely with 3,720 students.

    Fixed effects: within 0.1 REML standard errors; residual SD: 0.5%; the SDs of school and
    classroom intercepts: posterior medians within 10%. REML puts tau at the boundary
    (singular fit, rho = 1), so tau and rho are checked against brms only.
    """
    reference = _star_reference("lme4")
    assert reference["singular"] and reference["n_classrooms"] == 224
    table = star_fit.summary().set_index("parameter")
    fixed = {
        "mu": "small",
        "alpha_mean": "(Intercept)",
        "beta[female]": "female_c",
        "beta[minority]": "minority_c",
        "beta[free_lunch]": "free_lunch_c",
    }
    for name, term in fixed.items():
        difference = abs(table.at[name, "mean"] - reference["fixef"][term])
        assert difference < 0.1 * reference["fixef_se"][term], name
        assert table.at[name, "sd"] == pytest.approx(reference["fixef_se"][term], rel=0.15), name
    assert table.at["sigma", "mean"] == pytest.approx(reference["sigma"], rel=0.005)
    for name in ["alpha_sd", "cluster_sd"]:
        assert table.at[name, "q50"] == pytest.approx(reference[name], rel=0.1), name


def test_teacher_expectancy_close_to_metafor_reml():
    """19 studies, weakly informative priors: the posterior sits near the REML fit.

    The posterior mean of mu is within 0.2 REML standard errors of metafor's estimate, and the
    posterior median of tau within 15% of the REML tau (tau's posterior is skewed, so its
    median, not its mean, is the comparable point).
    """
    import sitefx

    reference = json.loads((REFERENCE / "metafor_rma.json").read_text())["teacher_expectancy"]
    fit = sitefx.SiteEffects(seed=2).fit(sitefx.load(STUDIES / "teacher_expectancy"))
    table = fit.summary().set_index("parameter")
    assert abs(table.at["mu", "mean"] - reference["mu"]) < 0.2 * reference["mu_se"]
    assert table.at["tau", "q50"] == pytest.approx(reference["tau"], rel=0.15)


def test_meta_regression_close_to_metafor_reml():
    """Teacher expectancy on weeks of prior contact (centred), as metafor's rma(mods = ~ weeks).

    Intercept and slope within 0.2 REML standard errors; residual tau's posterior median
    within 20% of the REML estimate (19 studies leave tau uncertain and skewed).
    """
    import sitefx

    reference = json.loads((REFERENCE / "metafor_rma.json").read_text())
    reference = reference["teacher_expectancy_weeks"]
    study = sitefx.load(STUDIES / "teacher_expectancy", moderators="weeks")
    table = sitefx.SiteEffects(seed=2).fit(study).summary().set_index("parameter")
    assert abs(table.at["mu", "mean"] - reference["mu"]) < 0.2 * reference["mu_se"]
    assert abs(table.at["gamma[weeks]", "mean"] - reference["gamma"]) < 0.2 * reference["gamma_se"]
    assert table.at["tau", "q50"] == pytest.approx(reference["tau"], rel=0.2)
    assert 0 < table.at["variance_explained", "q50"] < 1


@pytest.fixture(scope="module")
def school_calendar_fit():
    """The three-level meta-analysis with brms's priors (tests/reference/school_calendar.json)."""
    import sitefx

    priors = {"mu": "normal(0, 1)", "tau": "half-normal(0.5)", "tau_district": "half-normal(0.5)"}
    study = sitefx.load(STUDIES / "school_calendar")
    return sitefx.SiteEffects(priors=priors, draws=2500, seed=5).fit(study)


def test_three_level_matches_brms(school_calendar_fit):
    """Studies within districts (metafor's dat.konstantopoulos2011), same model and priors as
    brms: mu, tau, tau_district and all 56 study effects agree within Monte-Carlo error."""
    fit = school_calendar_fit
    reference = json.loads((REFERENCE / "school_calendar.json").read_text())["brms"]
    assert_agrees_with_brms(fit, reference["parameters"], z=Z)
    table = fit.summary().set_index("parameter")
    theta = reference["theta"]
    posterior = fit.posterior_["posterior"]["theta"].sel(site=theta["study"])
    sd = posterior.std(("chain", "draw")).values
    np.testing.assert_array_less(
        np.abs(posterior.mean(("chain", "draw")).values - theta["mean"]), 0.1 * sd
    )
    np.testing.assert_allclose(sd, theta["sd"], rtol=0.1)
    new = reference["theta_new_new_district"]
    assert table.at["theta_new", "sd"] == pytest.approx(new["sd"], rel=0.05)
    districts = fit.posterior_["constant_data"]["site_district"].sel(site=theta["study"])
    assert districts.values.tolist() == theta["district"]


def test_three_level_close_to_metafor_reml(school_calendar_fit):
    """Against rma.mv(yi, vi, random = ~ 1 | district/study): mu within 0.2 REML SE, the
    posterior medians of both SDs within 15% of the REML values."""
    reference = json.loads((REFERENCE / "school_calendar.json").read_text())["reml"]
    table = school_calendar_fit.summary().set_index("parameter")
    assert abs(table.at["mu", "mean"] - reference["mu"]) < 0.2 * reference["mu_se"]
    for name in ["tau", "tau_district"]:
        assert table.at[name, "q50"] == pytest.approx(reference[name], rel=0.15), name


def test_student_t_site_effects_match_brms():
    """Teacher expectancy with Student-t site effects, nu learned, against brms/rstan
    (tests/reference/student_t_brms.json): ``gr(study, dist = "student")`` with sitefx's
    default priors for these data, nu ~ gamma(2, 0.1) untruncated (brms's df bound set to 0).

    mu, tau, nu and the 19 study effects: means within Z combined MCSEs (sitefx's and brms's;
    brms's nu mixes slowly through its scale mixture, MCSE 0.45 against a posterior SD of 14),
    SDs within 10% (their MC errors are 1-4% here).
    """
    import sitefx
    from sitefx.families import default_priors

    reference = json.loads((REFERENCE / "student_t_brms.json").read_text())
    priors = {"mu": "normal(0, 0.9)", "tau": "half-normal(0.36)", "nu": "gamma(2, 0.1)"}
    assert reference["provenance"]["priors"] == [
        "normal(0, 0.9)",
        "normal(0, 0.36)",
        "gamma(2, 0.1)",
    ]
    assert reference["provenance"]["divergences"] == 0
    study = sitefx.load(STUDIES / "teacher_expectancy")
    assert default_priors(study.data, robust=True).as_strings() == priors
    _assert_matches_brms(study, priors, reference, "study", site_dist="student-t", draws=2000)


def _assert_converged(reference):
    """The brms run behind a reference: no divergences, every R-hat below 1.01."""
    assert reference["provenance"]["divergences"] == 0
    assert max(row["rhat"] for row in reference["parameters"]) < 1.01
    assert max(reference["theta"]["rhat"]) < 1.01


def _assert_matches_brms(study, priors, reference, site_key, **settings):
    """Fit ``study`` with ``priors`` (sitefx's own defaults for it) and compare the
    population parameters and every site's effect with the brms ``reference``."""
    import sitefx

    fit = sitefx.SiteEffects(priors=priors, chains=4, seed=7, **settings).fit(study)
    assert fit.priors_.as_strings() == priors
    assert_agrees_with_brms(fit, reference["parameters"], z=Z)
    theta = reference["theta"]
    assert sorted(theta[site_key]) == sorted(study.data.site)
    _assert_site_effects_agree(fit, theta, theta[site_key])


def _assert_site_effects_agree(fit, theta, sites):
    """Every site's effect against brms's ``b + r`` per draw: means within Z combined MCSEs,
    SDs within 10%."""
    posterior = fit.posterior_["posterior"].to_dataset()
    draws = posterior["theta"].sel(site=sites)
    mcse = azs.mcse(posterior[["theta"]], method="mean")["theta"].sel(site=sites)
    tolerance = Z * np.hypot(mcse.values, theta["mcse_mean"])
    difference = draws.mean(("chain", "draw")).values - np.array(theta["mean"])
    np.testing.assert_array_less(np.abs(difference), tolerance)
    np.testing.assert_allclose(draws.std(("chain", "draw")).values, theta["sd"], rtol=0.1)


def test_reading_pass_matches_brms():
    """The bundled binary-outcome trial against brms/rstan (tests/reference/reading_pass_brms.json):
    ``bernoulli()`` records, ``passed ~ 0 + Intercept + program + (1 + program || school)``
    (independent school intercepts and log odds ratios), sitefx's default priors for these data.
    sitefx fits the per-school arm counts, which are sufficient without covariates: the same
    posterior. mu, tau, alpha_mean, alpha_sd and the 24 school log odds ratios: means within Z
    combined MCSEs (brms's are 0.001-0.003 from 20,000 draws, sitefx's a little larger from
    10,000), SDs within 10% (their MC errors are 1-2% here).
    """
    import sitefx
    from sitefx.families import default_priors

    reference = json.loads((REFERENCE / "reading_pass_brms.json").read_text())
    provenance = reference["provenance"]
    priors = {
        "mu": "normal(0, 2.5)",
        "tau": "half-normal(1)",
        "alpha_mean": "normal(0, 2.5)",
        "alpha_sd": "half-normal(2.5)",
    }
    assert provenance["priors"] == [
        "normal(0, 2.5)",
        "normal(0, 2.5)",
        "normal(0, 2.5)",
        "normal(0, 1)",
    ]
    assert provenance["prior_targets"] == [
        "b  Intercept",
        "b  program",
        "sd school Intercept",
        "sd school program",
    ]
    _assert_converged(reference)
    study = sitefx.load(STUDIES / "reading_pass")
    assert (study.data.n_records, study.data.n_sites) == (2880, 24)
    assert default_priors(study.data).as_strings() == priors
    _assert_matches_brms(study, priors, reference, "school", draws=2500)


def test_tutoring_growth_matches_brms():
    """The bundled growth trial against brms/rstan (tests/reference/tutoring_growth_brms.json):
    each pupil's least-squares growth per year (year centred at its mean, 1.5, as sitefx's
    growth_records does), then ``slope ~ 0 + Intercept + tutored + (1 + tutored | school)``
    with LKJ(2) on the intercept-effect correlation and sitefx's default priors for these data.
    mu, tau, alpha_mean, alpha_sd, rho, sigma and the 30 school effects on growth: means within
    Z combined MCSEs (brms's from 20,000 draws, sitefx's from 10,000), SDs within 10% (their
    MC errors are 1-2% here). sitefx samples the collapsed model (school effects integrated
    out, then drawn given each draw): the same posterior.
    """
    import sitefx
    from sitefx.families import default_priors

    reference = json.loads((REFERENCE / "tutoring_growth_brms.json").read_text())
    provenance = reference["provenance"]
    priors = {
        "mu": "normal(0, 9.2)",
        "tau": "half-normal(3.7)",
        "alpha_mean": "normal(9, 9.2)",
        "alpha_sd": "half-normal(3.7)",
        "sigma": "exponential(0.27)",
        "rho": "lkj(2)",
    }
    assert provenance["priors"] == [
        "normal(9, 9.2)",
        "normal(0, 9.2)",
        "normal(0, 3.7)",
        "normal(0, 3.7)",
        "exponential(0.27)",
        "lkj(2)",
    ]
    _assert_converged(reference)
    study = sitefx.load(STUDIES / "tutoring_growth")
    # The same outcome: brms fitted the slopes R computed from the long data.
    slopes = provenance["data"]["slopes"]
    outcome = study.data.outcome
    assert len(outcome) == slopes["n"] == 1200
    for name, value in [
        ("mean", outcome.mean()),
        ("sd", outcome.std(ddof=1)),
        ("min", outcome.min()),
        ("max", outcome.max()),
    ]:
        assert value == pytest.approx(slopes[name], rel=1e-9, abs=1e-9), name
    assert default_priors(study.data).as_strings() == priors
    _assert_matches_brms(study, priors, reference, "school", draws=2500)
