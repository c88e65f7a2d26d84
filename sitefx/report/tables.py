"""The summary table: one row per scalar quantity, the columns of the output contract."""

import numpy as np
import pandas as pd
import xarray as xr

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
