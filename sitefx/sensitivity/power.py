"""Power-scaling sensitivity (Kallioinen et al. 2024, as R's priorsense): how much the
posterior would move if the priors, or the likelihood, were a little stronger or weaker.

The priors (or the likelihood) are raised to a power ``alpha`` near 1 by Pareto-smoothed
importance weights on the existing draws, no refit; the sensitivity is the rate at which
each parameter's distribution moves (cumulative Jensen-Shannon distance per unit of
``log2 alpha``), computed by :func:`arviz_stats.psense_summary`. Above 0.05 counts as
sensitive. A prior that matters while the likelihood does too signals prior-data conflict;
a prior that matters while the likelihood does not signals a weak likelihood.
"""

import logging

import arviz_stats as azs
import numpy as np
import pandas as pd
import xarray as xr

from sitefx.data.schema import StudyData
from sitefx.sensitivity.densities import with_log_densities

THRESHOLD = 0.05
ALPHAS = (0.99, 1.01)
MAX_PARETO_K = 0.7
UNRELIABLE = "unreliable weights (Pareto k > 0.7): check by refitting with the prior changed"
COLUMNS = ["parameter", "prior", "likelihood", "diagnosis", "prior_pareto_k", "likelihood_pareto_k"]
DIAGNOSES = {
    "potential prior-data conflict": "prior-data conflict",
    "potential strong prior / weak likelihood": "strong prior / weak likelihood",
}


def power_scaling(
    tree: xr.DataTree,
    *,
    data: StudyData | None = None,
    var_names: list[str] | None = None,
    threshold: float = THRESHOLD,
) -> pd.DataFrame:
    """Prior and likelihood power-scaling sensitivity of the population parameters.

    Returns one row per parameter (``mu``, ``tau``, ``theta_new`` and, when present,
    ``gamma``, ``nu``, ``tau_<level>``): ``prior`` and ``likelihood`` sensitivity, a
    ``diagnosis`` (empty when neither is a concern), and the Pareto k of the importance
    weights that scale the priors and the likelihood (above 0.7 the diagnosis says the
    weights are unreliable, and a refit with the changed prior is the way to check).
    Individual records need their ``data`` (see
    :func:`~sitefx.sensitivity.densities.site_log_likelihood`).

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> power_scaling(fit.posterior_)["parameter"].tolist()
    ['mu', 'tau', 'theta_new']
    """
    scaled = with_log_densities(tree, data)
    posterior = tree["posterior"]
    names = var_names or [
        name
        for name in posterior.data_vars
        if name in ("mu", "tau", "theta_new", "gamma", "nu") or name.startswith("tau_")
    ]
    advice = logging.getLogger("arviz_stats.psense")  # it logs advice; the table says it all
    level = advice.level
    advice.setLevel(logging.ERROR)
    try:
        table = azs.psense_summary(scaled, var_names=names, threshold=threshold, round_to=6)
    finally:
        advice.setLevel(level)
    table = table.reset_index().rename(columns={"index": "parameter"})
    table.columns = [str(column) for column in table.columns]
    table["diagnosis"] = table["diagnosis"].map(lambda text: DIAGNOSES.get(text, ""))
    for group, total in _log_densities(scaled).items():
        table[f"{group}_pareto_k"] = max(_pareto_k(total, alpha) for alpha in ALPHAS)
    unreliable = table[["prior_pareto_k", "likelihood_pareto_k"]].max(axis=1) > MAX_PARETO_K
    table.loc[unreliable, "diagnosis"] = [
        "; ".join(filter(None, [text, UNRELIABLE])) for text in table.loc[unreliable, "diagnosis"]
    ]
    return table[COLUMNS]


def _log_densities(scaled: xr.DataTree) -> dict[str, xr.DataArray]:
    """The summed log prior and log-likelihood per draw, the quantities raised to alpha."""
    prior = scaled["log_prior"].to_dataset().to_dataarray().sum("variable")
    likelihood = scaled["log_likelihood"]["site_marginal"].sum("site")
    return {"prior": prior, "likelihood": likelihood}


def _pareto_k(total: xr.DataArray, alpha: float) -> float:
    """Pareto k of the importance weights ``exp((alpha - 1) * total)`` (arviz-stats takes
    the negated log weights)."""
    _, k = (-(alpha - 1) * total).azstats.psislw(dim=["chain", "draw"])
    return float(k)


def cjs_distance(cdf_p: np.ndarray, cdf_q: np.ndarray, binwidth: np.ndarray) -> float:
    """Cumulative Jensen-Shannon distance between two CDFs given at the same sorted points
    (``binwidth``: the gaps between them), the distance power-scaling measures.

    Examples
    --------
    >>> import numpy as np
    >>> cdf = np.linspace(0.01, 0.99, 99)
    >>> cjs_distance(cdf, cdf, np.full(99, 0.1))
    0.0
    """

    def terms(p, q):
        log_p = np.log2(p, out=np.zeros_like(p), where=p > 0)
        log_mix = np.log2(0.5 * (p + q), out=np.zeros_like(p), where=(p + q) > 0)
        return np.sum(binwidth * p * (log_p - log_mix))

    p_area, q_area = np.dot(cdf_p, binwidth), np.dot(cdf_q, binwidth)
    pq = max(0.0, terms(cdf_p, cdf_q) + 0.5 / np.log(2) * (q_area - p_area))
    qp = max(0.0, terms(cdf_q, cdf_p) + 0.5 / np.log(2) * (p_area - q_area))
    return float(np.sqrt((pq + qp) / (p_area + q_area)))
