"""Convergence diagnostics of NUTS fits, computed with ArviZ.

R-hat, bulk and tail ESS, divergences, E-BFMI and saturated tree depth; the thresholds are
``MAX_RHAT`` (1.01), ``MIN_ESS`` (400) and ``MIN_BFMI`` (0.3).
"""

import json

import numpy as np
import pandas as pd
import xarray as xr

from sitefx.backend import arviz_stats as azs

MAX_RHAT = 1.01
MIN_ESS = 400
MIN_BFMI = 0.3


def convergence_table(posterior: xr.Dataset, var_names: list[str]) -> xr.Dataset:
    """Compute R-hat (rank-normalized) and bulk and tail ESS of posterior draws.

    Parameters
    ----------
    posterior : xarray.Dataset
        Draws with dims ``chain``, ``draw`` (and any others, e.g. ``site``).
    var_names : list of str
        The variables to diagnose.

    Returns
    -------
    xarray.Dataset
        The variables, each with a new ``diagnostic`` dimension labelled ``r_hat``,
        ``ess_bulk``, ``ess_tail`` (other dims kept, ``chain`` and ``draw`` reduced).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> draws = np.random.default_rng(0).normal(size=(4, 500))
    >>> table = convergence_table(xr.Dataset({"mu": (("chain", "draw"), draws)}), ["mu"])
    >>> table["diagnostic"].values.tolist(), bool(table["mu"].sel(diagnostic="r_hat") < 1.01)
    (['r_hat', 'ess_bulk', 'ess_tail'], True)
    """
    posterior = posterior[var_names]
    pieces = [
        azs.rhat(posterior),
        azs.ess(posterior, method="bulk"),
        azs.ess(posterior, method="tail"),
    ]
    return xr.concat(pieces, dim="diagnostic").assign_coords(
        diagnostic=["r_hat", "ess_bulk", "ess_tail"]
    )


def check_diagnostics(tree: xr.DataTree, table: pd.DataFrame) -> list[str]:
    """Plain-language warnings about the sampler's output (empty when all is well).

    Flags divergent transitions, trajectories stopped at the maximum tree depth, a chain's
    E-BFMI below 0.3 (Betancourt 2016), any R-hat above 1.01, and bulk or tail ESS below 400
    (Vehtari et al. 2021's recommendations), reading R-hat and ESS from the summary ``table``
    so they are computed once.

    Parameters
    ----------
    tree : xarray.DataTree
        The fit; its ``sample_stats`` group (``diverging``, ``n_steps``, ``energy``, any of
        them) and the ``sampler`` root attribute (JSON, for ``max_tree_depth``; default 10)
        are read.
    table : pandas.DataFrame
        The summary table, with columns ``parameter`` (``theta[<site>]`` rows are grouped
        by variable), ``r_hat``, ``ess_bulk`` and ``ess_tail``.

    Returns
    -------
    list of str
        One sentence per problem, each saying what to do; the worst R-hat and ESS of each
        variable are reported.

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> diverging = np.zeros((4, 100), dtype=bool)
    >>> diverging[0, :3] = True
    >>> tree = xr.DataTree.from_dict(
    ...     {"sample_stats": xr.Dataset({"diverging": (("chain", "draw"), diverging)})})
    >>> table = pd.DataFrame({"parameter": ["mu", "theta[a]", "theta[b]"],
    ...                       "r_hat": [1.0, 1.002, 1.03], "ess_bulk": [900.0, 850, 120],
    ...                       "ess_tail": [800.0, 700, 500]})
    >>> problems = check_diagnostics(tree, table)
    >>> problems[0].split(";")[0]
    '3 divergent transitions: the posterior may be biased'
    >>> for problem in problems[1:]:
    ...     print(problem)
    R-hat of theta is 1.030 (> 1.01): chains disagree
    effective sample size of theta is 120 (< 400): draw more
    """
    depth = json.loads(tree.attrs.get("sampler", "{}")).get("max_tree_depth", 10)
    stats = tree["sample_stats"] if "sample_stats" in tree.children else None
    problems = [] if stats is None else _sampler_problems(stats, depth)
    variable = table["parameter"].str.split("[", regex=False).str[0]
    worst = table.groupby(variable, sort=False).agg(
        r_hat=("r_hat", "max"), ess_bulk=("ess_bulk", "min"), ess_tail=("ess_tail", "min")
    )
    for name, row in worst.iterrows():
        if not row["r_hat"] <= MAX_RHAT:
            problems.append(
                f"R-hat of {name} is {row['r_hat']:.3f} (> {MAX_RHAT}): chains disagree"
            )
        worst_ess = min(row["ess_bulk"], row["ess_tail"])
        if not worst_ess >= MIN_ESS:
            problems.append(
                f"effective sample size of {name} is {worst_ess:.0f} (< {MIN_ESS}): draw more"
            )
    return problems


def _sampler_problems(stats: xr.DataTree, max_tree_depth: int) -> list[str]:
    """Report what NUTS's own statistics say: divergences, saturated trees, low E-BFMI."""
    problems = []
    divergent = int(np.sum(stats["diverging"].values)) if "diverging" in stats else 0
    if divergent:
        problems.append(
            f"{divergent} divergent transitions: the posterior may be biased; "
            "raise target_accept (--target-accept 0.99) or check the priors"
        )
    saturated = (
        int(np.sum(stats["n_steps"].values >= 2**max_tree_depth - 1)) if "n_steps" in stats else 0
    )
    if saturated:
        problems.append(
            f"{saturated} transitions stopped at the maximum tree depth ({max_tree_depth}): "
            "sampling is inefficient; raise --max-tree-depth (e.g. 12) or check the priors' "
            "scales"
        )
    if "energy" in stats:
        bfmi = np.atleast_1d(azs.bfmi(stats.to_dataset())["energy"].values)
        low = [
            f"{value:.2f} (chain {chain})" for chain, value in enumerate(bfmi) if value < MIN_BFMI
        ]
        if low:
            problems.append(
                f"E-BFMI {', '.join(low)} below {MIN_BFMI}: the sampler explores the energy "
                "distribution poorly; a reparametrization or tighter priors may help"
            )
    return problems
