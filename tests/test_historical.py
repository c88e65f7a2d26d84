"""Historical borrowing wired into fits: robust MAP and power priors against quadrature
references of the same posteriors, conflict behaviour, and the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import sitefx
from sitefx.families import resolve_priors
from sitefx.infer.exact import normal_normal_exact
from sitefx.testing import simulate_site_summaries
from tests.builders import STUDIES, Z, bundled_study, monte_carlo_error, write_frame

# The reference grids evaluate prior densities with JAX directly: in float64, as sitefx does.
pytestmark = pytest.mark.usefixtures("x64")

# Six sites with a small tau: NUTS needs small steps near tau = 0.
SMALL_STEPS = {"target_accept": 0.99}

HISTORY, _ = simulate_site_summaries(10, mu=0.2, tau=0.1, seed=1)
CURRENT, _ = simulate_site_summaries(6, mu=0.2, tau=0.1, seed=2)
CONFLICT, _ = simulate_site_summaries(6, mu=0.9, tau=0.1, seed=2)


def grid_posterior(log_prior_mu, log_extra, data, priors):
    """Mean of mu and tau on a dense (mu, tau) grid: the current sites' marginal likelihood
    times the prior of tau, the prior of mu and an extra log factor in (mu, tau)."""
    mu = np.linspace(-1.5, 2.5, 1601)[:, None]
    tau = np.linspace(1e-5, 1.2, 1200)[None, :]
    log_post = log_prior_mu(mu) + np.asarray(priors.tau.distribution().log_prob(tau))
    variance = data.se[:, None, None] ** 2 + tau**2
    log_post = log_post - 0.5 * np.sum(
        np.log(variance) + (data.estimate[:, None, None] - mu) ** 2 / variance, axis=0
    )
    log_post = log_post + log_extra(mu, tau)
    weight = np.exp(log_post - special.logsumexp(log_post))
    return float(np.sum(weight * mu)), float(np.sum(weight * tau))


def historical_log_likelihood(mu, tau):
    variance = HISTORY.se[:, None, None] ** 2 + tau**2
    return -0.5 * np.sum(
        np.log(2 * np.pi * variance) + (HISTORY.estimate[:, None, None] - mu) ** 2 / variance,
        axis=0,
    )


# Under conflict the posterior of mu has a second, narrow mode at the historical prior: a
# rare divergent transition there is expected; agreement with quadrature is the check.
@pytest.mark.filterwarnings("ignore::sitefx.SamplingWarning")
@pytest.mark.parametrize("data", [CURRENT, CONFLICT], ids=["agreement", "conflict"])
def test_robust_map_matches_quadrature(data):
    fit = sitefx.SiteEffects(historical=HISTORY, draws=2000, seed=3).fit(data)
    mixture = fit.priors_.mu.mixture
    assert mixture.weight[-1] == pytest.approx(0.2)  # the vague component
    mean_mu, mean_tau = grid_posterior(
        lambda mu: mixture.log_pdf(mu), lambda mu, tau: 0.0, data, fit.priors_
    )
    table = fit.summary().set_index("parameter")
    assert abs(table.at["mu", "mean"] - mean_mu) < Z * monte_carlo_error(fit, "mu")
    assert abs(table.at["tau", "mean"] - mean_tau) < Z * monte_carlo_error(fit, "tau")


@pytest.mark.filterwarnings("ignore::sitefx.SamplingWarning")  # see above
def test_robust_map_prior_sharpens_agreeing_data_and_yields_to_conflicting_data():
    agree = sitefx.SiteEffects(historical=HISTORY, seed=3).fit(CURRENT)
    conflict = sitefx.SiteEffects(historical=HISTORY, seed=3).fit(CONFLICT)
    alone = sitefx.SiteEffects(seed=3).fit(CURRENT)
    report = {
        name: json.loads(fit.posterior_.attrs["borrowing"])
        for name, fit in [("agree", agree), ("conflict", conflict)]
    }
    assert report["agree"]["conflict"] < 0.2 < 0.8 < report["conflict"]["conflict"]
    sd = {
        name: fit.summary().set_index("parameter").at["mu", "sd"]
        for name, fit in [("agree", agree), ("alone", alone)]
    }
    assert sd["agree"] < 0.85 * sd["alone"]  # borrowing sharpens mu when history agrees
    assert conflict.summary().set_index("parameter").at["mu", "mean"] > 0.7  # data win


# Strong conflict: a narrow historical prior at 0.2, current sites near 0.6. The posterior of
# mu has two modes, the historical prior's and the data's.
BIMODAL_HISTORY, _ = simulate_site_summaries(20, mu=0.2, tau=0.05, se_range=(0.05, 0.1), seed=1)
BIMODAL, _ = simulate_site_summaries(5, mu=0.6, tau=0.05, se_range=(0.15, 0.25), seed=2)
BIMODAL_PRIORS = {"mu": "normal(0, 1)", "tau": "half-normal(0.3)"}


def grid_mu_distribution(log_prior_mu, data, priors):
    """mu's posterior CDF on a fine grid: (mu, tau) integrated on a dense rectangle."""
    mu = np.linspace(-1.0, 2.0, 6001)[:, None]
    tau = np.linspace(1e-6, 1.0, 2000)[None, :]
    log_post = log_prior_mu(mu) + np.asarray(priors.tau.distribution().log_prob(tau))
    for estimate, se in zip(data.estimate, data.se, strict=True):
        variance = se**2 + tau**2
        log_post = log_post - 0.5 * (np.log(variance) + (estimate - mu) ** 2 / variance)
    density = np.exp(log_post - log_post.max()).sum(axis=1)
    density /= density.sum()
    return mu[:, 0], density


def test_exact_robust_map_under_strong_conflict_matches_quadrature():
    """The exact method is right where NUTS struggles (two modes): mean and quantiles of mu
    within 0.003 posterior SD of a dense 2-D grid."""
    fit = sitefx.SiteEffects(historical=BIMODAL_HISTORY, priors=BIMODAL_PRIORS).fit(BIMODAL)
    assert fit.exact_ is not None and fit.warnings_ == []
    mu, density = grid_mu_distribution(fit.priors_.mu.mixture.log_pdf, BIMODAL, fit.priors_)
    row = fit.summary().set_index("parameter").loc["mu"]
    assert row["mean"] == pytest.approx(density @ mu, abs=0.003 * row["sd"])
    cdf = np.cumsum(density) - density / 2
    for name, prob in (("q2.5", 0.025), ("q50", 0.5), ("q97.5", 0.975)):
        assert row[name] == pytest.approx(np.interp(prob, cdf, mu), abs=0.003 * row["sd"])
    report = json.loads(fit.posterior_.attrs["borrowing"])
    assert 0.6 < report["conflict"] < 0.8  # a real mixture of the two modes


@pytest.mark.filterwarnings("ignore::sitefx.SamplingWarning")
def test_nuts_warns_when_the_map_posterior_has_two_modes():
    nuts = sitefx.SiteEffects(
        historical=BIMODAL_HISTORY, priors=BIMODAL_PRIORS, method="nuts", seed=1
    ).fit(BIMODAL)
    assert any("two modes" in problem for problem in nuts.warnings_)
    agree = sitefx.SiteEffects(historical=HISTORY, method="nuts", seed=3, **SMALL_STEPS)
    assert not any("two modes" in problem for problem in agree.fit(CURRENT).warnings_)


def test_power_prior_with_a0_one_pools_the_studies():
    """a0 = 1: historical studies are just more sites, so the posterior is the exact
    normal-normal posterior of all 16 studies together."""
    fit = sitefx.SiteEffects(
        historical=HISTORY, borrow="power", borrow_weight=1.0, draws=2000, seed=4
    ).fit(CURRENT)
    pooled = normal_normal_exact(
        np.concatenate([HISTORY.estimate, CURRENT.estimate]),
        np.concatenate([HISTORY.se, CURRENT.se]),
        priors=fit.priors_,
    )
    table = fit.summary().set_index("parameter")
    for name in ["mu", "tau"]:
        assert abs(table.at[name, "mean"] - pooled.mean(name)) < Z * monte_carlo_error(
            fit, name, "mean"
        )


def test_power_prior_with_fixed_a0_matches_quadrature():
    fit = sitefx.SiteEffects(
        historical=HISTORY, borrow="power", borrow_weight=0.3, draws=2000, seed=5
    ).fit(CONFLICT)
    prior_mu = fit.priors_.mu.params
    mean_mu, mean_tau = grid_posterior(
        lambda mu: stats.norm.logpdf(mu, *prior_mu),
        lambda mu, tau: 0.3 * historical_log_likelihood(mu, tau),
        CONFLICT,
        fit.priors_,
    )
    table = fit.summary().set_index("parameter")
    assert abs(table.at["mu", "mean"] - mean_mu) < Z * monte_carlo_error(fit, "mu")
    assert abs(table.at["tau", "mean"] - mean_tau) < Z * monte_carlo_error(fit, "tau")


@pytest.mark.slow  # a long statistical check; run with -m slow
def test_learned_power_weight_drops_under_conflict():
    fits = {
        name: sitefx.SiteEffects(historical=HISTORY, borrow="power", seed=6).fit(data)
        for name, data in [("agree", CURRENT), ("conflict", CONFLICT)]
    }
    a0 = {name: float(fit.posterior_["posterior"]["a0"].mean()) for name, fit in fits.items()}
    assert a0["conflict"] < 0.15 < 0.4 < a0["agree"]
    report = json.loads(fits["conflict"].posterior_.attrs["borrowing"])
    exact = fits["conflict"].summary().set_index("parameter").at["a0", "mean"]  # exact fit
    assert report["a0_learned"] and report["a0"] == pytest.approx(exact, rel=1e-12)
    assert abs(a0["conflict"] - exact) < 0.01  # its draws agree


@pytest.mark.slow  # 2,000 NUTS draws per chain against the exact grid
@pytest.mark.filterwarnings("ignore::sitefx.SamplingWarning")
def test_exact_learned_power_weight_agrees_with_nuts():
    """A learned a0 in the exact method: a grid in log a0 beside the grid in log tau, each
    a0 weighted by the normalized power prior; its posterior matches NUTS's."""
    exact = sitefx.SiteEffects(historical=HISTORY, borrow="power", seed=6).fit(CONFLICT)
    assert exact.exact_ is not None and exact.exact_.error_estimate < 1e-8
    nuts = sitefx.SiteEffects(
        historical=HISTORY, borrow="power", method="nuts", draws=2000, seed=6, **SMALL_STEPS
    ).fit(CONFLICT)
    table = exact.summary().set_index("parameter")
    for name in ("mu", "tau", "a0"):
        assert table.at[name, "mcse_mean"] == 0.0
        nuts_mean = float(nuts.posterior_["posterior"][name].mean())
        assert abs(table.at[name, "mean"] - nuts_mean) < Z * monte_carlo_error(
            nuts, name, "mean"
        ), name
    report = json.loads(exact.posterior_.attrs["borrowing"])
    assert report["a0"] == pytest.approx(table.at["a0", "mean"])
    assert report["a0_interval"] == pytest.approx([table.at["a0", "q2.5"], table.at["a0", "q97.5"]])


def test_map_prior_effective_sample_size_is_counted_in_people():
    """Summaries with n: the MAP prior's ESS uses the unit-information SD se * sqrt(n)."""
    history = bundled_study("teacher_expectancy").data
    current = bundled_study("teacher_expectancy").data
    report = json.loads(
        sitefx.SiteEffects(historical=history, seed=1).fit(current).posterior_.attrs["borrowing"]
    )
    sigma = float(np.median(current.se * np.sqrt(current.n)))
    assert report["unit_information_sd"] == pytest.approx(sigma)
    priors = resolve_priors(history)
    from sitefx.infer.borrowing import map_prior

    expected = map_prior(history.estimate, history.se, priors).ess(sigma)
    assert report["prior_ess"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"borrow": "commensurate"}, "borrow must be one of map, power"),
        ({"borrow": "map", "borrow_weight": 1.0}, r"--borrow-weight\) of map must be in \(0, 1\)"),
        ({"borrow": "map", "priors": {"mu": "flat()"}}, "give mu a normal prior"),
    ],
)
def test_impossible_borrowing_options_are_refused(options, message):
    with pytest.raises(sitefx.SitefxInputError, match=message):
        sitefx.SiteEffects(historical=HISTORY, **options).fit(CURRENT)


def test_historical_flags_borrow_from_earlier_site_summaries_only(tmp_path, cli):
    frame = pd.read_csv(STUDIES / "teacher_expectancy" / "teacher_expectancy.csv")
    earlier = write_frame(frame.iloc[:10], tmp_path / "earlier.csv")
    current = write_frame(frame.iloc[10:], tmp_path / "current.csv")
    roles = ["--site", "study", "--estimate", "d", "--se", "se", "--n", "n"]
    common = ["fit", current, "--out", tmp_path / "out", *roles]
    run = cli(*common, "--historical", earlier, "--borrow", "power")
    assert run.code == 0
    assert "borrowing: power prior from 10 studies" in run.out and "(learned)" in run.out
    run = cli(*common, "--historical", STUDIES / "star")
    assert run.code == 2 and "must be site summaries" in run.err
