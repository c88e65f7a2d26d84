"""The sensitivity analysis of a fit as files: tables and plots.

``sitefx sensitivity`` writes them next to the fit; ``sitefx report`` adds a section made
from them when they are there (see :mod:`sitefx.report.sensitivity`).
"""

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from sitefx.errors import SamplingWarning
from sitefx.estimator import SiteEffects
from sitefx.families import family_of
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
    alt_tau: Sequence[str] | None = None,
    alt_mu: Sequence[str] | None = None,
    workers: Workers = SERIAL,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Run the sensitivity analyses of a fit and write their tables and plots.

    The prior grid runs for every model. Where the sites have their own likelihood terms
    (site summaries; Gaussian records without levels or Student-t effects), power-scaling and
    leave-one-site-out run too, and for summaries a PSIS-LOO comparison of normal and
    Student-t site effects. The files are those in :data:`~sitefx.report.sensitivity.FILES`.

    Parameters
    ----------
    model : SiteEffects
        A fitted model.
    out_dir : str or pathlib.Path
        The folder to write into; created if missing.
    alt_tau, alt_mu : sequence of str, optional
        Alternative priors for the grid (default:
        :func:`~sitefx.sensitivity.default_alternatives`).
    workers : Workers, default ``Workers()``
        Where NUTS refits run (see :mod:`sitefx.parallel`).
    progress : callable, optional
        Called with a line per refit.

    Returns
    -------
    dict of str to pathlib.Path
        The files written, by key of :data:`~sitefx.report.sensitivity.FILES` (the prior
        grid's always; the others where they apply).

    Examples
    --------
    With the comparison's Student-t refit by NUTS this takes minutes, so it is not run as a
    test:

    >>> import sitefx, tempfile
    >>> model = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> with tempfile.TemporaryDirectory() as out:  # doctest: +SKIP
    ...     paths = write_sensitivity(model, out)
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {key: out / name for key, name in FILES.items()}
    units = model.posterior_.attrs.get("units", "")
    grid = prior_grid(
        model,
        model.data_,
        alt_tau=alt_tau,
        alt_mu=alt_mu,
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
    if family_of(model.data_).compares_site_distributions:
        write_csv(compare_models(_model_family(model, progress)), paths["comparison"])
    else:
        paths.pop("comparison")
    return paths


def _model_family(model: SiteEffects, progress: Callable[[str], None] | None) -> dict:
    """Return the fitted model and its alternative site-effect distribution.

    Normal <-> Student-t, named by their site effects.
    """
    other = "student-t" if model.site_dist == "normal" else "normal"
    if progress is not None:
        progress(f"fitting {other} site effects for the model comparison")
    priors = {k: v for k, v in model.priors_.as_strings().items() if k != "nu"}
    alternative = model.with_settings(site_dist=other, site_df=None, method="auto", priors=priors)
    with warnings.catch_warnings():  # its own diagnostics go into the comparison's verdict
        warnings.simplefilter("ignore", SamplingWarning)
        alternative.fit(model.data_)
    return {f"{model.site_dist} site effects": model, f"{other} site effects": alternative}
