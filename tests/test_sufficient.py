"""Sufficient statistics and the collapsed records model: exact against dense computations,
and the same posterior as the per-record model."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

import sitefx
from sitefx.data.statistics import SiteStatistics
from sitefx.infer.sufficient import draw_site_effects
from sitefx.models.collapsed import collapsed_log_likelihood
from sitefx.testing import simulate_records
from tests.builders import assert_same_posterior

# These tests call the collapsed likelihood directly: in float64, as sitefx runs it.
pytestmark = pytest.mark.usefixtures("x64")


@pytest.fixture(scope="module")
def small():
    data, _ = simulate_records(6, 240, n_covariates=3, seed=5)
    covariates = data.covariates - data.covariates.mean(axis=0)
    return data, covariates, SiteStatistics.from_records(data, covariates)


@pytest.fixture(scope="module")
def clustered():
    """Classrooms in schools (uneven sizes), with site-level moderators."""
    data, _ = simulate_records(5, 233, n_covariates=2, n_moderators=2, clusters_per_site=4, seed=8)
    covariates = data.covariates - data.covariates.mean(axis=0)
    return data, covariates, SiteStatistics.from_records(data, covariates)


def dense_site_covariance(data, j, sigma_matrix, sigma, cluster_sd):
    """Z, and the covariance of site j's records given beta: sigma^2 I + Z Sigma Z' + C C' sd^2."""
    rows = data.site_index == j
    z = np.column_stack([np.ones(rows.sum()), data.treatment[rows]])
    same_cluster = np.zeros((rows.sum(), rows.sum()))
    if data.cluster is not None:
        same_cluster = data.cluster[rows][:, None] == data.cluster[rows][None, :]
    covariance = sigma**2 * np.eye(rows.sum()) + z @ sigma_matrix @ z.T
    return rows, z, covariance + cluster_sd**2 * same_cluster


def test_statistics_equal_grouped_sums(small):
    data, covariates, stats = small
    frame = pd.DataFrame(covariates, columns=["x1", "x2", "x3"])
    frame["site"], frame["t"], frame["y"] = data.site_index, data.treatment, data.outcome
    grouped = frame.groupby("site")
    np.testing.assert_allclose(stats.n, grouped.size())
    np.testing.assert_allclose(stats.zz[:, 0, 1], grouped["t"].sum())
    np.testing.assert_allclose(
        stats.zy[:, 1], (frame["t"] * frame["y"]).groupby(frame["site"]).sum()
    )
    np.testing.assert_allclose(stats.zx[:, 0, :], grouped[["x1", "x2", "x3"]].sum(), atol=1e-12)
    treated_x = frame[["x1", "x2", "x3"]].mul(frame["t"], axis=0).groupby(frame["site"]).sum()
    np.testing.assert_allclose(stats.zx[:, 1, :], treated_x, atol=1e-12)
    np.testing.assert_allclose(stats.xx, covariates.T @ covariates)
    assert stats.yy == pytest.approx(np.sum(data.outcome**2))


def population(seed):
    rng = np.random.default_rng(seed)
    sd = rng.uniform(0.2, 1.0, 2)
    rho = rng.uniform(-0.8, 0.8)
    chol = np.array([[1.0, 0.0], [rho, np.sqrt(1 - rho**2)]])
    return {
        "mean": rng.normal(size=2),
        "scale_tril": sd[:, None] * chol,
        "sigma": rng.uniform(0.5, 1.5),
        "beta": rng.normal(size=3),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_collapsed_likelihood_equals_dense_multivariate_normal(small, seed):
    """Per site, r_j = y_j - X_j beta ~ N(Z_j m, sigma^2 I + Z_j Sigma Z_j'), summed."""
    data, covariates, stats = small
    p = population(seed)
    sigma_matrix = p["scale_tril"] @ p["scale_tril"].T
    expected = 0.0
    for j in range(data.n_sites):
        rows, z, covariance = dense_site_covariance(data, j, sigma_matrix, p["sigma"], 0.0)
        residual = data.outcome[rows] - covariates[rows] @ p["beta"]
        expected += scipy_stats.multivariate_normal(z @ p["mean"], covariance).logpdf(residual)
    value = collapsed_log_likelihood(stats, **p)
    assert float(value) == pytest.approx(expected, rel=1e-11)


@pytest.mark.parametrize("seed", [0, 1])
def test_collapsed_likelihood_with_clusters_and_site_means(clustered, seed):
    """Cluster intercepts add cluster_sd^2 to every pair of records in the same cluster, and
    moderators give each site its own mean m_j."""
    data, covariates, stats = clustered
    p = population(seed) | {"beta": np.array([0.3, -0.2]), "cluster_sd": 0.7}
    site_mean = p["mean"] + np.random.default_rng(seed).normal(size=(data.n_sites, 2))
    sigma_matrix = p["scale_tril"] @ p["scale_tril"].T
    expected = 0.0
    for j in range(data.n_sites):
        rows, z, covariance = dense_site_covariance(
            data, j, sigma_matrix, p["sigma"], p["cluster_sd"]
        )
        residual = data.outcome[rows] - covariates[rows] @ p["beta"]
        expected += scipy_stats.multivariate_normal(z @ site_mean[j], covariance).logpdf(residual)
    value = collapsed_log_likelihood(stats, **p | {"mean": site_mean})
    assert float(value) == pytest.approx(expected, rel=1e-11)


def test_per_site_terms_are_each_sites_dense_density(clustered):
    """With per-site statistics the likelihood splits into one exact term per site."""
    data, covariates, pooled = clustered
    stats = SiteStatistics.from_records(data, covariates, per_site=True)
    p = population(3) | {"beta": np.array([0.3, -0.2]), "cluster_sd": 0.7}
    site_mean = p["mean"] + np.random.default_rng(3).normal(size=(data.n_sites, 2))
    sigma_matrix = p["scale_tril"] @ p["scale_tril"].T
    expected = []
    for j in range(data.n_sites):
        rows, z, covariance = dense_site_covariance(
            data, j, sigma_matrix, p["sigma"], p["cluster_sd"]
        )
        residual = data.outcome[rows] - covariates[rows] @ p["beta"]
        expected.append(
            scipy_stats.multivariate_normal(z @ site_mean[j], covariance).logpdf(residual)
        )
    terms = collapsed_log_likelihood(stats, **p | {"mean": site_mean}, per_site=True)
    np.testing.assert_allclose(terms, expected, rtol=1e-10)
    total = collapsed_log_likelihood(pooled, **p | {"mean": site_mean})
    assert float(np.sum(terms)) == pytest.approx(float(total), rel=1e-11)


def test_records_in_any_order_give_the_same_cluster_sums(clustered):
    """Clusters are summed by site as sorted segments: shuffled records change nothing."""
    data, covariates, stats = clustered
    order = np.random.default_rng(0).permutation(data.n_records)
    shuffled = SiteStatistics.from_arrays(
        data.outcome[order],
        data.treatment[order],
        data.site_index[order],
        covariates[order],
        n_sites=data.n_sites,
        cluster=data.cluster[order],
    )
    assert np.all(np.diff(shuffled.clusters.site) >= 0)  # sorted by site
    for name in ("site", "n", "treated", "y", "x"):
        np.testing.assert_allclose(
            getattr(shuffled.clusters, name), getattr(stats.clusters, name), atol=1e-12
        )
    p = population(4) | {"beta": np.array([0.3, -0.2]), "cluster_sd": 0.7}
    assert float(collapsed_log_likelihood(shuffled, **p)) == pytest.approx(
        float(collapsed_log_likelihood(stats, **p)), rel=1e-12
    )


def test_records_without_covariates_split_into_per_site_terms():
    data, _ = simulate_records(4, 80, seed=4)
    no_covariates = np.zeros((data.n_records, 0))
    per_site = SiteStatistics.from_records(data, no_covariates, per_site=True)
    pooled = SiteStatistics.from_records(data, no_covariates)
    p = population(5) | {"beta": np.zeros(0)}
    terms = collapsed_log_likelihood(per_site, **p, per_site=True)
    assert terms.shape == (4,)
    assert float(np.sum(terms)) == pytest.approx(float(collapsed_log_likelihood(pooled, **p)))


@pytest.mark.parametrize("design", ["small", "clustered"])
def test_site_effect_draws_follow_the_exact_conditional(design, request):
    data, covariates, stats = request.getfixturevalue(design)
    p = population(3)
    sd = np.sqrt(np.sum(p["scale_tril"] ** 2, axis=1))
    rho = (p["scale_tril"] @ p["scale_tril"].T)[0, 1] / (sd[0] * sd[1])
    n_draws = 40_000
    beta = p["beta"][: covariates.shape[1]]
    moderators = data.moderators - data.moderators.mean(axis=0)
    gamma = np.array([[0.4, -0.3], [0.2, 0.5]])[: moderators.shape[1]]  # (alpha, theta) slopes
    cluster_sd = 0.7 if data.cluster is not None else 0.0
    draws = {
        "alpha_mean": np.full((1, n_draws), p["mean"][0]),
        "mu": np.full((1, n_draws), p["mean"][1]),
        "alpha_sd": np.full((1, n_draws), sd[0]),
        "tau": np.full((1, n_draws), sd[1]),
        "rho": np.full((1, n_draws), rho),
        "sigma": np.full((1, n_draws), p["sigma"]),
        "beta": np.broadcast_to(beta, (1, n_draws, len(beta))),
        "cluster_sd": np.full((1, n_draws), cluster_sd),
        "gamma_alpha": np.broadcast_to(gamma[:, 0], (1, n_draws, len(gamma))),
        "gamma": np.broadcast_to(gamma[:, 1], (1, n_draws, len(gamma))),
    }
    alpha, theta = draw_site_effects(
        stats, draws, rng=np.random.default_rng(0), moderators=moderators
    )
    sigma_matrix = p["scale_tril"] @ p["scale_tril"].T
    for j in range(data.n_sites):
        rows, z, covariance = dense_site_covariance(data, j, sigma_matrix, p["sigma"], cluster_sd)
        records = covariance - z @ sigma_matrix @ z.T  # V: covariance given the site effects
        residual = data.outcome[rows] - covariates[rows] @ beta
        precision = np.linalg.inv(sigma_matrix) + z.T @ np.linalg.solve(records, z)
        covariance = np.linalg.inv(precision)
        site_mean = p["mean"] + moderators[j] @ gamma
        mean = covariance @ (
            np.linalg.solve(sigma_matrix, site_mean) + z.T @ np.linalg.solve(records, residual)
        )
        sample = np.stack([alpha[0, :, j], theta[0, :, j]])
        standard_error = np.sqrt(np.diag(covariance) / n_draws)
        np.testing.assert_array_less(np.abs(sample.mean(axis=1) - mean), 5 * standard_error)
        np.testing.assert_allclose(
            np.cov(sample), covariance, rtol=0.05, atol=0.02 * covariance.max()
        )


@pytest.mark.parametrize(
    ("options", "extra"),
    [
        ({}, []),
        pytest.param(
            {"n_moderators": 1, "clusters_per_site": 4},
            ["gamma", "gamma_alpha", "cluster_sd"],
            marks=pytest.mark.slow,  # a long statistical check; run with -m slow
        ),
    ],
    ids=["plain", "moderators_and_clusters"],
)
def test_collapsed_and_per_record_posteriors_agree(options, extra):
    data, _ = simulate_records(8, 320, n_covariates=2, seed=11, **options)
    collapsed = sitefx.SiteEffects(draws=2000, seed=1).fit(data)
    # The per-record model samples every cluster intercept: it needs smaller steps.
    per_record = sitefx.SiteEffects(draws=2000, seed=2, collapse=False, target_accept=0.99)
    per_record = per_record.fit(data)
    names = ["mu", "tau", "alpha_mean", "alpha_sd", "sigma", "rho", "beta", "theta", "alpha"]
    assert_same_posterior(collapsed, per_record, names + extra)


def test_collapsed_records_recover_the_simulated_truth():
    data, truth = simulate_records(60, 30_000, n_covariates=4, seed=7)
    fit = sitefx.SiteEffects(seed=3).fit(data)
    table = fit.summary().set_index("parameter")
    for name in ["mu", "tau", "alpha_mean", "alpha_sd", "sigma", "rho"]:
        z = (table.at[name, "mean"] - truth[name]) / table.at[name, "sd"]
        assert abs(z) < 3.5, (name, z)
    theta = fit.posterior_["posterior"]["theta"]
    inside = (theta.quantile(0.025, ("chain", "draw")) < truth["theta"]) & (
        truth["theta"] < theta.quantile(0.975, ("chain", "draw"))
    )
    assert inside.mean() > 0.85  # 95% intervals: about 57 of 60 sites
    assert fit.warnings_ == []
    sampler = fit.posterior_.attrs["sampler"]
    assert "collapsed_sufficient_statistics" in sampler


@pytest.mark.slow  # a long statistical check; run with -m slow
def test_recovers_moderators_and_cluster_sd():
    """Cluster-randomized within sites (classrooms as clusters), with site-level moderators."""
    data, truth = simulate_records(
        50, 15_000, n_covariates=1, n_moderators=2, clusters_per_site=6, cluster_sd=0.4, seed=2
    )
    fit = sitefx.SiteEffects(seed=4).fit(data)
    posterior = fit.posterior_["posterior"]
    for name in ["mu", "sigma", "cluster_sd", "gamma", "gamma_alpha"]:
        z = (posterior[name].mean(("chain", "draw")) - truth[name]) / posterior[name].std(
            ("chain", "draw")
        )
        assert (np.abs(z) < 3.5).all(), (name, z.values)
    assert posterior["variance_explained"].dims == ("chain", "draw")
    assert fit.warnings_ == []


def with_districts(data, n_districts, seed):
    """Group the sites into districts whose intercepts and effects vary (SDs 0.3 and 0.2)."""
    rng = np.random.default_rng(seed)
    district = np.arange(data.n_sites) % n_districts
    shift = rng.normal(0, [0.3, 0.2], size=(n_districts, 2))[district]
    outcome = data.outcome + shift[data.site_index, 0] + shift[data.site_index, 1] * data.treatment
    level = sitefx.data.Level(
        name="district", groups=tuple(f"d{k}" for k in range(n_districts)), index=district
    )
    return dataclasses.replace(data, outcome=outcome, levels=(level,))


# Six districts leave the district SDs' posteriors funnel-shaped near 0: a rare divergent
# transition is expected (and reported to users); agreement of the two models is the check.
@pytest.mark.slow  # a long statistical check; run with -m slow
@pytest.mark.filterwarnings("ignore::sitefx.SamplingWarning")
def test_districts_above_schools_collapsed_and_per_record_agree():
    """Records with an upper level: the collapsed model (with district effects sampled and
    site effects drawn afterwards) matches the per-record model."""
    data, _ = simulate_records(18, 720, n_covariates=1, seed=13)
    data = with_districts(data, 6, seed=1)
    # Six districts say little about the district SDs: priors on their scale keep it tame.
    options = {
        "priors": {"tau_district": "half-normal(0.3)", "alpha_sd_district": "half-normal(0.5)"},
        "draws": 2000,
        "target_accept": 0.99,
    }
    collapsed = sitefx.SiteEffects(seed=1, **options).fit(data)
    per_record = sitefx.SiteEffects(seed=2, collapse=False, **options).fit(data)
    names = ["mu", "tau", "tau_district", "alpha_sd_district", "theta", "alpha", "theta_district"]
    assert_same_posterior(collapsed, per_record, names)
    assert collapsed.posterior_["constant_data"]["site_district"].values[:4].tolist() == [
        "d0",
        "d1",
        "d2",
        "d3",
    ]
