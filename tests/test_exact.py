"""The exact (quadrature) posterior for site summaries, against brute-force 2-D integration,
closed-form pieces and NUTS."""

import itertools

import numpy as np
import pytest
from scipy import integrate, optimize, stats

import sitefx
from sitefx.infer.exact import normal_normal_exact
from sitefx.infer.quadrature import mixture_quantile
from sitefx.models.priors import Prior, Priors
from sitefx.testing import simulate_site_summaries
from tests.builders import (
    EIGHT_SCHOOLS_ESTIMATES,
    EIGHT_SCHOOLS_SES,
    assert_draw_means_match_exact,
    bundled_study,
)

Y, SE = EIGHT_SCHOOLS_ESTIMATES, EIGHT_SCHOOLS_SES
TAU_PRIORS = {
    "half-normal(11)": stats.halfnorm(scale=11).logpdf,
    "half-cauchy(5)": stats.halfcauchy(scale=5).logpdf,
    "uniform(0, 50)": stats.uniform(0, 50).logpdf,
    "inv-gamma(1, 1)": stats.invgamma(1, scale=1).logpdf,
    "exponential(0.1)": stats.expon(scale=10).logpdf,
}


def brute_force_moments(mu_prior: tuple[float, float] | None, log_prior_tau, upper=np.inf):
    """Posterior means and SDs of mu and tau on a dense 2-D Gauss-Legendre grid over
    (mu, tau), with theta integrated analytically; written independently of sitefx.

    tau = 10 u / (1 - u) maps (0, 1) onto (0, inf) (or u in (0, upper) directly); 1,500 x 3,000
    nodes resolve these smooth densities far below the 1e-6 tolerance used.
    """
    m0, s0 = mu_prior or (0.0, np.inf)
    u, wu = np.polynomial.legendre.leggauss(3000)
    if np.isfinite(upper):
        tau, jacobian = upper * (u + 1) / 2, np.full(u.shape, upper / 2)
    else:
        unit = (u + 1) / 2
        tau, jacobian = 10 * unit / (1 - unit), 10 / (1 - unit) ** 2 / 2
    x, wx = np.polynomial.legendre.leggauss(1500)
    mu, mu_weight = 10 + 90 * x, 90 * wx  # mu in (-80, 100)
    v = SE**2 + tau[:, None] ** 2
    log_joint = (
        log_prior_tau(tau)[:, None]
        - 0.5 * np.sum(np.log(v), axis=1)[:, None]
        - 0.5 * np.sum((Y - mu[:, None, None]) ** 2 / v, axis=2).T
    )
    if np.isfinite(s0):
        log_joint = log_joint + stats.norm.logpdf(mu, m0, s0)
    weights = np.exp(log_joint - log_joint.max()) * (wu * jacobian)[:, None] * mu_weight
    weights /= weights.sum()
    moments = {}
    for name, values in [("mu", mu[None, :]), ("tau", tau[:, None])]:
        first = np.sum(weights * values)
        moments[name] = (first, np.sqrt(np.sum(weights * values**2) - first**2))
    return moments


@pytest.mark.parametrize("tau_prior", ["half-normal(11)", "half-cauchy(5)", "uniform(0, 50)"])
def test_exact_moments_match_brute_force_2d_integration(tau_prior):
    priors = Priors(mu=Prior.parse("normal(0, 28)"), tau=Prior.parse(tau_prior))
    upper = 50.0 if tau_prior.startswith("uniform") else np.inf
    reference = brute_force_moments((0.0, 28.0), TAU_PRIORS[tau_prior], upper)
    posterior = normal_normal_exact(Y, SE, priors=priors)
    assert posterior.error_estimate < 1e-8
    for name in ["mu", "tau"]:
        sd = reference[name][1]
        assert posterior.mean(name) == pytest.approx(reference[name][0], abs=1e-6 * sd)
        assert posterior.sd(name) == pytest.approx(sd, rel=1e-6)


def test_flat_mu_and_inverse_gamma_tau_priors_match_brute_force_2d_integration():
    priors = Priors(mu=Prior.parse("flat()"), tau=Prior.parse("inv-gamma(1, 1)"))
    reference = brute_force_moments(None, TAU_PRIORS["inv-gamma(1, 1)"])
    posterior = normal_normal_exact(Y, SE, priors=priors)
    for name in ["mu", "tau"]:
        assert posterior.mean(name) == pytest.approx(reference[name][0], rel=1e-6)
        assert posterior.sd(name) == pytest.approx(reference[name][1], rel=1e-6)


def test_tau_quantiles_and_density_integrate_correctly():
    priors = Priors(mu=Prior.parse("normal(0, 28)"), tau=Prior.parse("half-normal(11)"))
    posterior = normal_normal_exact(Y, SE, priors=priors)

    def log_marginal_tau(tau):  # p(tau | y) with mu integrated analytically
        v = SE**2 + tau**2
        precision = np.sum(1 / v) + 1 / 28**2
        mu_hat = np.sum(Y / v) / precision
        return (
            stats.halfnorm.logpdf(tau, scale=11)
            - 0.5 * np.sum(np.log(v))
            - 0.5 * np.log(precision)
            - 0.5 * (np.sum((Y - mu_hat) ** 2 / v) + mu_hat**2 / 28**2)
        )

    def mass(lower, upper):  # quad misjudges (0, inf) in one piece: split at 20 and 200
        cuts = [c for c in (lower, 20.0, 200.0) if c < upper] + [upper]
        return sum(
            integrate.quad(lambda t: np.exp(log_marginal_tau(t)), a, b, epsrel=1e-12)[0]
            for a, b in itertools.pairwise(cuts)
        )

    norm = mass(0.0, np.inf)
    quantiles = posterior.quantile("tau", [0.025, 0.5, 0.975])
    for prob, quantile in zip([0.025, 0.5, 0.975], quantiles, strict=True):
        assert mass(0.0, quantile) / norm == pytest.approx(prob, abs=1e-6)
    x = np.array([1.0, 5.0, 20.0])
    expected = np.exp([log_marginal_tau(t) for t in x]) / norm
    np.testing.assert_allclose(posterior.pdf("tau", x), expected, rtol=1e-4)
    low, high = posterior.bounds
    outside = np.exp([low - 1.0, high + 1.0])  # beyond the grid: no mass
    assert posterior.pdf("tau", outside).tolist() == [0.0, 0.0]
    assert float(posterior.cdf("tau", 5.0)) == pytest.approx(mass(0.0, 5.0) / norm, abs=1e-6)
    assert float(posterior.cdf("tau", -1.0)) == 0.0


def test_cdf_inverts_the_quantiles():
    priors = Priors(mu=Prior.parse("normal(0, 28)"), tau=Prior.parse("half-cauchy(5)"))
    posterior = normal_normal_exact(Y, SE, priors=priors)
    for name in ("mu", "theta_new"):
        quantile = posterior.quantile(name, np.array([0.3]))[0]
        assert float(posterior.cdf(name, quantile)) == pytest.approx(0.3, abs=1e-9)
    theta = posterior.quantile("theta", np.array([0.8]))[0]  # one per site
    np.testing.assert_allclose(
        [posterior.cdf("theta", t)[j] for j, t in enumerate(theta)], 0.8, atol=1e-9
    )


def test_mixture_quantiles_solve_the_cdf():
    weight = np.array([0.2, 0.5, 0.3])
    means = np.array([[-1.0, 0.0], [0.5, 3.0], [2.0, 3.5]])
    sds = np.array([[0.5, 1.0], [1.0, 0.2], [0.3, 2.0]])
    probs = np.array([0.025, 0.5, 0.975])
    result = mixture_quantile(weight, means, sds, probs)
    for column in range(2):
        for i, prob in enumerate(probs):

            def gap(x, c=column, p=prob):
                return weight @ stats.norm.cdf(x, means[:, c], sds[:, c]) - p

            expected = optimize.brentq(gap, -20, 20, xtol=1e-14)
            assert result[i, column] == pytest.approx(expected, abs=1e-9)


def test_draws_follow_the_exact_moments():
    data, _ = simulate_site_summaries(30, seed=4)
    fit = sitefx.SiteEffects(method="exact", draws=5000, seed=3).fit(data)
    posterior = fit.posterior_["posterior"]
    assert_draw_means_match_exact(posterior, fit.exact_, ["mu", "tau", "theta", "theta_new"], z=4.5)
    sd = posterior["theta"].std(("chain", "draw")).values
    np.testing.assert_allclose(sd, fit.exact_.sd("theta"), rtol=0.05)


def test_nuts_agrees_with_the_exact_posterior(eight_schools, eight_schools_exact):
    nuts = sitefx.SiteEffects(method="nuts", draws=2500, seed=8).fit(eight_schools)
    draws = nuts.posterior_["posterior"]
    assert_draw_means_match_exact(draws, eight_schools_exact.exact_, ["mu", "tau", "theta"], z=4)


def test_auto_picks_exact_and_reports_it(eight_schools):
    fit = sitefx.SiteEffects().fit(eight_schools)
    assert fit.exact_ is not None and fit.warnings_ == []
    sampler = fit.posterior_.attrs["sampler"]
    assert '"method": "exact"' in sampler and '"grid_nodes"' in sampler
    table = fit.summary().set_index("parameter")
    assert table.at["mu", "mean"] == pytest.approx(fit.exact_.mean("mu"))
    assert table.at["theta[C]", "q97.5"] == pytest.approx(
        fit.exact_.quantile("theta", [0.975])[0, 2]
    )
    student = sitefx.SiteEffects(priors={"mu": "student-t(3, 0, 10)"}).fit  # falls back to NUTS
    assert student(eight_schools).exact_ is None


def test_exact_refused_when_it_does_not_apply(eight_schools, star):
    with pytest.raises(sitefx.SitefxInputError, match="normal or flat priors on mu"):
        sitefx.SiteEffects(method="exact", priors={"mu": "student-t(3, 0, 10)"}).fit(eight_schools)
    with pytest.raises(sitefx.SitefxInputError, match="individual records"):
        sitefx.SiteEffects(method="exact").fit(star)
    with pytest.raises(sitefx.SitefxInputError, match="method must be one of"):
        sitefx.SiteEffects(method="laplace").fit(eight_schools)


def test_a_narrow_tau_posterior_from_1000_precise_sites_is_found_and_integrated():
    data, truth = simulate_site_summaries(1000, tau=0.1, se_range=(0.02, 0.1), seed=2)
    priors = Priors(mu=Prior.parse("normal(0, 1)"), tau=Prior.parse("half-normal(0.5)"))
    posterior = normal_normal_exact(data.estimate, data.se, priors=priors)
    assert posterior.error_estimate < 1e-9
    assert abs(posterior.mean("tau") - truth["tau"]) < 4 * posterior.sd("tau")
    lo, hi = posterior.quantile("tau", [0.001, 0.999])
    assert lo < posterior.mean("tau") < hi and hi - lo < 0.05


def test_meta_regression_nuts_and_exact_draws_agree_with_the_exact_posterior():
    study = bundled_study("teacher_expectancy", moderators="weeks,n")
    exact = sitefx.SiteEffects(method="exact").fit(study)
    nuts = sitefx.SiteEffects(method="nuts", draws=2500, seed=4).fit(study)
    names = ["mu", "tau", "gamma", "theta"]
    assert_draw_means_match_exact(nuts.posterior_["posterior"], exact.exact_, names, z=4)
    draws = exact.posterior_["posterior"]
    assert list(draws["gamma"]["moderator"].values) == ["weeks", "n"]
    assert_draw_means_match_exact(draws, exact.exact_, ["gamma"], z=4.5)
    table = exact.summary().set_index("parameter")
    assert table.at["gamma[n]", "q50"] == pytest.approx(exact.exact_.quantile("gamma", [0.5])[0, 1])
