"""Historical borrowing (MAP mixtures, ESS, power prior) against brute-force integration and
closed forms written independently of sitefx."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from sitefx.errors import SitefxInputError
from sitefx.infer.borrowing import (
    NormalMixture,
    PowerPrior,
    historical_log_likelihood,
    map_prior,
)
from sitefx.infer.exact import normal_normal_exact
from sitefx.models.priors import Prior, Priors
from tests.builders import EIGHT_SCHOOLS_ESTIMATES, EIGHT_SCHOOLS_SES

Y, SE = EIGHT_SCHOOLS_ESTIMATES, EIGHT_SCHOOLS_SES
EIGHT_SCHOOLS_PRIORS = Priors(mu=Prior.parse("normal(0, 50)"), tau=Prior.parse("half-cauchy(5)"))
POWER_PRIORS = Priors(mu=Prior.parse("normal(0, 20)"), tau=Prior.parse("half-normal(10)"))
FLAT_PRIORS = Priors(mu=Prior.parse("flat()"), tau=Prior.parse("half-cauchy(5)"))
MU_NODES, MU_WEIGHTS = special.roots_legendre(4000)  # Gauss-Legendre on (-1, 1)
Z_NODES, Z_WEIGHTS = special.roots_legendre(1000)
MU_PRIOR, TAU_PRIOR = stats.norm(0, 20).pdf, stats.halfnorm(scale=10).pdf  # POWER_PRIORS
HALF_CAUCHY_5 = stats.halfcauchy(scale=5).pdf


def quad(f, a, b, points=()):
    """scipy quad at near machine precision, split at ``points`` (and between infinite ends)."""
    cuts = [a, *sorted(p for p in points if a < p < b), b]
    return sum(
        integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-13, limit=500)[0]
        for lo, hi in itertools.pairwise(cuts)
    )


def mixture_derivatives(x, weight, mean, sd):
    """p, p' and p'' of a normal mixture at scalar x, from the component formulas."""
    phi = stats.norm.pdf(x, mean, sd)
    z = (x - mean) / sd**2
    return weight @ phi, weight @ (-z * phi), weight @ ((z**2 - 1 / sd**2) * phi)


# --- normal mixtures ----------------------------------------------------------------------


def test_update_matches_numerical_integration():
    weight, mean = np.array([0.5, 0.3, 0.2]), np.array([-1.0, 2.0, 0.5])
    sd = np.array([0.7, 1.5, 4.0])
    estimate, se = 1.2, 0.8

    def posterior_kernel(x):
        return weight @ stats.norm.pdf(x, mean, sd) * stats.norm.pdf(estimate, x, se)

    mass, first, second = (
        quad(lambda x, k=k: x**k * posterior_kernel(x), -60, 60, [-1, 0.5, 1.2, 2])
        for k in range(3)
    )
    posterior = NormalMixture(weight, mean, sd).update(estimate, se)
    reference_mean = first / mass
    reference_sd = np.sqrt(second / mass - reference_mean**2)
    assert posterior.mean_value() == pytest.approx(reference_mean, rel=1e-8)
    assert posterior.sd_value() == pytest.approx(reference_sd, rel=1e-8)
    x = np.array([-2.0, 0.0, 1.0, 3.0])
    expected = np.array([posterior_kernel(point) for point in x]) / mass
    np.testing.assert_allclose(np.exp(posterior.log_pdf(x)), expected, rtol=1e-10)


def test_ess_of_a_single_normal_is_sigma_squared_over_variance():
    prior = NormalMixture([1.0], [3.0], [2.0])
    assert prior.ess(10.0) == pytest.approx(25.0, rel=1e-14)
    assert prior.ess(10.0, method="moment") == pytest.approx(25.0, rel=1e-14)
    # Morita (RBesT): curvature at the mode minus that of the 100-fold flattened prior
    assert prior.ess(10.0, method="morita") == pytest.approx(25.0 * 0.99, rel=1e-12)


@pytest.mark.parametrize(
    ("weight", "mean", "sd"),
    [([0.7, 0.3], [0.0, 3.0], [1.0, 2.0]), ([0.9, 0.1], [0.0, 1.0], [2.0, 0.05])],
)
def test_elir_matches_direct_integration(weight, mean, sd):
    """ESS = sigma^2 ∫ p(x) (-(log p)''(x)) dx, with p(-(log p)'') = p'^2 / p - p''."""
    weight, mean, sd = np.array(weight), np.array(mean), np.array(sd)

    def integrand(x):
        p, first, second = mixture_derivatives(x, weight, mean, sd)
        return first**2 / p - second

    reference = 4.0 * quad(integrand, -25, 25, [*mean, *(mean - sd), *(mean + sd)])
    assert NormalMixture(weight, mean, sd).ess(2.0) == pytest.approx(reference, rel=1e-9)


def test_moment_and_morita_ess_by_hand():
    weight, mean, sd = np.array([0.7, 0.3]), np.array([0.0, 1.0]), np.array([1.0, 2.0])
    prior = NormalMixture(weight, mean, sd)
    variance = weight @ (sd**2 + mean**2) - (weight @ mean) ** 2
    assert prior.ess(3.0, method="moment") == pytest.approx(9.0 / variance, rel=1e-12)

    def slope(x):
        return mixture_derivatives(x, weight, mean, sd)[1]

    mode = optimize.brentq(slope, -1.0, 1.0, xtol=1e-14)
    p, _, second = mixture_derivatives(mode, weight, mean, sd)
    expected = 9.0 * (-second / p - 1 / (100 * 4.0))
    assert prior.ess(3.0, method="morita") == pytest.approx(expected, rel=1e-9)


def test_quantiles_solve_the_cdf():
    weight, mean = np.array([0.2, 0.5, 0.3]), np.array([-1.0, 0.5, 2.0])
    sd = np.array([0.5, 1.0, 0.3])
    probs = np.array([0.01, 0.25, 0.5, 0.9])
    result = NormalMixture(weight, mean, sd).quantile(probs)
    for prob, value in zip(probs, result, strict=True):

        def gap(x, p=prob):
            return weight @ stats.norm.cdf(x, mean, sd) - p

        assert value == pytest.approx(optimize.brentq(gap, -20, 20, xtol=1e-14), abs=1e-9)


@pytest.mark.usefixtures("x64")  # JAX code called directly: in float64, as sitefx runs it
def test_robustify_prune_and_numpyro_distribution():
    prior = NormalMixture([0.6, 0.4], [1.0, 2.0], [0.5, 0.8]).robustify(0.2, 0.0, 10.0)
    np.testing.assert_allclose(prior.weight, [0.48, 0.32, 0.2])
    np.testing.assert_allclose(prior.mean, [1.0, 2.0, 0.0])
    np.testing.assert_allclose(prior.sd, [0.5, 0.8, 10.0])
    x = np.array([-3.0, 0.5, 1.7])
    log_prob = np.asarray(prior.distribution().log_prob(jnp.asarray(x)))
    np.testing.assert_allclose(log_prob, prior.log_pdf(x), rtol=1e-12)
    pruned = NormalMixture([0.5, 0.5 - 1e-12, 1e-12], [0.0, 1.0, 2.0], [1.0, 1.0, 1.0]).prune(1e-9)
    np.testing.assert_allclose(pruned.weight, [0.5, 0.5], rtol=1e-11)
    assert pruned.prune(0.9).weight.tolist() == [1.0]  # never drops every component


def test_invalid_mixtures_and_options_are_refused():
    with pytest.raises(SitefxInputError, match="sum to 1"):
        NormalMixture([0.5, 0.6], [0.0, 1.0], [1.0, 1.0])
    with pytest.raises(SitefxInputError, match="SDs"):
        NormalMixture([1.0], [0.0], [0.0])
    with pytest.raises(SitefxInputError, match="one length"):
        NormalMixture([0.5, 0.5], [0.0], [1.0, 1.0])
    prior = NormalMixture([1.0], [0.0], [1.0])
    with pytest.raises(SitefxInputError, match="ess method"):
        prior.ess(1.0, method="laplace")
    with pytest.raises(SitefxInputError, match=r"\(0, 1\)"):
        prior.robustify(1.0, 0.0, 10.0)


# --- MAP prior ----------------------------------------------------------------------------


def test_map_prior_moments_are_the_predictive_moments():
    posterior = normal_normal_exact(Y, SE, priors=EIGHT_SCHOOLS_PRIORS)
    exact = map_prior(Y, SE, EIGHT_SCHOOLS_PRIORS, prune=0.0)
    assert exact.mean_value() == pytest.approx(posterior.mean("theta_new"), rel=1e-12)
    assert exact.sd_value() == pytest.approx(posterior.sd("theta_new"), rel=1e-12)
    pruned = map_prior(Y, SE, EIGHT_SCHOOLS_PRIORS)  # far-out tau nodes dropped
    assert len(pruned.weight) < len(exact.weight)
    assert pruned.sd_value() == pytest.approx(posterior.sd("theta_new"), rel=1e-6)


def test_map_prior_density_matches_brute_force_2d_integration():
    """p(x | y) = ∫∫ p(y | mu, tau) pi(mu) pi(tau) N(x | mu, tau) dmu dtau / p(y): scipy quad
    over tau, and at each tau Gauss-Legendre over mu in (-400, 400) (8 prior SDs); for tau < 1
    over z = (mu - x) / tau instead, where N(x | mu, tau) dmu = phi(z) dz stays smooth."""
    mu, mu_weight = 400 * MU_NODES, 400 * MU_WEIGHTS
    z, z_weight = 12 * Z_NODES, 12 * Z_WEIGHTS

    def joint(mu, tau):
        variance = SE**2 + tau**2
        log_likelihood = -0.5 * (
            np.sum(np.log(2 * np.pi * variance)) + np.sum((Y - mu[:, None]) ** 2 / variance, 1)
        )
        prior = stats.norm.pdf(mu, 0, 50) * stats.halfcauchy.pdf(tau, scale=5)
        return np.exp(log_likelihood + 40.0) * prior  # e^40: keep quad's numbers O(1)

    def predictive(x, tau):
        if tau < 1:
            return z_weight @ (joint(x + tau * z, tau) * stats.norm.pdf(z))
        return mu_weight @ (joint(mu, tau) * stats.norm.pdf(x, mu, tau))

    cuts = [0.0, 1.0, 5.0, 20.0, 50.0, 200.0, np.inf]
    evidence = quad(lambda tau: mu_weight @ joint(mu, tau), 0, np.inf, cuts)
    x = np.array([-15.0, 8.0, 35.0])
    expected = [quad(lambda tau, x=x: predictive(x, tau), 0, np.inf, cuts) / evidence for x in x]
    prior = map_prior(Y, SE, EIGHT_SCHOOLS_PRIORS)
    np.testing.assert_allclose(np.exp(prior.log_pdf(x)), expected, rtol=1e-6)


# --- power prior --------------------------------------------------------------------------


@pytest.mark.usefixtures("x64")  # JAX code called directly: in float64, as sitefx runs it
def test_historical_log_likelihood_and_its_gradient():
    mu, tau = 6.0, 4.5
    expected = np.sum(stats.norm.logpdf(Y, mu, np.sqrt(SE**2 + tau**2)))
    assert float(historical_log_likelihood(mu, tau, Y, SE)) == pytest.approx(expected, rel=1e-13)
    variance = SE**2 + tau**2
    gradient = jax.grad(historical_log_likelihood, argnums=(0, 1))(mu, tau, Y, SE)
    assert float(gradient[0]) == pytest.approx(np.sum((Y - mu) / variance), rel=1e-12)
    expected_tau = np.sum(tau * ((Y - mu) ** 2 / variance**2 - 1 / variance))
    assert float(gradient[1]) == pytest.approx(expected_tau, rel=1e-12)


@pytest.fixture(scope="module")
def power():
    return PowerPrior.build(Y, SE, POWER_PRIORS)


def power_integral(a0, function=None, *, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, tau_max=np.inf):
    """∫∫ function(mu, tau, L_h) exp(a0 L_h(mu, tau)) pi0(mu) pi0(tau) dmu dtau (function = 1
    if None; pi0(mu) = 1 if mu_prior is None): scipy quad over log tau (tau from e^-40 to
    e^150 or tau_max; a flat-prior integrand has fallen by e^-59 at e^150 when a0 = 0.05), and
    at each tau Gauss-Legendre over mu, in (-200, 200) (10 SDs of the normal(0, 20) prior) or,
    with a flat prior, 40 likelihood SDs either side of the likelihood's peak."""

    def over_mu(t):
        tau = np.exp(t)
        variance = SE**2 + tau**2
        if mu_prior is None:
            precision = 1 / variance
            centre, half = precision @ Y / precision.sum(), 40 / np.sqrt(a0 * precision.sum())
        else:
            centre, half = 0.0, 200.0
        mu = centre + half * MU_NODES
        log_likelihood = -0.5 * (
            np.sum(np.log(2 * np.pi * variance)) + np.sum((Y - mu[:, None]) ** 2 / variance, 1)
        )
        values = 1.0 if function is None else function(mu, tau, log_likelihood)
        integrand = (
            values * np.exp(a0 * log_likelihood) * (1.0 if mu_prior is None else mu_prior(mu))
        )
        return tau * tau_prior(tau) * half * (MU_WEIGHTS @ integrand)

    cuts = [-5.0, 0.0, 2.0, 4.0, 8.0, 20.0, 50.0]
    return quad(over_mu, -40.0, min(150.0, np.log(tau_max)), cuts)


@pytest.mark.parametrize("a0", [0.1, 0.5, 1.0])
def test_power_prior_normalizer_matches_brute_force(power, a0):
    reference = np.log(power_integral(a0))
    assert power.error_estimate < 1e-8
    assert float(power.log_normalizer_at(a0)) == pytest.approx(reference, abs=1e-6)  # c: rel 1e-6


def test_normalizer_slope_is_the_expected_historical_log_likelihood(power):
    """d log c / d a0 = E[L_h] under the normalized power prior at a0."""
    a0 = 0.3
    expected = power_integral(a0, lambda mu, tau, log_likelihood: log_likelihood)
    expected /= power_integral(a0)
    slope = float(jax.grad(power.log_normalizer_at)(a0))
    assert slope == pytest.approx(expected, rel=1e-5)


def test_power_prior_at_a0_one_is_the_posterior(power):
    posterior = normal_normal_exact(Y, SE, priors=POWER_PRIORS)
    mean, variance = power.mu_moments(1.0)
    assert mean == pytest.approx(posterior.mean("mu"), rel=1e-8)
    assert variance == pytest.approx(posterior.sd("mu") ** 2, rel=1e-8)


def test_power_prior_near_a0_zero_is_the_prior(power):
    mean, variance = power.mu_moments(1e-6)
    assert abs(mean) < 1e-3 and variance == pytest.approx(400.0, rel=1e-4)
    assert abs(float(power.log_normalizer_at(1e-6))) < 1e-3
    assert float(power.log_normalizer_at(1e-9)) == float(power.log_normalizer_at(1e-6))


def test_power_prior_in_a_jitted_model_density(power):
    @jax.jit
    def log_density(a0, mu, tau):
        return a0 * historical_log_likelihood(mu, tau, Y, SE) - power.log_normalizer_at(a0)

    gradient = jax.grad(log_density, argnums=(0, 1, 2))(0.4, 5.0, 3.0)
    assert all(np.isfinite(float(g)) for g in gradient)


def test_flat_mu_and_heavy_tailed_tau():
    """With a flat mu prior and half-Cauchy tau, much of the mass of tau lies far out at small
    a0: the closed-form tails must carry it. At a0 = 1 the moments are the posterior's."""
    flat = PowerPrior.build(Y, SE, FLAT_PRIORS)
    for a0 in [0.05, 0.5]:
        reference = np.log(power_integral(a0, mu_prior=None, tau_prior=HALF_CAUCHY_5))
        assert float(flat.log_normalizer_at(a0)) == pytest.approx(reference, abs=1e-6)
    assert flat.mu_moments(0.05)[1] == np.inf  # a0 H = 0.4 < 2: tau^2 / (a0 H) not integrable
    posterior = normal_normal_exact(Y, SE, priors=FLAT_PRIORS)
    mean, variance = flat.mu_moments(1.0)
    assert mean == pytest.approx(posterior.mean("mu"), rel=1e-8)
    assert variance == pytest.approx(posterior.sd("mu") ** 2, rel=1e-8)


def test_uniform_tau_prior_is_integrated_up_to_its_edge():
    priors = Priors(mu=POWER_PRIORS.mu, tau=Prior.parse("uniform(0, 6)"))
    power = PowerPrior.build(Y, SE, priors)
    uniform = stats.uniform(0, 6).pdf
    reference = np.log(power_integral(0.5, tau_prior=uniform, tau_max=6.0))
    assert float(power.log_normalizer_at(0.5)) == pytest.approx(reference, abs=1e-6)


def test_improper_power_prior_is_refused():
    priors = Priors(mu=Prior.parse("flat()"), tau=Prior.parse("inv-gamma(0.5, 1)"))
    with pytest.raises(SitefxInputError, match="improper at a0"):
        PowerPrior.build(Y, SE, priors)
    with pytest.raises(SitefxInputError, match="normal or flat mu"):
        PowerPrior.build(Y, SE, Priors(mu=Prior.parse("student-t(3, 0, 1)"), tau=POWER_PRIORS.tau))
    with pytest.raises(SitefxInputError, match="positive support"):
        PowerPrior.build(Y, SE, Priors(mu=POWER_PRIORS.mu, tau=Prior.parse("normal(0, 1)")))
