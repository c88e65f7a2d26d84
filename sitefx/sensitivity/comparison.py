"""Model comparison by PSIS leave-one-site-out cross-validation (ArviZ's ``loo``/``compare``).

Each site's marginal likelihood (its own effect integrated out, see
:mod:`sitefx.sensitivity.densities`) is left out in turn, so the comparison asks how well
each model predicts a *new site's* estimate: normal against Student-t site effects, with or
without moderators, and so on.
"""

from collections.abc import Mapping

import pandas as pd

from sitefx.backend import arviz_stats as azs
from sitefx.estimator import SiteEffects
from sitefx.sensitivity.densities import with_log_densities

COMPARISON_COLUMNS = [
    "model",
    "rank",
    "elpd",
    "se",
    "elpd_diff",
    "dse",
    "p_worse",
    "p",
    "weight",
    "diag_diff",
    "diag_elpd",
]


def site_loo(fit: SiteEffects) -> object:
    """Return PSIS leave-one-site-out cross-validation of a fit.

    Each site's marginal likelihood (its own effect integrated out) is left out in turn.

    Parameters
    ----------
    fit : SiteEffects
        A fitted model whose sites have their own likelihood terms.

    Returns
    -------
    arviz_stats.ELPDData
        ``elpd`` (expected log predictive density for a left-out site, summed over sites),
        its ``se``, the effective number of parameters ``p``, and per site the pointwise
        ``elpd_i`` and ``pareto_k``.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> round(site_loo(fit).elpd)
    -31
    """
    return azs.loo(with_log_densities(fit.posterior_, fit.data_), pointwise=True)


def compare_models(fits: Mapping[str, SiteEffects]) -> pd.DataFrame:
    """Rank fitted models of the same sites by how well they predict a left-out site.

    Parameters
    ----------
    fits : mapping of str to SiteEffects
        Fitted models of the same sites, by name.

    Returns
    -------
    pandas.DataFrame
        One row per model, best first: ``model``, its ``rank``, ``elpd`` (expected log
        predictive density for a left-out site; higher is better) and its ``se``,
        ``elpd_diff`` and its SE ``dse`` against the best, the effective number of
        parameters ``p``, ``p_worse`` (the probability that the model predicts
        worse), the stacking ``weight``, and ArviZ's diagnostics ``diag_diff`` /
        ``diag_elpd`` (e.g. few sites, or Pareto k above 0.7).

    Examples
    --------
    >>> import sitefx
    >>> study = sitefx.load("studies/eight_schools")
    >>> heavy_tail = sitefx.SiteEffects(seed=1, priors={"tau": "half-cauchy(5)"})
    >>> fits = {"half-normal": sitefx.SiteEffects(seed=1).fit(study),
    ...         "half-cauchy": heavy_tail.fit(study)}
    >>> compare_models(fits)[["model", "rank"]]
             model  rank
    0  half-cauchy     0
    1  half-normal     1
    """
    results = {name: site_loo(fit) for name, fit in fits.items()}
    table = azs.compare(results, round_to="none").reset_index().rename(columns={"index": "model"})
    return table[COMPARISON_COLUMNS]
