"""The summary table: one row per scalar quantity, the columns of the output contract."""

import numpy as np
import pandas as pd
import xarray as xr

from sitefx.estimands import nesting_levels, people_per_site, stored_estimands
from sitefx.infer.diagnostics import convergence_table
from sitefx.infer.exact import ExactPosterior
from sitefx.report.datatree import POSTERIOR_DIMS

SUMMARY_COLUMNS = [
    "parameter",
    "mean",
    "sd",
    "q2.5",
    "q50",
    "q97.5",
    "r_hat",
    "ess_bulk",
    "ess_tail",
]
SAMPLE_DIMS = ("chain", "draw")
QUANTILES = [0.025, 0.5, 0.975]
EXACT_VARIABLES = ("mu", "tau", "theta", "theta_new", "gamma")


def summary_variables(tree: xr.DataTree) -> list[str]:
    """Posterior variables in contract order (``mu``, ``tau``, ``theta``, ``theta_new``, ...)."""
    present = list(tree["posterior"].data_vars)
    return [name for name in POSTERIOR_DIMS if name in present] + [
        name for name in present if name not in POSTERIOR_DIMS
    ]


def summary_table(tree: xr.DataTree, exact: ExactPosterior | None = None) -> pd.DataFrame:
    """Posterior mean, SD, 2.5/50/97.5% quantiles, R-hat and bulk/tail ESS of each quantity.

    Rows are named ``mu``, ``tau``, ``theta[<site>]``..., ``theta_new``, then the others.
    With ``exact`` (the quadrature posterior), means, SDs and quantiles of the quantities it
    covers are exact values instead of Monte-Carlo estimates from the draws.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(draws=200, warmup=200, chains=2).fit(
    ...     sitefx.load("studies/eight_schools"))  # doctest: +SKIP
    >>> summary_table(fit.posterior_).columns.tolist()  # doctest: +SKIP
    ['parameter', 'mean', 'sd', 'q2.5', 'q50', 'q97.5', 'r_hat', 'ess_bulk', 'ess_tail']
    """
    names = summary_variables(tree)
    posterior = tree["posterior"].to_dataset()
    diagnostics = convergence_table(tree, names)
    rows = []
    for name in names:
        draws = posterior[name]
        element_dims = [dim for dim in draws.dims if dim not in SAMPLE_DIMS]
        if exact is not None and name in EXACT_VARIABLES:
            mean, sd = np.atleast_1d(exact.mean(name)), np.atleast_1d(exact.sd(name))
            quantiles = exact.quantile(name, np.array(QUANTILES)).reshape(len(QUANTILES), -1)
        else:
            stacked = draws.stack(sample=SAMPLE_DIMS).transpose(*element_dims, "sample")
            values = stacked.values.reshape(-1, stacked.sizes["sample"])
            mean, sd = values.mean(axis=1), values.std(axis=1, ddof=1)
            quantiles = np.quantile(values, QUANTILES, axis=1)
        checks = diagnostics[name].transpose("diagnostic", *element_dims).values.reshape(3, -1)
        labels = _element_labels(name, draws, element_dims)
        rows.extend(zip(labels, mean, sd, *quantiles, *checks, strict=True))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _element_labels(name: str, draws: xr.DataArray, element_dims: list[str]) -> list[str]:
    if not element_dims:
        return [name]
    index = pd.MultiIndex.from_product([draws[dim].values for dim in element_dims])
    return [f"{name}[{','.join(map(str, key))}]" for key in index]


def format_table(table: pd.DataFrame) -> str:
    """The summary table as aligned text for a terminal."""
    shown = table.copy()
    for column in ["mean", "sd", "q2.5", "q50", "q97.5"]:
        shown[column] = shown[column].map(lambda v: f"{v:.3g}" if abs(v) < 1e4 else f"{v:.4g}")
    shown["r_hat"] = shown["r_hat"].map("{:.3f}".format)
    for column in ["ess_bulk", "ess_tail"]:
        shown[column] = shown[column].map("{:.0f}".format)
    return shown.to_string(index=False)


ESTIMAND_COLUMNS = [
    "estimand",
    "meaning",
    "mean",
    "sd",
    "q2.5",
    "q50",
    "q97.5",
    "prob_positive",
    "prob_above",
]
# Estimands that are effects (with P(> 0) and P(> threshold)), and those on the effects' scale
# (effect sizes when divided by the outcome's SD); the rest are shares.
LOCATIONS = ("mu", "mu_sites", "mu_persons", "theta_new")
EFFECT_SCALE = (*LOCATIONS, "tau", "sd_sites")


def estimand_table(tree: xr.DataTree, estimands: xr.Dataset | None = None) -> pd.DataFrame:
    """The estimands evaluators report, one row each, from a fit's draws.

    Rows: ``mu`` (average over the population of sites), ``mu_sites`` and ``mu_persons``
    (over these sites, site- and person-weighted), ``theta_new`` (a new site), ``tau`` and
    ``tau_<level>`` (cross-site SDs), ``sd_sites``, ``share_above`` and
    ``population_share_above``, ``variance_explained`` (with moderators), and
    ``gelman_pardoe_pooling``. ``prob_positive`` is ``P(value > 0)`` and ``prob_above``
    ``P(value > threshold)`` for effects. When the outcome's SD is known, ``es_mean``,
    ``es_q2.5`` and ``es_q97.5`` give the effects in SD units (standardized effect sizes).

    ``estimands`` defaults to the fit's ``estimands`` group (see
    :func:`~sitefx.estimands.stored_estimands`).

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> estimand_table(fit.posterior_)["estimand"].tolist()[:4]
    ['mu', 'mu_sites', 'theta_new', 'tau']
    """
    group = stored_estimands(tree) if estimands is None else estimands
    posterior = tree["posterior"].to_dataset()
    threshold = float(group.attrs["threshold"])
    levels = nesting_levels(tree)
    order = ["mu", "mu_sites", "mu_persons", "theta_new", "tau"]
    order += [f"tau_{level}" for level in levels]
    order += ["sd_sites", "share_above", "population_share_above", "variance_explained"]
    order += ["risk_difference_sites"]
    rows = []
    for name in order:  # parameters from the posterior, estimands from their group
        source = group if name in group else posterior
        if name not in source:
            continue
        draws = source[name].values.ravel()
        effect = name in LOCATIONS
        rows.append(
            [
                name,
                _meaning(name, threshold, levels),
                draws.mean(),
                draws.std(ddof=1),
                *np.quantile(draws, QUANTILES),
                (draws > 0).mean() if effect else np.nan,
                (draws > threshold).mean() if effect else np.nan,
            ]
        )
    pooling = float(group["gelman_pardoe_pooling"])
    rows.append(
        ["gelman_pardoe_pooling", _meaning("gelman_pardoe_pooling", threshold, levels), pooling]
        + [np.nan] * 6
    )
    table = pd.DataFrame(rows, columns=ESTIMAND_COLUMNS)
    outcome_sd = group.attrs.get("outcome_sd")
    if outcome_sd:
        scaled = table["estimand"].isin(EFFECT_SCALE) | table["estimand"].str.startswith("tau_")
        for column in ("mean", "q2.5", "q97.5"):
            table[f"es_{column}"] = table[column].where(scaled) / outcome_sd
    return table


def _meaning(name: str, threshold: float, levels: list[str]) -> str:
    above = f"above {threshold:g}"
    if name.startswith("tau_"):
        return f"SD of effects across {name[len('tau_') :]}s"
    if name == "tau" and levels:
        return f"SD of effects across sites in the same {levels[-1]}"
    return {
        "mu": "average effect in the population of sites (site-weighted)",
        "mu_sites": "average effect over these sites (each site counts once)",
        "mu_persons": "average effect over these sites' people (person-weighted)",
        "theta_new": "effect in a new site",
        "tau": "SD of effects across the population of sites",
        "sd_sites": "SD of effects across these sites",
        "share_above": f"share of these sites with an effect {above}",
        "population_share_above": f"share of the population of sites with an effect {above}",
        "variance_explained": "share of the effects' variance the moderators explain",
        "risk_difference_sites": "average difference in risk over these sites (treated - control)",
        "gelman_pardoe_pooling": "pooling of the site effects (0 none, 1 complete)",
    }[name]


SITE_COLUMNS = [
    "site",
    "n",
    "raw_estimate",
    "raw_se",
    "mean",
    "sd",
    "q2.5",
    "q50",
    "q97.5",
    "prob_above",
    "pooling_factor",
    "variance_reduction",
    "rank_mean",
    "rank_q2.5",
    "rank_q97.5",
    "triple_goal",
]


def site_table(tree: xr.DataTree, estimands: xr.Dataset | None = None) -> pd.DataFrame:
    """One row per site: its raw estimate, its shrunken effect, ``P(theta_j > threshold)``,
    how much it was pooled, its rank (1 for the largest effect) and its triple-goal estimate.

    Also a column per upper nesting level (the site's district, ...). ``n`` is missing when
    the data do not give the number of people.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> site_table(fit.posterior_)["raw_estimate"].tolist()[:3]
    [28.0, 8.0, -3.0]
    """
    group = stored_estimands(tree) if estimands is None else estimands
    constant = tree["constant_data"].to_dataset()
    theta = tree["posterior"]["theta"].transpose("site", "chain", "draw").values
    theta = theta.reshape(theta.shape[0], -1)
    ranks = group["rank"].transpose("site", "chain", "draw").values.reshape(theta.shape)
    people = people_per_site(constant)
    table = pd.DataFrame(
        {
            "site": tree["posterior"]["site"].values.astype(str),
            "n": people if people is not None else np.nan,
            "raw_estimate": constant["raw_estimate"].values,
            "raw_se": constant["raw_se"].values,
            "mean": theta.mean(axis=1),
            "sd": theta.std(axis=1, ddof=1),
            **dict(
                zip(["q2.5", "q50", "q97.5"], np.quantile(theta, QUANTILES, axis=1), strict=True)
            ),
            **{name: group[name].values for name in SITE_COLUMNS[9:12]},
            "rank_mean": ranks.mean(axis=1),
            "rank_q2.5": np.quantile(ranks, 0.025, axis=1),
            "rank_q97.5": np.quantile(ranks, 0.975, axis=1),
            "triple_goal": group["triple_goal"].values,
        }
    )
    for level in reversed(nesting_levels(tree)):
        table.insert(1, level, constant[f"site_{level}"].values.astype(str))
    return table
