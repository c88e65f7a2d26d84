"""Leave-one-site-out: how much each site moves the average effect and the cross-site SD.

For site summaries the exact method recomputes the exact posterior without each site
(milliseconds each, no draws: every number is exact). Where the
exact method does not apply, Pareto-smoothed importance sampling (PSIS) reweights the full
fit's draws by each site's marginal likelihood; a site whose Pareto k exceeds 0.7 (the
importance weights are unreliable) is refitted without it.
"""

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from sitefx.data.schema import StudyData
from sitefx.errors import SamplingWarning
from sitefx.estimator import SiteEffects
from sitefx.infer.exact import ExactPosterior
from sitefx.parallel import SERIAL, Workers, map_tasks
from sitefx.report.sensitivity import LEAVE_ONE_OUT_COLUMNS
from sitefx.sensitivity.densities import site_log_likelihood
from sitefx.statistics import from_draws, probability_above

MAX_PARETO_K = 0.7
SAMPLE_DIMS = ["chain", "draw"]


def leave_one_site_out(
    model: SiteEffects,
    *,
    workers: Workers = SERIAL,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Measure the influence of each site on ``mu`` and ``tau`` by leaving it out.

    Works from a fitted ``model`` of site summaries, or of Gaussian records without nesting
    levels or Student-t site effects (the models with a per-site likelihood, see
    :func:`~sitefx.sensitivity.densities.site_log_likelihood`). Where the exact method
    applies, each site is left out by recomputing the exact posterior without it; otherwise
    PSIS reweights the full fit's draws, and a site whose Pareto k is above 0.7
    (``MAX_PARETO_K``) is refitted without it by NUTS. Refits use the model's settings and
    the priors it used (defaults resolved once, on the full data).

    Parameters
    ----------
    model : SiteEffects
        A fitted model (its ``data_``, ``posterior_`` and, with the exact method,
        ``exact_``).
    workers : Workers, default ``SERIAL``
        Where NUTS refits run (see :mod:`sitefx.parallel`); exact refits always run here,
        one after the other (milliseconds each).
    progress : callable, optional
        Called with a line such as ``"leaving out A (1/8)"`` as refits start (serially) or
        finish (on a cluster).

    Returns
    -------
    pandas.DataFrame
        One row per site left out (``site``), with the posterior of ``mu`` without it
        (``mu_mean``, 95% interval ``mu_q2.5`` and ``mu_q97.5``, ``prob_mu_positive``:
        ``P(mu > 0)``) and ``tau``'s mean (``tau_mean``); ``mu_shift``, the change of
        ``mu``'s mean in units of its full-data posterior SD; ``tau_shift``, the change of
        ``tau``'s mean relative to its full-data mean (``0.1``: 10% larger); ``method``
        (``exact`` refit, ``psis``, or ``refit`` after a Pareto k above 0.7); ``pareto_k``
        (NaN for exact refits); ``warnings``: the number of sampler diagnostics a refit
        failed; and the Monte-Carlo standard errors ``mcse_mu_mean`` and
        ``mcse_prob_mu_positive`` (0 when exact).

    Examples
    --------
    >>> import sitefx
    >>> model = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> table = leave_one_site_out(model)  # exact refits: the exact method applies
    >>> table["method"].unique().tolist(), len(table)
    (['exact'], 8)
    """
    data, tree = model.data_, model.posterior_
    exact = model.exact_ is not None
    if exact:
        full = _exact_summary(model.exact_)
    else:
        full = _posterior_summary(tree["posterior"]["mu"].values, tree["posterior"]["tau"].values)
    if not exact:
        log_lik = site_log_likelihood(tree, data)
        # PSIS weights for p(. | y without site j) ∝ p(. | y) / p(y_j | .): arviz-stats
        # takes the log-likelihood and negates it itself
        log_weights, pareto_k = log_lik.azstats.psislw(dim=SAMPLE_DIMS)
    pareto_k = np.full(data.n_sites, np.nan) if exact else pareto_k.values
    refitted = [j for j in range(data.n_sites) if exact or pareto_k[j] > MAX_PARETO_K]
    summaries = map_tasks(
        _summary_without,
        refitted,
        labels=[f"leaving out {data.site[j]}" for j in refitted],
        workers=workers if not exact else SERIAL,
        progress=progress,
        model=_refit_model(model),
        data=data,
    )
    summaries = dict(zip(refitted, summaries, strict=True))
    rows = []
    for j, site in enumerate(data.site):
        if j in summaries:
            summary, method = summaries[j], "exact" if exact else "refit"
        else:
            weights = np.exp(log_weights.isel(site=j).values.ravel())
            summary = _posterior_summary(
                tree["posterior"]["mu"].values, tree["posterior"]["tau"].values, weights
            )
            summary["warnings"] = 0
            method = "psis"
        rows.append({"site": site, "method": method, "pareto_k": pareto_k[j], **summary})
    table = pd.DataFrame(rows)
    table["mu_shift"] = (table["mu_mean"] - full["mu_mean"]) / full["mu_sd"]
    table["tau_shift"] = table["tau_mean"] / full["tau_mean"] - 1
    return table[LEAVE_ONE_OUT_COLUMNS]


def refit(model: SiteEffects, data: StudyData, priors: dict[str, str] | None = None) -> SiteEffects:
    """Fit the same model again to ``data``, with the priors it used or ``priors`` instead.

    The refit has ``model``'s settings and the priors it used (defaults resolved on its own
    data, so they stay fixed), with ``priors`` replacing some, and no progress bar. Its
    sampler warnings are left to the caller's table (``warnings_``), not issued.

    Parameters
    ----------
    model : SiteEffects
        A fitted model.
    data : StudyData
        The data to fit, e.g. ``model.data_`` without a site.
    priors : dict of str to str, optional
        Prior specs by parameter name (e.g. ``{"tau": "half-normal(10)"}``) replacing the
        ones ``model`` used.

    Returns
    -------
    SiteEffects
        A new fitted model; ``model`` is unchanged.

    Examples
    --------
    >>> import sitefx
    >>> model = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> wider = refit(model, model.data_, {"tau": "half-normal(10)"})
    >>> wider.priors_.as_strings()
    {'mu': 'normal(0, 28)', 'tau': 'half-normal(10)'}
    """
    return _fit_quietly(_refit_model(model, priors), data)


def _refit_model(model: SiteEffects, priors: dict[str, str] | None = None) -> SiteEffects:
    """Return an unfitted copy of a fitted model with the priors it used.

    Defaults are resolved as in the fit; ``priors`` replaces some of them; no progress bar.
    """
    used = model.priors_.as_strings() | (priors or {})
    return model.with_settings(priors=used, progress=False)


def _fit_quietly(model: SiteEffects, data: StudyData) -> SiteEffects:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        return model.fit(data)


def _summary_without(j: int, *, model: SiteEffects, data: StudyData) -> dict[str, float]:
    """Summarize ``mu`` and ``tau`` refitted without site ``j``, with the warning count.

    Exact, from the quadrature alone, where the exact method applies.
    """
    subset = data.subset(np.arange(data.n_sites) != j)
    exact = model.exact_posterior(subset)
    if exact is not None:
        return _exact_summary(exact) | {"warnings": 0}
    posterior = _fit_quietly(model.with_settings(), subset)
    draws = posterior.posterior_["posterior"]
    summary = _posterior_summary(draws["mu"].values, draws["tau"].values)
    return summary | {"warnings": len(posterior.warnings_)}


def _exact_summary(exact: ExactPosterior) -> dict[str, float]:
    """Compute the summaries of :func:`_posterior_summary` exactly (MCSEs 0)."""
    low, high = exact.quantile("mu", [0.025, 0.975])
    return {
        "mu_mean": float(exact.mean("mu")),
        "mu_sd": float(exact.sd("mu")),
        "mu_q2.5": float(low),
        "mu_q97.5": float(high),
        "prob_mu_positive": float(1.0 - exact.cdf("mu", 0.0)),
        "tau_mean": float(exact.mean("tau")),
        "mcse_mu_mean": 0.0,
        "mcse_prob_mu_positive": 0.0,
    }


def _posterior_summary(
    mu: np.ndarray, tau: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, float]:
    """Summarize ``mu`` and ``tau`` draws (shaped (chain, draw)), weighted or plain.

    Weighted: importance-sampled. With the MCSEs of ``mu``'s mean and ``P(mu > 0)``:
    ArviZ's for plain draws; for importance weights ``w`` (normalized),
    ``sqrt(sum w^2 (x - mean)^2)``.
    """
    importance = weights is not None
    if not importance:
        mcse = {
            "mcse_mu_mean": float(from_draws(mu[..., None])["mcse_mean"].iloc[0]),
            "mcse_prob_mu_positive": float(probability_above(mu[..., None], 0.0)[1][0]),
        }
    mu, tau = mu.ravel(), tau.ravel()
    weights = weights / weights.sum() if importance else np.full(mu.size, 1 / mu.size)
    mean = float(weights @ mu)
    if importance:
        positive = float(weights @ (mu > 0))
        mcse = {
            "mcse_mu_mean": float(np.sqrt(weights**2 @ (mu - mean) ** 2)),
            "mcse_prob_mu_positive": float(np.sqrt(weights**2 @ ((mu > 0) - positive) ** 2)),
        }
    order = np.argsort(mu)
    cumulative = np.cumsum(weights[order])
    low, high = np.interp([0.025, 0.975], cumulative - weights[order] / 2, mu[order])
    return {
        "mu_mean": mean,
        "mu_sd": float(np.sqrt(weights @ (mu - mean) ** 2)),
        "mu_q2.5": float(low),
        "mu_q97.5": float(high),
        "prob_mu_positive": float(weights @ (mu > 0)),
        "tau_mean": float(weights @ tau),
        **mcse,
    }
