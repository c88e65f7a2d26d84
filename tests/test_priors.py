"""Prior spec parsing, support checks and scale-aware defaults."""

import numpy as np
import pytest
from scipy import stats

from sitefx import Prior, PriorSpecError
from sitefx.families import default_priors, resolve_priors


@pytest.mark.parametrize(
    ("spec", "reference"),
    [
        ("normal(1, 2)", stats.norm(1, 2)),
        ("student-t(3, 0, 2)", stats.t(3, 0, 2)),
        ("half-normal(0.5)", stats.halfnorm(scale=0.5)),
        ("half-cauchy(5)", stats.halfcauchy(scale=5)),
        ("half-t(4, 2)", stats.t(4, 0, 2)),
        ("exponential(2)", stats.expon(scale=0.5)),
        ("uniform(0, 10)", stats.uniform(0, 10)),
        ("inv-gamma(2, 3)", stats.invgamma(2, scale=3)),
        ("gamma(2, 0.1)", stats.gamma(2, scale=10)),
    ],
)
def test_each_family_has_the_right_density(spec, reference):
    prior = Prior.parse(spec)
    assert str(prior) == spec
    x = np.array([0.3, 1.7, 4.0])
    expected = reference.logpdf(x) + (np.log(2) if spec.startswith("half-t") else 0.0)
    np.testing.assert_allclose(prior.distribution().log_prob(x), expected, rtol=1e-6)


@pytest.mark.parametrize(
    "spec",
    [
        "normal(1, 2)",
        "student-t(3, 0, 2)",
        "half-normal(0.5)",
        "half-cauchy(5)",
        "half-t(4, 2)",
        "exponential(2)",
        "uniform(0, 10)",
        "inv-gamma(2, 3)",
        "gamma(2, 0.1)",
    ],
)
@pytest.mark.parametrize("alpha", [0.6, 0.99, 2.0])
def test_powered_prior_is_the_density_raised_to_the_power(spec, alpha):
    """log p_alpha(x) - alpha log p(x) is the same constant at every x (scipy densities)."""
    prior = Prior.parse(spec)
    x = np.array([0.3, 1.7, 4.0, 9.5])
    difference = prior.power(alpha).distribution().log_prob(
        x
    ) - alpha * prior.distribution().log_prob(x)
    assert np.ptp(np.asarray(difference)) < 1e-4


def test_powers_that_are_improper_are_refused():
    with pytest.raises(PriorSpecError, match=r"half-cauchy\(5\) raised to the power 0.5"):
        Prior.parse("half-cauchy(5)").power(0.5)
    with pytest.raises(PriorSpecError, match="no power-scaled form"):
        Prior.parse("lkj(2)").power(2)


def test_prior_spellings_are_normalized_and_round_trip():
    assert str(Prior.parse(" HalfNormal( 2.5 ) ")) == "half-normal(2.5)"
    assert Prior.parse("half_cauchy(1)") == Prior("half-cauchy", (1.0,))
    assert str(Prior("normal", (0.0, 0.1 + 0.2))) == "normal(0, 0.30000000000000004)"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("normal 0 1", "cannot read prior"),
        ("beta(2, 1)", "unknown prior family"),
        ("normal(0)", "takes 2 parameter"),
        ("half-normal(-1)", "scale must be > 0"),
        ("uniform(5, 1)", "lower < upper"),
        ("normal(0, abc)", "must be numbers"),
        ("normal(0, __import__('os'))", "cannot read prior"),
        ("half-normal(inf)", "non-finite"),
    ],
)
def test_unreadable_prior_specs_are_refused_with_the_reason(spec, message):
    with pytest.raises(PriorSpecError, match=message):
        Prior.parse(spec)


def test_priors_must_fit_the_support_and_parameters_of_the_model(eight_schools):
    with pytest.raises(PriorSpecError, match="tau must have positive support"):
        resolve_priors(eight_schools.data, {"tau": "normal(0, 1)"})
    with pytest.raises(PriorSpecError, match="no parameter 'sigma'"):
        resolve_priors(eight_schools.data, {"sigma": "half-normal(1)"})
    with pytest.raises(PriorSpecError, match="unknown parameter 'omega'"):
        resolve_priors(eight_schools.data, {"omega": "half-normal(1)"})


def test_defaults_scale_with_the_data(eight_schools):
    priors = default_priors(eight_schools.data)
    # S = max(sd of estimates = 10.4, median se = 11) = 11.
    assert str(priors.mu) == "normal(0, 28)" and str(priors.tau) == "half-normal(11)"
    import dataclasses

    scaled = dataclasses.replace(
        eight_schools.data,
        estimate=eight_schools.data.estimate / 100,
        se=eight_schools.data.se / 100,
    )
    assert str(default_priors(scaled).tau) == "half-normal(0.11)"


def test_records_get_a_default_prior_for_every_parameter(star):
    priors = default_priors(star.data)
    assert set(priors.as_strings()) == {
        "mu",
        "tau",
        "alpha_mean",
        "alpha_sd",
        "beta",
        "sigma",
        "rho",
        "cluster_sd",  # STAR's classrooms
    }
    assert str(priors.rho) == "lkj(2)"
