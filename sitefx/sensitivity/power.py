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

from sitefx.sensitivity.densities import with_log_densities

THRESHOLD = 0.05
DIAGNOSES = {
    "potential prior-data conflict": "prior-data conflict",
    "potential strong prior / weak likelihood": "strong prior / weak likelihood",
}


def power_scaling(
    tree: xr.DataTree, *, var_names: list[str] | None = None, threshold: float = THRESHOLD
) -> pd.DataFrame:
    """Prior and likelihood power-scaling sensitivity of the population parameters.

    Returns one row per parameter (``mu``, ``tau``, ``theta_new`` and, when present,
    ``gamma``, ``nu``, ``tau_<level>``): ``prior`` and ``likelihood`` sensitivity and a
    ``diagnosis`` (empty when neither is a concern).

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> power_scaling(fit.posterior_)["parameter"].tolist()
    ['mu', 'tau', 'theta_new']
    """
    scaled = with_log_densities(tree)
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
    return table[["parameter", "prior", "likelihood", "diagnosis"]]


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
