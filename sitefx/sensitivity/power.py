"""Power-scaling sensitivity: how much the posterior moves if priors or likelihood change.

The method of Kallioinen et al. 2024, as R's priorsense computes it: how much the posterior
would move if the priors, or the likelihood, were a little stronger or weaker.

The priors (or the likelihood) are raised to a power ``alpha`` near 1 by Pareto-smoothed
importance weights on the existing draws, no refit; the sensitivity is the rate at which
each parameter's distribution moves (cumulative Jensen-Shannon distance per unit of
``log2 alpha``), computed by :func:`arviz_stats.psense_summary`. Above 0.05 counts as
sensitive. A prior that matters while the likelihood does too signals prior-data conflict;
a prior that matters while the likelihood does not signals a weak likelihood.

When the prior's importance weights are unreliable (Pareto k above 0.7) and the fitted model
is at hand, the priors are refitted raised to the power instead (every scalar prior family is
closed under powers, :meth:`~sitefx.models.priors.Prior.power`): with the exact method at
``alpha`` 0.99 and 1.01 as the weights would have done, exactly; with NUTS at 0.5 and 2 (a
prior half and twice as strong), far enough from 1 for the distance to stand above the
Monte-Carlo noise of two independent samples (about 0.01 with 4,000 draws).
"""

import logging

import numpy as np
import pandas as pd
import xarray as xr

from sitefx.backend import arviz_stats as azs
from sitefx.data.schema import StudyData
from sitefx.errors import PriorSpecError
from sitefx.estimator import SiteEffects
from sitefx.infer.exact import ExactPosterior
from sitefx.models.priors import Prior
from sitefx.report.sensitivity import POWER_SCALING_COLUMNS
from sitefx.sensitivity.densities import log_prior, with_log_densities
from sitefx.sensitivity.influence import refit

THRESHOLD = 0.05
ALPHAS = (0.99, 1.01)
REFIT_ALPHAS = (0.5, 2.0)  # NUTS refits: see the module docstring
EXACT_POINTS = 1001  # where the exact CDFs are compared
MAX_PARETO_K = 0.7
UNRELIABLE = {
    "prior": "unreliable prior weights (Pareto k > 0.7): pass the fitted model to refit",
    "likelihood": "unreliable likelihood weights (Pareto k > 0.7): read with caution",
}
SAMPLE_DIMS = ("chain", "draw")


def power_scaling(
    source: SiteEffects | xr.DataTree,
    *,
    data: StudyData | None = None,
    var_names: list[str] | None = None,
    threshold: float = THRESHOLD,
) -> pd.DataFrame:
    """Compute prior and likelihood power-scaling sensitivity of the population parameters.

    The priors (those of :func:`~sitefx.sensitivity.densities.log_prior`) and the sites'
    marginal likelihoods are raised to ``alpha`` 0.99 and 1.01 by importance weights on the
    fit's draws (see the module docstring). When the prior's weights are unreliable (Pareto k
    above 0.7) and ``source`` is a fitted :class:`~sitefx.SiteEffects`, the prior sensitivity
    comes from refits with the priors raised to the power instead. Unreliable weights that
    could not be replaced (the likelihood's; a prior's given only the DataTree) are named in
    the diagnosis.

    Parameters
    ----------
    source : SiteEffects or xarray.DataTree
        A fitted model, or a fit's DataTree (then no refits: unreliable prior weights are
        only reported).
    data : StudyData, optional
        The data of the fit. Individual records need it (the fit keeps no covariates; see
        :func:`~sitefx.sensitivity.densities.site_log_likelihood`); by default a fitted
        model's own data.
    var_names : list of str, optional
        The posterior variables to assess; by default ``mu``, ``tau``, ``theta_new`` and,
        when present, ``gamma``, ``nu`` and ``tau_<level>``.
    threshold : float, default 0.05
        The sensitivity (cumulative Jensen-Shannon distance per unit of ``log2 alpha``) from
        which a prior or the likelihood counts as sensitive.

    Returns
    -------
    pandas.DataFrame
        One row per parameter, or per element of a vector (``gamma[weeks]``):
        ``parameter``; ``prior`` and ``likelihood`` sensitivity; a ``diagnosis``
        (``prior-data conflict`` when both are sensitive, ``strong prior / weak
        likelihood`` when only the prior is, and any unreliable weights; empty when nothing
        is a concern); ``prior_pareto_k`` and ``likelihood_pareto_k``, the Pareto k of the
        importance weights that scale the priors and the likelihood (the larger of the two
        powers; one value for all rows); and ``prior_method``: ``importance weights``, or
        ``refit``.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> power_scaling(fit.posterior_)["parameter"].tolist()
    ['mu', 'tau', 'theta_new']
    """
    model = source if isinstance(source, SiteEffects) else None
    tree = model.posterior_ if model is not None else source
    data = model.data_ if data is None and model is not None else data
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
    for group, total in _log_densities(scaled).items():
        table[f"{group}_pareto_k"] = max(_pareto_k(total, alpha) for alpha in ALPHAS)
    table["prior_method"] = "importance weights"
    unreliable = table[["prior_pareto_k", "likelihood_pareto_k"]] > MAX_PARETO_K
    if model is not None and unreliable["prior_pareto_k"].any():
        table["prior"] = _refitted_prior_sensitivity(model, table["parameter"].tolist())
        table["prior_method"] = "refit"
        unreliable["prior_pareto_k"] = False
    notes = [UNRELIABLE[group] for group in UNRELIABLE if unreliable[f"{group}_pareto_k"].any()]
    table["diagnosis"] = [
        "; ".join(filter(None, [_diagnosis(prior, likelihood, threshold), *notes]))
        for prior, likelihood in zip(table["prior"], table["likelihood"], strict=True)
    ]
    return table[POWER_SCALING_COLUMNS]


def _diagnosis(prior: float, likelihood: float, threshold: float) -> str:
    """Read the two sensitivities as priorsense does (Kallioinen et al. 2024, section 3)."""
    if prior >= threshold and likelihood >= threshold:
        return "prior-data conflict"
    if prior > threshold > likelihood:
        return "strong prior / weak likelihood"
    return ""


def _refitted_prior_sensitivity(model: SiteEffects, parameters: list[str]) -> list[float]:
    """Compute prior sensitivity from refits with the priors raised to the power.

    Exact CDFs at alpha 0.99 and 1.01 where the exact method applies, else NUTS draws at
    0.5 and 2 (a power whose prior is improper, a Cauchy's at 0.5, is skipped). As
    arviz-stats: the mean over the two powers of the larger CJS distance (of x or of -x) per
    unit of log2 alpha.
    """
    exact = model.exact_
    gradients: dict[str, list[float]] = {name: [] for name in parameters}
    for alpha in ALPHAS if exact is not None else REFIT_ALPHAS:
        try:
            priors = _powered_priors(model, alpha)
        except PriorSpecError:
            continue
        if exact is not None:
            powered = model.with_settings(priors=priors).exact_posterior(model.data_)
            distances = _exact_distances(model, exact, powered)
        else:
            powered = refit(model, model.data_, priors).posterior_
            distances = _sample_distances(model.posterior_, powered)
        for name in parameters:
            gradients[name].append(distances(name) / abs(np.log2(alpha)))
    return [float(np.mean(values)) for values in gradients.values()]


def _powered_priors(model: SiteEffects, alpha: float) -> dict[str, str]:
    """Return the model's priors with the scaled ones raised to ``alpha``.

    The scaled ones are those of :func:`log_prior`; the others are kept as they are.
    """
    scaled = set(log_prior(model.posterior_).data_vars)
    return {
        name: str(Prior.parse(spec).power(alpha)) if name in scaled else spec
        for name, spec in model.priors_.as_strings().items()
    }


def _exact_distances(model: SiteEffects, base: ExactPosterior, powered: ExactPosterior):
    """Make a function giving a parameter's distance between two exact posteriors.

    The distance of ``parameter`` is computed on a fine grid of its values spanning the
    fit's draws.
    """

    def distance(parameter: str) -> float:
        name, index = _element(model.posterior_["posterior"], parameter)
        draws = _draws(model.posterior_["posterior"], parameter)
        points = np.linspace(draws.min(), draws.max(), EXACT_POINTS)

        def cdf(posterior: ExactPosterior) -> np.ndarray:
            values = np.array([posterior.cdf(name, x) for x in points[:-1]])
            return values if index is None else values[:, index]

        return _two_sided_cjs(points, cdf(base), cdf(powered))

    return distance


def _sample_distances(base: xr.DataTree, powered: xr.DataTree):
    """Make a function giving a parameter's distance between two fits' draws.

    The distance of ``parameter`` is between the ECDFs of the two fits' draws, on their
    pooled sorted draws.
    """

    def distance(parameter: str) -> float:
        first = np.sort(_draws(base["posterior"], parameter))
        second = np.sort(_draws(powered["posterior"], parameter))
        points = np.sort(np.concatenate([first, second]))
        ecdfs = [np.searchsorted(d, points[:-1], side="right") / d.size for d in (first, second)]
        return _two_sided_cjs(points, *ecdfs)

    return distance


def _two_sided_cjs(points: np.ndarray, cdf_p: np.ndarray, cdf_q: np.ndarray) -> float:
    """Return the larger CJS distance of the variable and of its negation.

    This is arviz-stats' rule; the CDFs are given at ``points[:-1]``.
    """
    binwidth = np.diff(points)
    return max(
        cjs_distance(cdf_p, cdf_q, binwidth),
        cjs_distance(1 - cdf_p[::-1], 1 - cdf_q[::-1], binwidth[::-1]),
    )


def _element(posterior: xr.Dataset, parameter: str) -> tuple[str, int | None]:
    """Split a parameter label into the variable and the element's position.

    ``"gamma[weeks]"`` -> ``("gamma", 0)``; a scalar's position is None.
    """
    name, _, label = parameter.partition("[")
    if not label:
        return name, None
    (dim,) = (dim for dim in posterior[name].dims if dim not in SAMPLE_DIMS)
    labels = [str(value) for value in posterior[name][dim].values]
    return name, labels.index(label.removesuffix("]"))


def _draws(posterior: xr.Dataset, parameter: str) -> np.ndarray:
    """Return all draws of one parameter label of the power-scaling table, flattened."""
    name, index = _element(posterior, parameter)
    values = posterior[name].values
    return (values if index is None else values[..., index]).ravel()


def _log_densities(scaled: xr.DataTree) -> dict[str, xr.DataArray]:
    """Sum the log prior and the log-likelihood per draw: the quantities raised to alpha."""
    prior = scaled["log_prior"].to_dataset().to_dataarray().sum("variable")
    likelihood = scaled["log_likelihood"]["site_marginal"].sum("site")
    return {"prior": prior, "likelihood": likelihood}


def _pareto_k(total: xr.DataArray, alpha: float) -> float:
    """Compute the Pareto k of the importance weights ``exp((alpha - 1) * total)``.

    arviz-stats takes the negated log weights.
    """
    _, k = (-(alpha - 1) * total).azstats.psislw(dim=["chain", "draw"])
    return float(k)


def cjs_distance(cdf_p: np.ndarray, cdf_q: np.ndarray, binwidth: np.ndarray) -> float:
    """Compute the cumulative Jensen-Shannon distance between two CDFs.

    The distance power-scaling measures, between two CDFs given at the same sorted points.

    Parameters
    ----------
    cdf_p, cdf_q : ndarray, shape (n_points,)
        The two CDFs at the points.
    binwidth : ndarray, shape (n_points,)
        The gap from each point to the next (the last point's to the end of the range).

    Returns
    -------
    float
        The distance, 0 for identical CDFs.

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
