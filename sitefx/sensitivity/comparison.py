"""Model comparison by PSIS leave-one-site-out cross-validation (ArviZ's ``loo``/``compare``).

Each site's marginal likelihood (its own effect integrated out, see
:mod:`sitefx.sensitivity.densities`) is left out in turn, so the comparison asks how well
each model predicts a *new site's* estimate: normal against Student-t site effects, with or
without moderators, and so on.
"""

from collections.abc import Mapping

import arviz_stats as azs
import pandas as pd

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
    """PSIS-LOO over sites for a fit (an arviz-stats ``ELPDData``:
    ``elpd``, ``se``, ``p``, ``pareto_k`` per site, ...).

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> round(site_loo(fit).elpd)
    -31
    """
    return azs.loo(with_log_densities(fit.posterior_, fit.data_), pointwise=True)


def compare_models(fits: Mapping[str, SiteEffects]) -> pd.DataFrame:
    """Rank fitted models of the same sites by their expected log predictive density
    for a left-out site (higher is better): ``elpd_diff`` and its SE ``dse`` against the
    best, ``p_worse`` (the probability that the model predicts worse), the stacking
    ``weight``, and ArviZ's diagnostics ``diag_diff`` / ``diag_elpd`` (e.g. few sites, or
    Pareto k above 0.7).

    Examples
    --------
    >>> import sitefx
    >>> study = sitefx.load("studies/eight_schools")
    >>> fits = {"normal": sitefx.SiteEffects(seed=1).fit(study),
    ...         "student-t": sitefx.SiteEffects(seed=1, site_dist="student-t").fit(study)}
    >>> compare_models(fits)["model"].tolist()  # doctest: +SKIP
    ['normal', 'student-t']
    """
    results = {name: site_loo(fit) for name, fit in fits.items()}
    table = azs.compare(results, round_to="none").reset_index().rename(columns={"index": "model"})
    return table[COMPARISON_COLUMNS]
