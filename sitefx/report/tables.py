"""Every number a fit reports, computed once from its DataTree.

:class:`Results` reads a fit's DataTree, the single source of truth, and builds the three
tables that everything else shows:

* ``summary``: one row per parameter (``summary.csv``, the printed table, the report's "All
  parameters");
* ``estimands``: the quantities evaluators report (``estimands.csv``, the report's
  "Estimates", the headline sentences);
* ``sites``: one row per site (``sites.csv``, the report's table of sites, the plots).

Where the fit holds the exact posterior (its ``exact`` group, :mod:`sitefx.infer.exact`),
every quantity with a closed form or a one-dimensional integral is exact: the means, SDs and
quantiles of ``mu``, ``tau``, ``theta``, ``theta_new``, ``gamma`` and of the averages over
these sites, every ``P(effect > c)``, pooling factors, the variance reduction, mean ranks,
triple-goal estimates and the site level's pooling. The rest (the SD of effects across these
sites, quantiles of shares and ranks, the variance the moderators explain) comes from draws
of the fixed integration stream (:mod:`sitefx.streams`), so an exact fit's tables are the
same whatever its seed. Every value has its Monte-Carlo standard error in a ``mcse_*``
column: 0 for exact values (see :mod:`sitefx.statistics`).
"""

from functools import cached_property

import numpy as np
import pandas as pd
import xarray as xr

from sitefx import streams
from sitefx.estimands import (
    check_outcome_sd,
    check_threshold,
    estimands,
    exact_gelman_pardoe,
    exact_mean_rank,
    exact_pooling_factor,
    exact_population_share_mean,
    exact_prob_above,
    exact_share_above_mean,
    exact_triple_goal,
    exact_variance_reduction,
    gelman_pardoe_pooling,
    nesting_levels,
    people_per_site,
    pooling_factor,
    predicted_site_means,
    triple_goal,
    variance_explained,
    variance_reduction,
)
from sitefx.infer.diagnostics import convergence_table
from sitefx.infer.exact import GROUP, ExactPosterior
from sitefx.report.datatree import POSTERIOR_DIMS
from sitefx.statistics import (
    QUANTILES,
    STATISTICS,
    batch_mcse,
    classify,
    exact_values,
    from_draws,
    from_mixture,
    mcse_name,
    probability_above,
)

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
EXACT_VARIABLES = ("mu", "tau", "theta", "theta_new", "gamma", "a0")
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
    "conclusion",
    "pooling_factor",
    "variance_reduction",
    "rank_mean",
    "rank_q2.5",
    "rank_q97.5",
    "triple_goal",
]
SITE_STATISTICS = [c for c in SITE_COLUMNS[4:] if c != "conclusion"]
# Per-site and scalar values of the ``estimands`` group, taken from the tables.
GROUP_VALUES = ("prob_above", "pooling_factor", "variance_reduction", "triple_goal")


def stored_exact(tree: xr.DataTree) -> ExactPosterior | None:
    """Return the exact posterior stored with a fit, or None for a fit made by NUTS.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit, as ``SiteEffects.fit`` makes it or :func:`~sitefx.report.load_datatree`
        reloads it.

    Returns
    -------
    ExactPosterior or None
        Rebuilt from the fit's ``exact`` group.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> round(float(stored_exact(fit.posterior_).mean("mu")), 2)
    7.65
    """
    if GROUP not in tree.children:
        return None
    return ExactPosterior.from_dataset(tree[GROUP].to_dataset())


class Results:
    """The tables of a fit (see the module's description), each computed once.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit, as ``SiteEffects.fit`` makes it or :func:`~sitefx.report.load_datatree`
        reloads it.
    threshold : float, optional
        The effect that counts as a benefit (default: the fit's own).
    outcome_sd : float, optional
        The outcome's SD, for effect sizes (default: the fit's own, if any).

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> results = Results(fit.posterior_)
    >>> row = results.summary.set_index("parameter").loc["mu"]
    >>> round(float(row["mean"]), 2), float(row["mcse_mean"])  # exact: no Monte-Carlo error
    (7.65, 0.0)
    """

    def __init__(
        self,
        tree: xr.DataTree,
        *,
        threshold: float | None = None,
        outcome_sd: float | None = None,
    ) -> None:
        stored = tree["estimands"].attrs if "estimands" in tree.children else {}
        self.tree = tree
        self.threshold = check_threshold(
            float(stored.get("threshold", 0.0)) if threshold is None else threshold
        )
        if outcome_sd is not None:
            check_outcome_sd(outcome_sd)
        self.outcome_sd = outcome_sd if outcome_sd is not None else tree.attrs.get("outcome_sd")
        self.exact = stored_exact(tree)
        # the exact method's draws are independent: no autocorrelation to estimate
        self.independent = self.exact is not None

    @cached_property
    def draws(self) -> xr.DataTree:
        """The fit whose draws give the Monte-Carlo numbers.

        The fit itself or, for an exact fit, the same fit with draws of the fixed
        integration stream.
        """
        if self.exact is None:
            return self.tree
        return _integration_fit(self.tree, self.exact)

    @cached_property
    def estimand_draws(self) -> xr.Dataset:
        """Draws of the estimands (ranks, averages, shares) at this threshold."""
        if self.exact is None and "estimands" in self.tree.children:
            stored = self.tree["estimands"].to_dataset()
            if float(stored.attrs["threshold"]) == self.threshold:
                return stored
        return estimands(self.draws, threshold=self.threshold)

    @cached_property
    def summary(self) -> pd.DataFrame:
        """Summary statistics of each parameter, one row per element.

        Mean, SD, 2.5/50/97.5% quantiles, R-hat, bulk/tail ESS and the MCSEs. Rows ``mu``,
        ``tau``, ``theta[<site>]``..., ``theta_new``, then the others. R-hat and ESS are
        blank for exact values (no draws).
        """
        posterior = self.draws["posterior"].to_dataset()
        names = summary_variables(self.tree)
        sampled = [n for n in names if self.exact is None or n not in EXACT_VARIABLES]
        diagnostics = convergence_table(posterior, sampled) if sampled else None
        pieces = []
        for name in names:
            values, labels = _elements(posterior[name], name)
            if name in sampled:
                table = from_draws(values, independent=self.independent)
                checks = diagnostics[name].transpose("diagnostic", ...).values
                checks = checks.reshape(3, -1)
            else:
                table = self._exact_statistics(name)
                checks = np.full((3, len(labels)), np.nan)
            table.insert(0, "parameter", labels)
            for row, column in zip(checks, ("r_hat", "ess_bulk", "ess_tail"), strict=True):
                table[column] = row
            pieces.append(table)
        mcse = [mcse_name(name) for name in STATISTICS]
        return pd.concat(pieces, ignore_index=True)[SUMMARY_COLUMNS + mcse]

    @cached_property
    def estimands(self) -> pd.DataFrame:
        """The estimands evaluators report, one row each (see :func:`estimand_table`)."""
        group = self.estimand_draws
        posterior = self.draws["posterior"].to_dataset()
        levels = nesting_levels(self.tree)
        order = ["mu", "mu_sites", "mu_persons", "theta_new", "tau"]
        order += [f"tau_{level}" for level in levels]
        order += ["sd_sites", "share_above", "population_share_above", "variance_explained"]
        order += ["risk_difference_sites"]
        rows = []
        for name in order:  # parameters from the posterior, estimands from their group
            source = group if name in group else posterior
            if name not in source:
                continue
            values = source[name].transpose(*SAMPLE_DIMS).values[..., None]
            exact = self._exact_estimand(name)  # draws only for what is not exact
            row = {}
            if not set(STATISTICS) <= exact.keys():
                row = from_draws(values, independent=self.independent).iloc[0].to_dict()
            if name in LOCATIONS and "prob_positive" not in exact:
                for column, cut in (("prob_positive", 0.0), ("prob_above", self.threshold)):
                    prob, mcse = probability_above(values, cut, independent=self.independent)
                    row |= {column: prob[0], mcse_name(column): mcse[0]}
            row |= exact
            rows.append({"estimand": name, "meaning": _meaning(name, self.threshold, levels)} | row)
        rows.append(
            {
                "estimand": "gelman_pardoe_pooling",
                "meaning": _meaning("gelman_pardoe_pooling", self.threshold, levels),
            }
            | self._site_level_pooling()
        )
        table = pd.DataFrame(rows)
        probability_columns = ["prob_positive", "prob_above"]
        mcse = [mcse_name(name) for name in [*STATISTICS, *probability_columns]]
        table = table.reindex(columns=ESTIMAND_COLUMNS + mcse)
        if self.outcome_sd:
            scaled = table["estimand"].isin(EFFECT_SCALE) | table["estimand"].str.startswith("tau_")
            effect_sizes = ["es_mean", "es_q2.5", "es_q97.5"]
            for column in effect_sizes:
                for name in (column[3:], mcse_name(column[3:])):
                    table[name.replace(column[3:], column)] = (
                        table[name].where(scaled) / self.outcome_sd
                    )
            effect_mcse = [mcse_name(column) for column in effect_sizes]
            table = table[[*ESTIMAND_COLUMNS, *effect_sizes, *mcse, *effect_mcse]]
        return table

    @cached_property
    def sites(self) -> pd.DataFrame:
        """One row per site (see :func:`site_table`)."""
        tree, posterior = self.tree, self.draws["posterior"]
        constant = tree["constant_data"].to_dataset()
        se = constant["raw_se"].values
        theta = posterior["theta"].transpose(*SAMPLE_DIMS, "site").values
        tau = posterior["tau"].transpose(*SAMPLE_DIMS).values
        ranks = self.estimand_draws["rank"].transpose(*SAMPLE_DIMS, "site").values
        values = {} if self.exact is None else self._exact_sites()  # draws for the rest
        if "mean" not in values:
            stats = from_draws(theta, independent=self.independent)
            values |= {name: stats[name].to_numpy() for name in stats.columns}
        if "prob_above" not in values:
            prob, mcse = probability_above(theta, self.threshold, independent=self.independent)
            values |= {"prob_above": prob, mcse_name("prob_above"): mcse}
        for name, statistic, draws in [
            ("pooling_factor", lambda t: pooling_factor(se, t), tau),
            ("variance_reduction", lambda t: variance_reduction(t, se), theta),
            ("triple_goal", lambda t: triple_goal(t), theta),
        ]:
            if name not in values:
                values |= {name: statistic(draws), mcse_name(name): batch_mcse(statistic, draws)}
        rank = from_draws(ranks.astype(float), independent=self.independent, discrete=True)
        for name, column in (("rank_mean", "mean"), ("rank_q2.5", "q2.5"), ("rank_q97.5", "q97.5")):
            if name not in values:
                values |= {name: rank[column].to_numpy(), mcse_name(name): rank[mcse_name(column)]}
        people = people_per_site(constant)
        table = pd.DataFrame(
            {
                "site": tree["posterior"]["site"].values.astype(str),
                "n": people if people is not None else np.nan,
                "raw_estimate": constant["raw_estimate"].values,
                "raw_se": se,
            }
            | {name: np.asarray(values[name], dtype=float) for name in SITE_STATISTICS}
        )
        table.insert(
            SITE_COLUMNS.index("conclusion"),
            "conclusion",
            [
                classify(p, m)
                for p, m in zip(values["prob_above"], values[mcse_name("prob_above")], strict=True)
            ],
        )
        for name in SITE_STATISTICS:
            table[mcse_name(name)] = np.asarray(values[mcse_name(name)], dtype=float)
        for level in reversed(nesting_levels(tree)):
            table.insert(1, level, constant[f"site_{level}"].values.astype(str))
        return table

    def estimand_group(self, group: xr.Dataset) -> xr.Dataset:
        """Add the tables' per-site and scalar values to a fit's ``estimands`` group.

        The values (``prob_above``, ``pooling_factor``, ``variance_reduction``,
        ``triple_goal``, ``gelman_pardoe_pooling``) are taken from these tables, so the stored
        values are the ones written and printed.

        Parameters
        ----------
        group : xarray.Dataset
            A fit's ``estimands`` draws (:func:`~sitefx.estimands.estimands`).

        Returns
        -------
        xarray.Dataset
            A copy of ``group`` with those variables (dim ``site``, or scalar) added.
        """
        sites = self.sites
        updated = group.copy()
        for name in GROUP_VALUES:
            updated[name] = ("site", sites[name].to_numpy())
        pooling = self.estimands.set_index("estimand").at["gelman_pardoe_pooling", "mean"]
        updated["gelman_pardoe_pooling"] = ((), float(pooling))
        return updated

    def _exact_statistics(self, name: str) -> pd.DataFrame:
        exact = self.exact
        if name in ("tau", "a0"):
            quantiles = exact.quantile(name, QUANTILES)
            return exact_values(
                {"mean": exact.mean(name), "sd": exact.sd(name)}
                | dict(zip(STATISTICS[2:], quantiles, strict=True))
            )
        return from_mixture(exact.mixture(name))

    def _exact_estimand(self, name: str) -> dict[str, float]:
        """Return the exact values of an estimand's row (those that have one), MCSE 0."""
        exact = self.exact
        if exact is None:
            return {}
        mixture = None
        if name in ("mu", "theta_new"):
            mixture = exact.mixture(name)
        elif name == "mu_sites":
            mixture = exact.linear(np.full(len(exact.se), 1.0 / len(exact.se)))
        elif name == "mu_persons":
            people = people_per_site(self.tree["constant_data"].to_dataset())
            mixture = exact.linear(people / people.sum())
        if name == "tau":
            return self._exact_statistics("tau").iloc[0].to_dict()
        if mixture is not None:
            values = from_mixture(mixture).iloc[0].to_dict()
            for column, cut in (("prob_positive", 0.0), ("prob_above", self.threshold)):
                values |= {column: float(1.0 - mixture.cdf(cut)), mcse_name(column): 0.0}
            return values
        if name == "share_above":
            return {"mean": exact_share_above_mean(exact, self.threshold), "mcse_mean": 0.0}
        if name == "population_share_above":
            return {"mean": exact_population_share_mean(exact, self.threshold), "mcse_mean": 0.0}
        return {}

    def _site_level_pooling(self) -> dict[str, float]:
        """Gelman & Pardoe's pooling factor: exact, or from draws with its MCSE."""
        if self.exact is not None:
            return {"mean": exact_gelman_pardoe(self.exact), mcse_name("mean"): 0.0}
        posterior = self.draws["posterior"]
        theta = posterior["theta"].transpose(*SAMPLE_DIMS, "site").values
        deviation = theta - predicted_site_means(self.draws)
        return {
            "mean": gelman_pardoe_pooling(deviation),
            mcse_name("mean"): float(batch_mcse(gelman_pardoe_pooling, deviation)),
        }

    def _exact_sites(self) -> dict[str, np.ndarray]:
        """Return the site table's columns that are exact for this fit, with MCSE 0."""
        exact = self.exact
        theta = from_mixture(exact.mixture("theta"))
        values = {name: theta[name].to_numpy() for name in theta.columns}
        values |= {
            "prob_above": exact_prob_above(exact, self.threshold),
            "pooling_factor": exact_pooling_factor(exact),
            "variance_reduction": exact_variance_reduction(exact),
        }
        mean_rank = exact_mean_rank(exact)
        if mean_rank is not None:
            values["rank_mean"] = mean_rank
            goal = exact_triple_goal(exact, mean_rank)
            if goal is not None:
                values["triple_goal"] = goal
        for name in [*GROUP_VALUES, "rank_mean"]:
            if name in values:
                values[mcse_name(name)] = np.zeros(len(exact.se))
        return values


def summary_variables(tree: xr.DataTree) -> list[str]:
    """List a fit's posterior variables in contract order.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit, as ``SiteEffects.fit`` makes it or :func:`~sitefx.report.load_datatree`
        reloads it.

    Returns
    -------
    list of str
        ``mu``, ``tau``, ``theta``, ``theta_new``, ... as in
        :data:`~sitefx.report.datatree.POSTERIOR_DIMS`, then any others.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> summary_variables(fit.posterior_)[:4]
    ['mu', 'tau', 'theta', 'theta_new']
    """
    present = list(tree["posterior"].data_vars)
    return [name for name in POSTERIOR_DIMS if name in present] + [
        name for name in present if name not in POSTERIOR_DIMS
    ]


def draws_table(tree: xr.DataTree, *, long: bool = False) -> pd.DataFrame:
    """Return every posterior draw as a table, in the R ``posterior`` package's layout.

    Wide (default): one row per draw, columns ``.chain``, ``.iteration`` (from 1),
    ``.draw`` (from 1, across chains), then one column per parameter element, named as in
    ``summary.csv`` (``mu``, ``theta[A]``, ...): ``posterior::as_draws_df`` reads it as
    it is. Long: columns ``.chain``, ``.iteration``, ``.draw``, ``parameter``, ``value``,
    one row per draw and parameter element (for spreadsheets and tidyverse pipelines).

    Parameters
    ----------
    tree : xarray.DataTree
        A fit.
    long : bool, default False
        One row per draw and parameter element instead of one row per draw.

    Returns
    -------
    pandas.DataFrame
        The draws; chains are numbered from 1, as in R.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> table = draws_table(fit.posterior_)
    >>> table.shape, list(table.columns[:5])
    ((4000, 14), ['.chain', '.iteration', '.draw', 'mu', 'tau'])
    >>> draws_table(fit.posterior_, long=True).shape
    (44000, 5)
    """
    posterior = tree["posterior"]
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    columns = {
        ".chain": np.repeat(np.arange(1, chains + 1), draws),
        ".iteration": np.tile(np.arange(1, draws + 1), chains),
        ".draw": np.arange(1, chains * draws + 1),
    }
    for name in summary_variables(tree):
        values, labels = _elements(posterior[name], name)
        columns |= dict(zip(labels, values.reshape(chains * draws, -1).T, strict=True))
    wide = pd.DataFrame(columns)
    if not long:
        return wide
    index = [".chain", ".iteration", ".draw"]
    tidy = wide.melt(id_vars=index, var_name="parameter", value_name="value")
    return tidy.sort_values([".draw"], kind="stable").reset_index(drop=True)


def summary_table(tree: xr.DataTree) -> pd.DataFrame:
    """Summarize each parameter's posterior: mean, SD, quantiles, R-hat, ESS and MCSEs.

    The 2.5/50/97.5% quantiles and bulk/tail ESS (see :class:`Results`); exact values where
    the fit holds the exact posterior.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit, as ``SiteEffects.fit`` makes it or :func:`~sitefx.report.load_datatree`
        reloads it.

    Returns
    -------
    pandas.DataFrame
        One row per parameter element (``theta[<site>]``, ...): :data:`SUMMARY_COLUMNS`,
        then the ``mcse_*`` columns.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> summary_table(fit.posterior_).columns.tolist()[:9] == SUMMARY_COLUMNS
    True
    """
    return Results(tree).summary


def estimand_table(
    tree: xr.DataTree, *, threshold: float | None = None, outcome_sd: float | None = None
) -> pd.DataFrame:
    """Tabulate the estimands evaluators report, one row each.

    Rows: ``mu`` (average over the population of sites), ``mu_sites`` and ``mu_persons``
    (over these sites, site- and person-weighted), ``theta_new`` (a new site), ``tau`` and
    ``tau_<level>`` (cross-site SDs), ``sd_sites``, ``share_above`` and
    ``population_share_above``, ``variance_explained`` (with moderators), and
    ``gelman_pardoe_pooling``. ``prob_positive`` is ``P(value > 0)`` and ``prob_above``
    ``P(value > threshold)`` for effects. When the outcome's SD is known, ``es_mean``,
    ``es_q2.5`` and ``es_q97.5`` give the effects in SD units (standardized effect sizes).
    ``mcse_*`` columns hold each value's Monte-Carlo standard error (0: exact).

    Parameters
    ----------
    tree : xarray.DataTree
        A fit, as ``SiteEffects.fit`` makes it or :func:`~sitefx.report.load_datatree`
        reloads it.
    threshold : float, optional
        The effect that counts as a benefit (default: the fit's own).
    outcome_sd : float, optional
        The outcome's SD, for effect sizes (default: the fit's own, if any).

    Returns
    -------
    pandas.DataFrame
        Columns ``estimand``, ``meaning``, ``mean``, ``sd``, ``q2.5``, ``q50``, ``q97.5``,
        ``prob_positive``, ``prob_above`` (then ``es_*``) and the ``mcse_*`` columns.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> estimand_table(fit.posterior_)["estimand"].tolist()[:4]
    ['mu', 'mu_sites', 'theta_new', 'tau']
    """
    return Results(tree, threshold=threshold, outcome_sd=outcome_sd).estimands


def site_table(tree: xr.DataTree, *, threshold: float | None = None) -> pd.DataFrame:
    """Tabulate the sites, one row each, raw and shrunken.

    Each site's raw estimate, its shrunken effect, ``P(theta_j > threshold)`` and the
    ``conclusion`` it supports (``above``, ``below``, ``uncertain``, or ``borderline`` when
    within Monte-Carlo error of 95% or 5%), how much it was pooled, its rank (1 for the
    largest effect) and its triple-goal estimate, with MCSEs.

    Also a column per upper nesting level (the site's district, ...). ``n`` is missing when
    the data do not give the number of people.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit, as ``SiteEffects.fit`` makes it or :func:`~sitefx.report.load_datatree`
        reloads it.
    threshold : float, optional
        The effect that counts as a benefit (default: the fit's own).

    Returns
    -------
    pandas.DataFrame
        The columns of ``SITE_COLUMNS`` (nesting levels after ``site``), then the
        ``mcse_*`` columns.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> site_table(fit.posterior_)["raw_estimate"].tolist()[:3]
    [28.0, 8.0, -3.0]
    """
    return Results(tree, threshold=threshold).sites


def _elements(draws: xr.DataArray, name: str) -> tuple[np.ndarray, list[str]]:
    """Return the draws reshaped (chain, draw, element) and the elements' row labels."""
    element_dims = [dim for dim in draws.dims if dim not in SAMPLE_DIMS]
    values = draws.transpose(*SAMPLE_DIMS, *element_dims).values
    values = values.reshape(values.shape[0], values.shape[1], -1)
    if not element_dims:
        return values, [name]
    index = pd.MultiIndex.from_product([draws[dim].values for dim in element_dims])
    return values, [f"{name}[{','.join(map(str, key))}]" for key in index]


def _integration_fit(tree: xr.DataTree, exact: ExactPosterior) -> xr.DataTree:
    """Replace a fit's posterior draws by draws of its exact posterior.

    From the fixed integration stream, as many as the fit has. The groups computed from the
    fit's own draws (``log_likelihood``, ``posterior_predictive``) are dropped, not left
    beside draws they do not belong to.
    """
    posterior = tree["posterior"].to_dataset()
    draws = exact.draws(
        chains=posterior.sizes["chain"],
        draws=posterior.sizes["draw"],
        rng=streams.rng(streams.INTEGRATION_SEED, "integration"),
    )
    if "variance_explained" in posterior:
        draws["variance_explained"] = variance_explained(
            draws["gamma"], tree["constant_data"]["moderators"].values, draws["tau"]
        )
    replaced = tree.copy()
    for name in {"log_likelihood", "posterior_predictive"} & set(tree.children):
        del replaced[name]
    replaced["posterior"] = posterior.copy(data={name: draws[name] for name in posterior.data_vars})
    return replaced


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
