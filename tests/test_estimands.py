"""Estimands against hand computations, closed forms and a literal reference implementation."""

import numpy as np
import pytest
from scipy import optimize, stats

import sitefx
from sitefx.estimands import (
    estimands,
    gelman_pardoe_pooling,
    pooling_factor,
    population_share_above,
    posterior_ranks,
    share_above,
    triple_goal,
    variance_reduction,
    weighted_average,
)
from tests.builders import STUDIES, bundled_study


def test_site_and_person_weighted_averages_by_hand():
    theta = np.array([[[1.0, 2.0, 6.0], [0.0, 3.0, 3.0]]])  # 1 chain, 2 draws, 3 sites
    people = np.array([10.0, 30.0, 60.0])
    np.testing.assert_allclose(weighted_average(theta), [[3.0, 2.0]])
    np.testing.assert_allclose(weighted_average(theta, people), [[0.1 + 0.6 + 3.6, 0.9 + 1.8]])
    np.testing.assert_allclose(share_above(theta, 1.5), [[2 / 3, 2 / 3]])


def test_ranks_put_the_largest_effect_first():
    theta = np.array([[[0.3, -1.0, 2.0, 0.5], [5.0, 4.0, 3.0, 2.0]]])
    np.testing.assert_array_equal(posterior_ranks(theta), [[[3, 4, 1, 2], [1, 2, 3, 4]]])


def normal_normal_conditional(estimate, se, mu, tau, draws, seed):
    """Draws of theta_j given mu and tau (known): the closed-form normal posterior."""
    shrink = se**2 / (se**2 + tau**2)
    mean = shrink * mu + (1 - shrink) * estimate
    sd = np.sqrt(shrink * tau**2)
    rng = np.random.default_rng(seed)
    return mean, sd, mean + sd * rng.standard_normal((2, draws, len(estimate)))


def test_pooling_factors_match_the_normal_normal_closed_form():
    estimate = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
    se = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
    tau = 8.0
    _, _, theta = normal_normal_conditional(estimate, se, 8.0, tau, 200_000, seed=0)
    closed = se**2 / (se**2 + tau**2)
    np.testing.assert_allclose(pooling_factor(se, np.full((2, 10), tau)), closed, rtol=1e-12)
    # with mu and tau known, 1 - posterior var / sampling var is the pooling factor too
    np.testing.assert_allclose(variance_reduction(theta, se), closed, atol=0.01)


def test_gelman_pardoe_pooling_matches_its_closed_form():
    """With independent normal posteriors e_j ~ N(m_j, v_j): lambda = mean(v) / (V(m) + mean(v))."""
    means = np.array([-2.0, -0.5, 0.0, 1.0, 3.0])
    sds = np.array([0.5, 1.0, 1.5, 1.0, 2.0])
    draws = means + sds * np.random.default_rng(1).standard_normal((4, 100_000, 5))
    expected = np.mean(sds**2) / (means.var(ddof=1) + np.mean(sds**2))
    assert gelman_pardoe_pooling(draws) == pytest.approx(expected, abs=0.005)


def test_population_share_matches_simulated_new_sites():
    rng = np.random.default_rng(2)
    mu, tau = rng.normal(1.0, 0.3, (2, 500)), rng.gamma(4.0, 0.25, (2, 500))
    new = mu[..., None] + tau[..., None] * rng.standard_normal((2, 500, 4000))
    simulated = (new > 0.5).mean(axis=-1)
    np.testing.assert_allclose(population_share_above(mu, tau, 0.5), simulated, atol=0.03)
    new_t = mu[..., None] + tau[..., None] * rng.standard_t(3.0, (2, 500, 4000))
    np.testing.assert_allclose(
        population_share_above(mu, tau, 0.5, df=3.0), (new_t > 0.5).mean(axis=-1), atol=0.03
    )
    # one location per site (meta-regression): the shares are averaged over the sites
    locations = np.stack([mu - 1.0, mu + 1.0], axis=-1)
    both = population_share_above(mu - 1.0, tau, 0.5) + population_share_above(mu + 1.0, tau, 0.5)
    np.testing.assert_allclose(population_share_above(locations, tau, 0.5), both / 2)


def reference_triple_goal(theta: np.ndarray) -> np.ndarray:
    """Shen & Louis (1998), written out step by step: ranks by pairwise comparison, the
    estimated distribution G as the average of the sites' posterior CDFs, G^-1 by root
    finding."""
    draws = theta.reshape(-1, theta.shape[-1])
    n_draws, n_sites = draws.shape
    ranks = np.zeros(n_sites)  # posterior mean rank, 1 for the smallest
    for j in range(n_sites):
        ranks[j] = np.mean([1 + np.sum(draws[s] < draws[s, j]) for s in range(n_draws)])
    integer_ranks = np.empty(n_sites)
    integer_ranks[np.argsort(ranks)] = np.arange(1, n_sites + 1)

    def average_cdf(t):
        return np.mean([np.mean(draws[:, j] <= t) for j in range(n_sites)])

    low, high = draws.min() - 1.0, draws.max() + 1.0
    return np.array(
        [
            optimize.brentq(lambda t, p=p: average_cdf(t) - p, low, high, xtol=1e-10)
            for p in (2 * integer_ranks - 1) / (2 * n_sites)
        ]
    )


def test_triple_goal_matches_a_literal_implementation_of_the_algorithm():
    rng = np.random.default_rng(3)
    true = rng.normal(0.0, 1.0, 12)
    se = rng.uniform(0.3, 1.5, 12)
    _, _, theta = normal_normal_conditional(
        true + se * rng.standard_normal(12), se, 0.0, 1.0, 600, 4
    )
    ours = triple_goal(theta)
    reference = reference_triple_goal(theta)
    # G is a step function: the two inverses can differ by one gap between pooled draws
    gap = np.diff(np.sort(theta.ravel())).max()
    np.testing.assert_allclose(ours, reference, atol=gap)
    assert np.abs(ours - reference).max() < 0.02


def test_triple_goal_recovers_the_spread_that_posterior_means_lose():
    """Closed form: with mu and tau known and equal SEs, G is a normal mixture; the estimates
    are its (2r - 1) / 2K quantiles, and their spread beats the posterior means'."""
    rng = np.random.default_rng(5)
    n_sites, tau, se = 30, 1.0, np.full(30, 1.0)
    estimate = rng.normal(0.0, np.sqrt(tau**2 + 1.0), n_sites)
    mean, sd, theta = normal_normal_conditional(estimate, se, 0.0, tau, 20_000, seed=6)

    def mixture_cdf(t):
        return stats.norm.cdf(t, mean, sd).mean()

    order = np.argsort(np.argsort(mean))  # equal SEs: rank of the posterior means
    closed = [
        optimize.brentq(lambda t, p=p: mixture_cdf(t) - p, -10, 10)
        for p in (2 * order + 1) / (2 * n_sites)
    ]
    np.testing.assert_allclose(triple_goal(theta), closed, atol=0.03)
    assert np.std(closed) > 1.2 * np.std(mean)


@pytest.fixture(scope="module")
def calendar_fit():
    study = bundled_study("school_calendar")
    return sitefx.SiteEffects(chains=4, draws=1000, warmup=1000, seed=4).fit(study)


def test_estimands_of_a_three_level_fit_agree_with_its_new_site_draws(calendar_fit):
    tree = calendar_fit.posterior_
    result = estimands(tree, threshold=0.1)
    posterior = tree["posterior"]
    theta_new = posterior["theta_new"].values
    # the analytic population share against the share of new-site draws above the threshold
    assert result["population_share_above"].mean() == pytest.approx(
        (theta_new > 0.1).mean(), abs=0.02
    )
    # deviations from each district's effect: the site level pools about as much as its
    # pooling factors say
    assert 0 < float(tree["estimands"]["gelman_pardoe_pooling"]) < 1
    np.testing.assert_allclose(result["mu_sites"], posterior["theta"].mean("site"), rtol=1e-12)
    ranks = result["rank"].values
    assert sorted(ranks[0, 0]) == list(range(1, 57))
    assert "mu_persons" not in result  # no sample sizes in these data


def test_person_weighted_average_uses_the_sites_sizes(eight_schools):
    frame = sitefx.read_table(STUDIES / "teacher_expectancy" / "teacher_expectancy.csv")
    study = sitefx.load(frame, site="study", estimate="d", se="se", n="n")
    fit = sitefx.SiteEffects(seed=2).fit(study)
    result = estimands(fit.posterior_)
    theta = fit.posterior_["posterior"]["theta"]
    n = frame["n"].to_numpy(dtype=float)
    by_hand = (theta * n).sum("site") / n.sum()
    np.testing.assert_allclose(result["mu_persons"], by_hand, rtol=1e-12)
