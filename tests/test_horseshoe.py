"""The regularized horseshoe on covariates and moderators: its prior, its errors, and a fit
against brms with the same model and priors."""

import dataclasses
import json

import jax
import numpy as np
import pandas as pd
import pytest
from numpyro.infer import Predictive
from scipy import stats

import sitefx
from sitefx.errors import PriorSpecError
from sitefx.families import horseshoe_prior, resolve_priors
from sitefx.models.hierarchical import coefficients
from sitefx.models.priors import Prior
from sitefx.testing import simulate_records, simulate_site_summaries
from tests.builders import REFERENCE, assert_agrees_with_brms


def test_global_scale_follows_piironen_vehtari():
    """scale_global = p0 / (D - p0) * S / sqrt(n) (their eq. 3.12 with sigma -> S)."""
    data, _ = simulate_records(10, 1000, n_covariates=8, seed=0)
    prior = horseshoe_prior(data, p0=2)
    scale = np.std(data.outcome, ddof=1)
    assert prior.family == "horseshoe"
    assert prior.params[0] == pytest.approx(2 / 6 * scale / np.sqrt(1000), rel=0.05)
    assert prior.params[1:] == (float(f"{scale:.2g}"), 4.0)
    assert horseshoe_prior(data).params[0] == pytest.approx(prior.params[0])  # p0 = 8 / 4


@pytest.mark.parametrize(
    ("make", "options", "message"),
    [
        (lambda: simulate_records(5, 100, n_covariates=1)[0], {}, "this model has 1"),
        (lambda: simulate_records(5, 100, n_covariates=3)[0], {"p0": 3}, r"in \(0, 3\)"),
    ],
)
def test_horseshoe_needs_several_columns_and_a_sensible_p0(make, options, message):
    with pytest.raises(PriorSpecError, match=message):
        horseshoe_prior(make(), **options)


@pytest.mark.parametrize("name", ["mu", "gamma_alpha"])
def test_horseshoe_only_on_coefficient_vectors(name):
    data, _ = simulate_records(5, 100, n_covariates=3, n_moderators=2)
    with pytest.raises(PriorSpecError, match=f"coefficient vectors.*not {name}"):
        resolve_priors(data, {name: "horseshoe(0.1, 1, 4)"})


def test_prior_draws_match_a_direct_simulation():
    """The model's horseshoe draws (per column SD 2) against scipy draws of the definition."""
    column_sd = np.array([2.0, 2.0])
    prior = Prior("horseshoe", (0.5, 3.0, 4.0))
    draws = Predictive(
        lambda: coefficients("beta", "covariate", prior, column_sd, 100.0), num_samples=40_000
    )(jax.random.key(0))
    rng = np.random.default_rng(1)
    n = 40_000
    g = stats.halfcauchy.rvs(scale=0.5, size=n, random_state=rng)
    slab = stats.invgamma.rvs(2.0, scale=2.0 * 9.0, size=n, random_state=rng)
    local = stats.halfcauchy.rvs(size=n, random_state=rng)
    local_sq = slab * local**2 / (slab + g**2 * local**2)
    beta = rng.standard_normal(n) * g * np.sqrt(local_sq) / 2.0
    kappa = 1 / (1 + 100.0 * g**2 * local_sq)
    assert stats.ks_2samp(np.asarray(draws["beta"][:, 0]), beta).pvalue > 0.001
    assert stats.ks_2samp(np.asarray(draws["kappa_beta"][:, 1]), kappa).pvalue > 0.001


def test_summary_moderator_horseshoe_keeps_the_relevant_one_and_shrinks_the_rest():
    """Meta-regression with 6 moderators, one relevant: it stays, the others shrink."""
    data, _ = simulate_site_summaries(60, seed=3, mu=0.2, tau=0.1)
    rng = np.random.default_rng(4)
    moderators = rng.standard_normal((60, 6))
    estimate = data.estimate + 0.3 * (moderators[:, 0] - moderators[:, 0].mean())
    data = dataclasses.replace(
        data,
        estimate=estimate,
        moderators=moderators,
        moderator_names=tuple(f"w{k}" for k in range(1, 7)),
    )
    fit = sitefx.SiteEffects(covariate_prior="horseshoe", horseshoe_p0=1, seed=2).fit(data)
    kappa = fit.posterior_["posterior"]["kappa_gamma"].median(("chain", "draw"))
    assert kappa.sel(moderator="w1") < 0.2 and (kappa.drop_sel(moderator="w1") > 0.5).all()
    assert json.loads(fit.posterior_.attrs["sampler"])["target_accept"] == 0.99


@pytest.mark.slow  # half a minute of NUTS on the per-record horseshoe
def test_records_fit_matches_brms_horseshoe():
    """Same data, model and priors as brms (a non-linear formula puts the horseshoe on the
    covariates only; tests/reference/horseshoe_brms.json): means within 4 combined MC errors,
    SDs within 10%, shrinkage factors included."""
    reference = json.loads((REFERENCE / "horseshoe_brms.json").read_text())
    frame = pd.read_csv(REFERENCE / "horseshoe_records.csv")
    covariates = [f"x{k}" for k in range(1, 7)]
    study = sitefx.load(frame, site="school", outcome="y", treatment="treat", covariates=covariates)
    priors = {
        "mu": "normal(0, 2.5)",
        "tau": "half-normal(1)",
        "alpha_mean": "normal(0, 2.5)",
        "alpha_sd": "half-normal(1)",
        "sigma": "exponential(1)",
        "rho": "lkj(2)",
        "beta": "horseshoe(0.01, 1, 4)",
    }
    # brms needed adapt_delta 0.99 (and max_treedepth 12) and still had one divergence in
    # 20,000 draws: smaller steps, and trees as deep as brms's.
    fit = sitefx.SiteEffects(
        priors=priors, draws=2500, target_accept=0.995, max_tree_depth=12, seed=6
    ).fit(study)
    assert_agrees_with_brms(fit, reference["parameters"])
