"""The public estimator: ``SiteEffects(...).fit(study)``.

Wires the pieces together in one direction: canonical data -> priors -> model -> NUTS ->
DataTree -> diagnostics. Settings live in ``__init__``; everything learned ends in ``_``.
"""

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from sitefx.data.adapters import Study
from sitefx.data.schema import IndividualRecords, SiteSummaries, StudyData
from sitefx.errors import SamplingWarning, SitefxInputError
from sitefx.estimands import new_site_effect
from sitefx.infer.diagnostics import check_diagnostics
from sitefx.infer.exact import normal_normal_exact, supports_exact
from sitefx.infer.nuts import SamplerSettings, run_nuts
from sitefx.infer.sufficient import SiteStatistics, draw_site_effects
from sitefx.models.hierarchical import (
    normal_normal,
    varying_intercepts_and_effects,
    varying_intercepts_and_effects_collapsed,
)
from sitefx.models.priors import Prior, Priors, resolve_priors
from sitefx.report.datatree import build_datatree, save_datatree
from sitefx.report.plots import forest_plot
from sitefx.report.tables import summary_table, summary_variables

METHODS = ("auto", "exact", "nuts")
OUTPUT_FILES = {"posterior": "posterior.nc", "summary": "summary.csv", "forest": "forest.png"}


class SiteEffects:
    """Bayesian hierarchical model of site-varying treatment effects.

    Site summaries get Rubin's normal-normal model; individual records get site intercepts
    and site treatment effects with a correlated bivariate normal distribution.

    Parameters
    ----------
    priors : mapping of str to str or Prior, optional
        Priors to use instead of the scale-aware defaults, e.g.
        ``{"tau": "half-cauchy(5)"}``. Keys: ``mu``, ``tau`` and, for individual records,
        ``alpha_mean``, ``alpha_sd``, ``beta``, ``sigma``, ``rho``.
    chains, draws, warmup, target_accept, seed, progress
        NUTS settings (see :class:`~sitefx.infer.SamplerSettings`); the exact method uses
        ``chains * draws`` independent draws.
    method : {"auto", "exact", "nuts"}
        ``exact`` integrates the normal-normal posterior by quadrature (site summaries with a
        normal or flat prior on mu; no MCMC, no convergence to check); ``nuts`` samples.
        ``auto`` picks ``exact`` whenever it applies.
    collapse : bool
        For Gaussian individual records, integrate the site effects out analytically and
        evaluate the likelihood from per-site sufficient statistics (fast, and the cost does
        not grow with the number of records); ``False`` samples the per-record model.

    Attributes
    ----------
    data_ : SiteSummaries or IndividualRecords
    priors_ : Priors
        The priors used (defaults resolved).
    exact_ : ExactPosterior or None
        The quadrature posterior, when the exact method was used.
    posterior_ : xarray.DataTree
        Draws and data, following the output contract.
    warnings_ : list of str
        Sampler diagnostics that failed (also issued as :class:`SamplingWarning`).

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> round(float(fit.summary().set_index("parameter").loc["mu", "mean"]), -1)
    10.0
    """

    def __init__(
        self,
        *,
        priors: Mapping[str, str | Prior | None] | None = None,
        chains: int = 4,
        draws: int = 1000,
        warmup: int = 1000,
        target_accept: float = 0.95,
        seed: int = 0,
        progress: bool = False,
        method: str = "auto",
        collapse: bool = True,
    ) -> None:
        self.priors = dict(priors or {})
        self.chains = chains
        self.draws = draws
        self.warmup = warmup
        self.target_accept = target_accept
        self.seed = seed
        self.progress = progress
        self.method = method
        self.collapse = collapse

    def fit(self, data: Study | StudyData) -> Self:
        """Sample the posterior of the model for ``data``; returns ``self``."""
        study = data if isinstance(data, Study) else None
        data = study.data if study else data
        if not isinstance(data, SiteSummaries | IndividualRecords):
            raise SitefxInputError(
                "fit() takes a Study, SiteSummaries or IndividualRecords; "
                f"got {type(data).__name__}"
            )
        if isinstance(data, SiteSummaries) and data.covariate_names:
            raise SitefxInputError(
                f"site covariates ({', '.join(data.covariate_names)}) are not used by the "
                "normal-normal model yet (moderators come with meta-regression); leave them out"
            )
        settings = SamplerSettings(
            chains=self.chains,
            draws=self.draws,
            warmup=self.warmup,
            target_accept=self.target_accept,
            seed=self.seed,
            progress=self.progress,
        )
        priors = resolve_priors(data, self.priors)
        exact = None
        if _choose_method(self.method, data, priors) == "exact":
            exact = normal_normal_exact(data.estimate, data.se, priors=priors)
            draws = exact.draws(chains=settings.chains, draws=settings.draws, seed=settings.seed)
            sample_stats = {"diverging": np.zeros(draws["mu"].shape, dtype=bool)}
            sampler = {
                "method": "exact",
                "grid_nodes": len(exact.log_tau),
                "error_estimate": exact.error_estimate,
            }
        else:
            draws, sample_stats, sampler = _sample_nuts(data, priors, settings, self.collapse)
            draws["theta_new"] = new_site_effect(draws["mu"], draws["tau"], seed=settings.seed)
        attrs = {"sampler": sampler | settings.to_dict()}
        if study is not None:
            attrs |= {"study": study.name, "study_title": study.title}
        tree = build_datatree(draws, sample_stats, data=data, priors=priors, attrs=attrs)
        # Exact draws are independent: there is no chain to diagnose.
        problems = [] if exact else check_diagnostics(tree, summary_variables(tree))
        tree.attrs["diagnostics"] = json.dumps(problems)
        for problem in problems:
            warnings.warn(problem, SamplingWarning, stacklevel=2)

        self.data_ = data
        self.priors_ = priors
        self.exact_ = exact
        self.posterior_ = tree
        self.warnings_ = problems
        self._summary = None
        return self

    def summary(self) -> pd.DataFrame:
        """The summary table (columns of the output contract).

        With the exact method, means, SDs and quantiles of ``mu``, ``tau``, ``theta`` and
        ``theta_new`` are the exact values, not Monte-Carlo estimates from the draws.
        """
        if self._summary is None:
            self._summary = summary_table(self._fitted(), self.exact_)
        return self._summary.copy()

    def plot_forest(self, **options: object) -> Figure:
        """Forest plot of raw vs shrunken site effects (see :func:`sitefx.report.forest_plot`)."""
        return forest_plot(self._fitted(), **options)

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``posterior.nc``, ``summary.csv`` and ``forest.png`` into ``out_dir``."""
        tree = self._fitted()
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {key: out / name for key, name in OUTPUT_FILES.items()}
        save_datatree(tree, paths["posterior"])
        self.summary().to_csv(paths["summary"], index=False)
        figure = self.plot_forest(title=tree.attrs.get("study_title"))
        figure.savefig(paths["forest"], dpi=150)
        figure.clear()
        return paths

    def _fitted(self) -> xr.DataTree:
        if not hasattr(self, "posterior_"):
            raise RuntimeError("call fit() first")
        return self.posterior_


def _choose_method(method: str, data: StudyData, priors: Priors) -> str:
    """``exact`` for site summaries whose mu prior allows it (``auto``), else ``nuts``."""
    if method not in METHODS:
        raise SitefxInputError(f"method must be one of {', '.join(METHODS)}; got '{method}'")
    exact_possible = isinstance(data, SiteSummaries) and supports_exact(priors)
    if method == "exact" and not exact_possible:
        why = "individual records" if isinstance(data, IndividualRecords) else f"mu ~ {priors.mu}"
        raise SitefxInputError(
            f"the exact method needs site summaries and a normal or flat prior on mu ({why}); "
            "use method 'nuts'"
        )
    if method == "auto":
        return "exact" if exact_possible else "nuts"
    return method


def _sample_nuts(
    data: StudyData, priors: Priors, settings: SamplerSettings, collapse: bool
) -> tuple[dict, dict, dict]:
    """Run NUTS on the model for ``data``: draws, sample stats and a sampler description."""
    if isinstance(data, SiteSummaries):
        draws, stats = run_nuts(
            normal_normal, settings, estimate=data.estimate, se=data.se, priors=priors
        )
        return draws, stats, {"method": "nuts", "model": "normal_normal"}
    covariates = data.covariates - data.covariates.mean(axis=0)
    if not collapse:
        draws, stats = run_nuts(
            varying_intercepts_and_effects,
            settings,
            outcome=data.outcome,
            treatment=data.treatment.astype(float),
            site_index=data.site_index,
            covariates=covariates,
            n_sites=data.n_sites,
            priors=priors,
        )
        return draws, stats, {"method": "nuts", "model": "per_record"}
    site_stats = SiteStatistics.from_records(data, covariates)
    draws, stats = run_nuts(
        varying_intercepts_and_effects_collapsed, settings, stats=site_stats, priors=priors
    )
    draws["alpha"], draws["theta"] = draw_site_effects(site_stats, draws, seed=settings.seed)
    return draws, stats, {"method": "nuts", "model": "collapsed_sufficient_statistics"}
