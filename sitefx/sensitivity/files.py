"""The sensitivity analysis of a fit as files: tables and plots.

``sitefx sensitivity`` writes them next to the fit; ``sitefx report`` adds a section made
from them when they are there (see :mod:`sitefx.report.sensitivity`).
"""

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from sitefx.data.schema import SiteSummaries
from sitefx.errors import SamplingWarning
from sitefx.estimator import SiteEffects
from sitefx.parallel import SERIAL, Workers
from sitefx.report.folders import write_csv
from sitefx.report.sensitivity import FILES
from sitefx.sensitivity.comparison import compare_models
from sitefx.sensitivity.densities import per_site_obstacle
from sitefx.sensitivity.grid import prior_grid
from sitefx.sensitivity.influence import leave_one_site_out
from sitefx.sensitivity.plots import influence_plot, prior_grid_plot
from sitefx.sensitivity.power import power_scaling


def write_sensitivity(
    model: SiteEffects,
    out_dir: str | Path,
    *,
    tau_priors: Sequence[str] | None = None,
    mu_priors: Sequence[str] | None = None,
    workers: Workers = SERIAL,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Run the prior grid (every model) and, where the sites have their own likelihood terms
    (site summaries; Gaussian records without levels or Student-t effects), power-scaling
    and leave-one-site-out, and for summaries a PSIS-LOO comparison of normal and Student-t
    site effects; write the files in :data:`~sitefx.report.sensitivity.FILES`. NUTS refits
    run on ``workers`` (see :mod:`sitefx.parallel`).

    Examples
    --------
    >>> import sitefx
    >>> model = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> paths = write_sensitivity(model, "out/doc_sensitivity")  # doctest: +SKIP
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {key: out / name for key, name in FILES.items()}
    units = model.posterior_.attrs.get("units", "")
    grid = prior_grid(
        model,
        model.data_,
        tau_priors=tau_priors,
        mu_priors=mu_priors,
        threshold=model.threshold,
        workers=workers,
        progress=progress,
    )
    write_csv(grid.table, paths["prior_grid"])
    write_csv(grid.sites, paths["prior_grid_sites"])
    prior_grid_plot(grid.table, units=units).savefig(paths["prior_grid_plot"], dpi=130)
    if per_site_obstacle(model.posterior_, model.data_) is not None:
        for key in ("power_scaling", "leave_one_out", "influence_plot", "comparison"):
            paths.pop(key)
        return paths
    write_csv(power_scaling(model), paths["power_scaling"])
    influence = leave_one_site_out(model, workers=workers, progress=progress)
    write_csv(influence, paths["leave_one_out"])
    influence_plot(influence).savefig(paths["influence_plot"], dpi=130)
    if isinstance(model.data_, SiteSummaries):  # Student-t records have no per-site terms yet
        write_csv(compare_models(_model_family(model, progress)), paths["comparison"])
    else:
        paths.pop("comparison")
    return paths


def _model_family(model: SiteEffects, progress: Callable[[str], None] | None) -> dict:
    """The fitted model and its alternative site-effect distribution (normal <-> Student-t),
    named by their site effects."""
    other = "student-t" if model.site_dist == "normal" else "normal"
    if progress is not None:
        progress(f"fitting {other} site effects for the model comparison")
    settings = model.get_params() | {"site_dist": other, "site_df": None, "method": "auto"}
    settings["priors"] = {k: v for k, v in model.priors_.as_strings().items() if k != "nu"}
    with warnings.catch_warnings():  # its own diagnostics go into the comparison's verdict
        warnings.simplefilter("ignore", SamplingWarning)
        alternative = SiteEffects(**settings).fit(model.data_)
    return {f"{model.site_dist} site effects": model, f"{other} site effects": alternative}
