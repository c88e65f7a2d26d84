"""The public estimator: ``SiteEffects(...).fit(study)``.

Wires the pieces together in one direction: canonical data -> priors -> model -> NUTS ->
DataTree -> diagnostics. Settings live in ``__init__``; everything learned ends in ``_``.
"""

import dataclasses
import html
import inspect
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Self

import numpy as np
import pandas as pd
import xarray as xr

from sitefx import streams
from sitefx.data.adapters import Roles, Study, load, load_historical
from sitefx.data.partitioned import load_statistics
from sitefx.data.schema import SiteSummaries, StudyData
from sitefx.data.sources import Source
from sitefx.errors import (
    IgnoredOptionWarning,
    SamplingWarning,
    SitefxInputError,
    check_finite,
)
from sitefx.estimands import (
    estimands,
    new_site_effect,
    variance_explained,
)
from sitefx.families import Family, Model, family_of, horseshoe_prior, resolve_priors
from sitefx.historical import Borrowing
from sitefx.infer.diagnostics import check_diagnostics
from sitefx.infer.exact import GROUP as EXACT_GROUP
from sitefx.infer.exact import ExactPosterior, normal_normal_exact
from sitefx.infer.nuts import SamplerSettings, run_nuts
from sitefx.models.priors import VECTOR_FAMILIES, Prior, Priors
from sitefx.report.datatree import build_datatree, check_names, save_datatree
from sitefx.report.document import headline_sentences, write_report
from sitefx.report.folders import (
    output_folder,
    read_fit,
    report_folder,
    write_csv,
    write_figure,
)
from sitefx.report.forest import forest_plot
from sitefx.report.tables import Results, stored_exact
from sitefx.spec import ATTRIBUTE, NUTS_ONLY, ModelSpec

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SOURCES = "sources"  # the DataTree attribute recording where a fit's data were read
OUTPUT_FILES = {
    "posterior": "posterior.nc",
    "summary": "summary.csv",
    "estimands": "estimands.csv",
    "sites": "sites.csv",
    "forest": "forest.png",
    "forest_svg": "forest.svg",
}


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
    chains, draws, warmup, target_accept, max_tree_depth, seed, progress
        NUTS settings (see :class:`~sitefx.infer.SamplerSettings`); the exact method uses
        ``chains * draws`` independent draws, and warns (:class:`IgnoredOptionWarning`) that
        ``warmup``, ``target_accept`` and ``max_tree_depth`` are ignored when given.
        ``None`` means the default: 1000 warm-up draws, tree depth 10, ``target_accept``
        0.95, and 0.99 with a horseshoe prior, whose posterior needs smaller steps.
    method : {"auto", "exact", "nuts"}
        ``exact`` integrates the normal-normal posterior by quadrature (site summaries with a
        normal or flat prior on mu; no MCMC, no convergence to check); ``nuts`` samples.
        ``auto`` picks ``exact`` whenever it applies.
    site_dist : {"normal", "student-t"}
        Distribution of site effects around the mean. ``student-t`` (site summaries) gives
        robust pooling when some sites are outliers; its degrees of freedom ``nu`` are learned
        (prior ``gamma(2, 0.1)``) unless ``site_df`` fixes them.
    site_df : float, optional
        Fixed degrees of freedom for ``student-t`` site effects.
    covariate_prior : {"normal", "horseshoe"}
        ``horseshoe`` puts the regularized horseshoe (see
        :func:`~sitefx.models.priors.horseshoe_prior`) on the covariates of individual
        records or the moderators of site summaries: many columns, few expected to matter.
        Shrinkage factors ``kappa_beta`` / ``kappa_gamma`` are reported.
    horseshoe_p0, slab_scale, slab_df : float, optional
        Horseshoe settings: the expected number of relevant columns (default a quarter),
        the slab's scale (default: the data scale per column SD) and degrees of freedom (4).
    level_effect : {"common", "varying"}
        Unbalanced repeated measures (the long-format growth model): the treatment effect
        on the level at the centre time, one for all sites (``common``) or varying across
        sites around ``level_effect_mean`` with SD ``level_effect_sd`` (``varying``).
    historical : Study or SiteSummaries, optional
        Summaries of earlier studies to borrow from for ``mu`` (see :mod:`sitefx.historical`).
    borrow : {"map", "power"}, optional
        Robust meta-analytic-predictive prior (the default with ``historical``), or power
        prior.
    borrow_weight : float, optional
        ``map``: weight of the vague component (0.2); ``power``: fixed ``a0`` (learned if
        not given). What was borrowed is in ``posterior_.attrs["borrowing"]``.
    threshold : float
        The effect that counts as a benefit (default 0), for ``P(theta_j > threshold)`` and
        the shares of sites above it in the estimands (see :func:`sitefx.estimands.estimands`).
    outcome_sd : float, optional
        The outcome's SD, to report effects in SD units (standardized effect sizes). The
        default for continuous records is the outcome's SD pooled within arms (at the first
        wave for growth); for summaries, ``outcome_sd`` in ``study.toml``.
    collapse : bool
        For Gaussian individual records, integrate the site effects out analytically and
        evaluate the likelihood from per-site sufficient statistics (fast, and the cost does
        not grow with the number of records); for binary records without covariates,
        clusters or moderators, fit the per-site arm counts. ``False`` samples the per-record
        model.

    Attributes
    ----------
    data_ : SiteSummaries, ArmSummaries or IndividualRecords
        The data fitted. For a fit reopened by :func:`open_fit`, loaded again on first use
        from the files the fit read (:func:`saved_study`), which must be unchanged.
    priors_ : Priors
        The priors used (defaults resolved).
    exact_ : ExactPosterior or None
        The quadrature posterior, when the exact method was used.
    posterior_ : xarray.DataTree
        Draws and data, following the output contract; its ``estimands`` group holds the
        estimands evaluators report (weighted averages, shares, ranks, pooling).
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
        warmup: int | None = None,
        target_accept: float | None = None,
        max_tree_depth: int | None = None,
        seed: int = 0,
        progress: bool = False,
        method: str = "auto",
        collapse: bool = True,
        site_dist: str = "normal",
        site_df: float | None = None,
        covariate_prior: str = "normal",
        horseshoe_p0: float | None = None,
        slab_scale: float | None = None,
        slab_df: float | None = None,
        level_effect: str = "common",
        historical: Study | SiteSummaries | None = None,
        borrow: str | None = None,
        borrow_weight: float | None = None,
        threshold: float = 0.0,
        outcome_sd: float | None = None,
    ) -> None:
        self.priors = dict(priors or {})
        self.chains = chains
        self.draws = draws
        self.warmup = warmup
        self.target_accept = target_accept
        self.max_tree_depth = max_tree_depth
        self.seed = seed
        self.progress = progress
        self.method = method
        self.collapse = collapse
        self.site_dist = site_dist
        self.site_df = site_df
        self.covariate_prior = covariate_prior
        self.horseshoe_p0 = horseshoe_p0
        self.slab_scale = slab_scale
        self.slab_df = slab_df
        self.level_effect = level_effect
        self.historical = historical
        self.borrow = borrow
        self.borrow_weight = borrow_weight
        self.threshold = threshold
        self.outcome_sd = outcome_sd

    def fit(self, data: Study | StudyData) -> Self:
        """Compute the posterior of the model for ``data``: exact where it can, else NUTS.

        Parameters
        ----------
        data : Study or StudyData
            A loaded study (:func:`sitefx.load`), or canonical data of any registered
            family (:mod:`sitefx.families`).

        Returns
        -------
        SiteEffects
            ``self``, fitted: ``posterior_``, ``data_``, ``priors_``, ``exact_``,
            ``warnings_`` set.

        Raises
        ------
        SitefxInputError
            For settings or data the model cannot take, named.

        Warns
        -----
        SamplingWarning
            For each failed sampler diagnostic.
        IgnoredOptionWarning
            For NUTS settings given to an exact fit.

        Examples
        --------
        >>> import sitefx
        >>> fit = SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
        >>> fit.posterior_.attrs["sampler"].startswith('{"method": "exact"')
        True
        """
        spec = self.spec  # checked once, here
        study = data if isinstance(data, Study) else None
        data = study.data if study else data
        family = family_of(data)
        check_names(data)
        outcome_sd = _outcome_sd(spec.outcome_sd, study, data, family)
        borrowing, transform = _borrowing(spec, self.historical), None
        robust, priors = model_priors(spec, data)
        shrinks = any(p.family in VECTOR_FAMILIES for p in (priors.beta, priors.gamma) if p)
        settings = spec.sampler_settings(shrinks=shrinks)
        if borrowing is not None:
            priors, transform = borrowing.apply(data, priors)
        exact = None
        obstacle = family.exact_obstacle(data, priors, robust=robust)
        if _choose_method(spec.method, obstacle) == "exact":
            if ignored := spec.given(NUTS_ONLY):
                flags = ", ".join(f"{name} (--{name.replace('_', '-')})" for name in ignored)
                message = f"{flags} ignored: the exact method has no sampler to tune"
                warnings.warn(message, IgnoredOptionWarning, stacklevel=2)
            exact = _quadrature(data, priors, borrowing)
            draws, sample_stats, sampler = _exact_draws(exact, settings)
        else:
            draws, sample_stats, sampler = _sample_nuts(
                family.model(data, priors, collapse=spec.collapse, site_df=spec.site_df),
                settings,
                transform=transform,
            )
        # SDs of effects at upper nesting levels (none with the exact method).
        upper_tau = [draws[f"tau_{level.name}"] for level in getattr(data, "levels", ())]
        if exact is None:
            draws["theta_new"] = new_site_effect(
                draws["mu"],
                draws["tau"],
                df=draws.get("nu", spec.site_df),
                upper_tau=upper_tau,
                rng=streams.rng(settings.seed, "new_site"),
            )
        if getattr(data, "moderator_names", ()):
            residual_variance = draws["tau"] ** 2 + sum(sd**2 for sd in upper_tau)
            draws["variance_explained"] = variance_explained(
                draws["gamma"], data.moderators, np.sqrt(residual_variance)
            )
        attrs = {
            "sampler": sampler | settings.to_dict(),
            "site_dist": spec.site_dist,
            ATTRIBUTE: spec.replace(roles=study.roles if study else None).to_json(),
        }
        if spec.site_df is not None:
            attrs["site_df"] = spec.site_df
        if outcome_sd is not None:
            attrs["outcome_sd"] = outcome_sd
        if borrowing is not None:
            attrs["borrowing"] = borrowing.report(data, priors, draws, exact=exact)
        if sources := data_sources(study, self.historical):
            attrs[SOURCES] = sources
        if study is not None:
            attrs |= {
                "study": study.name,
                "site_label": study.roles.site,
                "study_title": study.title,
                "study_design": study.design,
                "observational": int(study.observational),
            }
        tree = build_datatree(
            draws,
            sample_stats,
            data=data,
            data_groups=family.data_groups(data),
            priors=priors,
            attrs=attrs,
        )
        if exact is not None:  # the exact posterior itself: every table reads it
            tree[EXACT_GROUP] = exact.to_dataset(data.site, data.moderator_names)
        # Optional in a family (Family.predictive_groups): a family without it stores none.
        predictive_groups = getattr(family, "predictive_groups", None)
        if predictive_groups is not None:
            for name, group in predictive_groups(tree, data, priors, settings.seed).items():
                tree[name] = xr.DataTree(group)
        tree["estimands"] = estimands(tree, threshold=spec.threshold)
        results = Results(tree)
        tree["estimands"] = results.estimand_group(tree["estimands"].to_dataset())
        # Exact draws are independent: there is no chain to diagnose.
        problems = [] if exact else check_diagnostics(tree, results.summary)
        if borrowing is not None and exact is None:
            problems += borrowing.sampling_problems(attrs["borrowing"])
        tree.attrs["diagnostics"] = json.dumps(problems)
        for problem in problems:
            warnings.warn(problem, SamplingWarning, stacklevel=2)

        self._data = data
        self.priors_ = priors
        self.exact_ = exact
        self.posterior_ = tree
        self.warnings_ = problems
        self._results = results
        return self

    def check_settings(self) -> Self:
        """Check every setting that needs no data; returns ``self``.

        ``fit`` calls this first, and the command line before it reads any data: numbers
        in range (e.g. ``chains * draws`` at most 10 million), known choices, priors that
        read and are not absurd, options that need another (see
        :class:`~sitefx.spec.ModelSpec`). Each error (:class:`SitefxInputError`) names the
        setting and its command-line flag.

        Returns
        -------
        SiteEffects
            ``self``.

        Examples
        --------
        >>> SiteEffects(site_df=4).check_settings()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sitefx.errors.SitefxInputError: site_df (--site-df) needs site_dist 'student-t'...
        """
        self.spec  # noqa: B018 (building the spec checks it)
        return self

    def exact_posterior(self, data: Study | StudyData) -> ExactPosterior | None:
        """Return the quadrature posterior ``fit`` would compute for ``data``.

        No draws, no DataTree: milliseconds.

        Parameters
        ----------
        data : Study or StudyData
            The data.

        Returns
        -------
        ExactPosterior or None
            None where the exact method does not apply (or ``method`` is ``nuts``, or with
            historical data).

        Examples
        --------
        >>> import sitefx
        >>> exact = SiteEffects().exact_posterior(sitefx.load("studies/eight_schools"))
        >>> round(float(exact.mean("mu")), 1)
        7.6
        """
        data = data.data if isinstance(data, Study) else data
        spec = self.spec
        if spec.method == "nuts" or self.historical is not None:
            return None
        robust, priors = model_priors(spec, data)
        if family_of(data).exact_obstacle(data, priors, robust=robust) is not None:
            return None
        return _quadrature(data, priors)

    def get_params(self) -> dict[str, object]:
        """Return the settings given to ``__init__`` (scikit-learn's convention).

        Returns
        -------
        dict of str to object
            By parameter name, as given (not checked: see :attr:`spec`).
        """
        names = inspect.signature(type(self).__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self"}

    @property
    def spec(self) -> ModelSpec:
        """The settings as a :class:`~sitefx.spec.ModelSpec`, checked as it is built.

        All settings but the historical data.
        """
        return ModelSpec(**{k: v for k, v in self.get_params().items() if k != "historical"})

    @classmethod
    def from_spec(cls, spec: ModelSpec, *, historical: Study | SiteSummaries | None = None) -> Self:
        """Return an unfitted model with the settings of ``spec``.

        Parameters
        ----------
        spec : ModelSpec
            E.g. :meth:`ModelSpec.from_tree` of a saved fit.
        historical : Study or SiteSummaries, optional
            Historical data to borrow from (not part of a spec).

        Returns
        -------
        SiteEffects

        Examples
        --------
        >>> import sitefx
        >>> study = sitefx.load("studies/eight_schools")
        >>> fit = SiteEffects(seed=3, priors={"tau": "half-cauchy(5)"}).fit(study)
        >>> again = SiteEffects.from_spec(ModelSpec.from_tree(fit.posterior_)).fit(study)
        >>> again.summary().equals(fit.summary())
        True
        """
        names = inspect.signature(cls.__init__).parameters
        settings = {name: getattr(spec, name) for name in names if hasattr(spec, name)}
        return cls(**settings, historical=historical)

    def with_settings(self, **changes: object) -> Self:
        """Return an unfitted copy with ``changes`` to its settings, checked.

        Parameters
        ----------
        **changes
            Settings by name (``priors`` replaces the whole mapping).

        Returns
        -------
        SiteEffects
            With the same historical data.
        """
        return type(self).from_spec(self.spec.replace(**changes), historical=self.historical)

    def refit(self, data: Study | StudyData | None = None, **changes: object) -> Self:
        """Fit again with ``changes`` to the settings: ``sitefx refit`` in Python.

        Parameters
        ----------
        data : Study or StudyData, optional
            The data to fit. By default the fit's own, loaded again from the files it read
            (:func:`saved_study`), which must be unchanged.
        **changes
            Settings by name, as for :meth:`with_settings` (``priors`` are merged: a prior
            given here replaces that parameter's, the others are kept).

        Returns
        -------
        SiteEffects
            A new fitted estimator; this one is left as it was.

        Raises
        ------
        SitefxInputError
            If the fit's files have changed or were not files (a DataFrame), or a setting is
            invalid.

        Examples
        --------
        >>> import sitefx
        >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
        >>> wider = fit.refit(priors={"tau": "half-cauchy(25)"})
        >>> str(wider.priors_.tau), wider.get_params()["seed"]
        ('half-cauchy(25)', 1)
        """
        fitted = self._fitted()
        if "priors" in changes:
            changes["priors"] = {**self.spec.priors, **changes["priors"]}
        historical = self.historical
        if historical is None and "borrowing" in fitted.attrs:
            historical = saved_study(fitted, "historical")
        model = type(self).from_spec(self.spec.replace(**changes), historical=historical)
        return model.fit(saved_study(fitted) if data is None else data)

    def summary(self) -> pd.DataFrame:
        """Return the summary table (columns of the output contract, then the MCSEs).

        With the exact method, means, SDs and quantiles of ``mu``, ``tau``, ``theta``,
        ``theta_new`` and ``gamma`` are the exact values, not Monte-Carlo estimates from the
        draws (their ``mcse_*`` is 0).

        Returns
        -------
        pandas.DataFrame
            One row per parameter (``theta[<site>]`` per site).
        """
        self._fitted()
        return self._results.summary.copy()

    def plot_forest(self, **options: object) -> "Figure":
        """Return the forest plot of raw vs shrunken site effects.

        Parameters
        ----------
        **options
            Passed to :func:`sitefx.report.forest_plot`.

        Returns
        -------
        matplotlib.figure.Figure
        """
        return forest_plot(self._fitted(), **options)

    def estimands(self) -> pd.DataFrame:
        """Return the estimands table (see :func:`sitefx.report.estimand_table`).

        Returns
        -------
        pandas.DataFrame
        """
        self._fitted()
        return self._results.estimands.copy()

    def sites(self) -> pd.DataFrame:
        """Return one row per site (see :func:`sitefx.report.site_table`).

        Returns
        -------
        pandas.DataFrame
        """
        self._fitted()
        return self._results.sites.copy()

    def report(self, out_dir: str | Path, **options: object) -> dict[str, Path]:
        """Write the HTML and Markdown report into ``out_dir``, all or nothing.

        Files already there are kept: into a saved fit's folder, a report with its own
        ``threshold`` or ``outcome_sd`` goes to ``out_dir/report/``, so that the fit's tables
        keep the fit's values (as ``sitefx report DIR --threshold C``).

        Parameters
        ----------
        out_dir : str or pathlib.Path
            The folder.
        **options
            Passed to :func:`sitefx.report.write_report` (e.g. another ``threshold``).

        Returns
        -------
        dict of str to pathlib.Path
            The files written, by kind.
        """
        self._fitted()
        recomputed = any(options.get(name) is not None for name in ("threshold", "outcome_sd"))
        if not recomputed:  # the fit's own threshold: the tables already computed
            options = {"results": self._results} | options
        out_dir = report_folder(out_dir, recomputed=recomputed)
        with output_folder(out_dir, command=["SiteEffects.report"], keep=True) as folder:
            paths = write_report(self.posterior_, folder, **options)
        return {key: out_dir / path.relative_to(folder) for key, path in paths.items()}

    def save(
        self,
        out_dir: str | Path,
        *,
        command: Sequence[str] = ("SiteEffects.save",),
        inputs: Sequence[str | Path | Mapping] = (),
        forest: Mapping[str, object] | None = None,
    ) -> dict[str, Path]:
        """Write the fit's files into ``out_dir``, all or nothing, with a manifest.

        ``posterior.nc``, ``summary.csv``, ``estimands.csv``, ``sites.csv``, ``forest.png``
        and ``forest.svg``, and ``manifest.json`` recording ``command`` and the ``inputs``
        files (see :mod:`sitefx.report.folders`).

        Parameters
        ----------
        out_dir : str or pathlib.Path
            The folder (replaced as a whole if sitefx wrote it before).
        command : sequence of str
            What made the fit, for the manifest.
        inputs : sequence of str, pathlib.Path or mapping
            The input files, hashed into the manifest, or their records made when they were
            read (see :func:`~sitefx.report.folders.output_folder`).
        forest : mapping, optional
            Options of the forest plot (:func:`sitefx.report.forest_plot`), e.g.
            ``{"null": 0.1, "unit_name": "school"}``; its title is the study's by default.

        Returns
        -------
        dict of str to pathlib.Path
            The files written, by kind.
        """
        self._fitted()
        with output_folder(out_dir, command=command, inputs=inputs) as folder:
            self.write_files(folder, forest=forest)
        return {key: Path(out_dir) / name for key, name in OUTPUT_FILES.items()}

    def write_files(
        self, folder: str | Path, *, forest: Mapping[str, object] | None = None
    ) -> dict[str, Path]:
        """Write the fit's files into an existing ``folder`` (no manifest: see :meth:`save`).

        Parameters
        ----------
        folder : str or pathlib.Path
            An existing folder.
        forest : mapping, optional
            Options of the forest plot (:func:`sitefx.report.forest_plot`).

        Returns
        -------
        dict of str to pathlib.Path
            The files written, by kind.
        """
        tree = self._fitted()
        paths = {key: Path(folder) / name for key, name in OUTPUT_FILES.items()}
        save_datatree(tree, paths["posterior"])
        write_csv(self.summary(), paths["summary"])
        write_csv(self.estimands(), paths["estimands"])
        write_csv(self.sites(), paths["sites"])
        options = {"title": tree.attrs.get("study_title")} | dict(forest or {})
        figure = forest_plot(tree, results=self._results, **options)
        write_figure(figure, paths["forest"], dpi=150)
        write_figure(figure, paths["forest_svg"], dpi=150)
        figure.clear()
        return paths

    def _repr_html_(self) -> str:
        """Show a fit in a notebook: its headline sentences, then the summary table."""
        if not hasattr(self, "posterior_"):
            return f"<pre>{html.escape(repr(self))}</pre>"
        sentences = headline_sentences(self.posterior_, self._results)
        paragraphs = "".join(f"<p>{html.escape(sentence)}</p>" for sentence in sentences)
        return paragraphs + self.summary().to_html(index=False, escape=True)

    @property
    def data_(self) -> StudyData:
        """The data fitted (see the class docstring)."""
        tree = self._fitted()
        if self._data is None:  # a reopened fit (open_fit)
            self._data = saved_study(tree).data
        return self._data

    def _fitted(self) -> xr.DataTree:
        if not hasattr(self, "posterior_"):
            raise RuntimeError("call fit() first")
        return self.posterior_


def open_fit(folder: str | Path) -> SiteEffects:
    """Reopen a fit saved by ``sitefx fit`` or :meth:`SiteEffects.save`.

    The folder is checked first (:func:`~sitefx.report.read_fit`: complete, unedited). The
    result is the fitted estimator, as :meth:`SiteEffects.fit` left it: ``summary()``,
    ``estimands()``, ``sites()``, ``plot_forest()`` and ``report()`` work, and its settings
    are the fit's, so ``refit(...)`` refits with changes. ``data_`` is loaded again, when
    first used, from the files the fit read, checked unchanged (:func:`saved_study`).

    Parameters
    ----------
    folder : str or pathlib.Path
        The fit's folder (it holds ``posterior.nc`` and ``manifest.json``).

    Returns
    -------
    SiteEffects
        Fitted: ``posterior_``, ``priors_``, ``exact_``, ``warnings_`` set.

    Raises
    ------
    SitefxInputError
        If the folder is not a complete, unedited sitefx fit, or its fit holds no model
        spec (saved by a sitefx before specs were stored).

    Examples
    --------
    >>> import tempfile, sitefx
    >>> study = sitefx.load("studies/eight_schools")
    >>> fit = sitefx.SiteEffects(seed=2).fit(study)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = fit.save(folder)
    ...     reopened = open_fit(folder)
    >>> reopened.summary().equals(fit.summary()), reopened.get_params()["seed"]
    (True, 2)
    """
    tree = read_fit(folder)
    fit = SiteEffects.from_spec(ModelSpec.from_tree(tree))
    fit._data = None  # loaded again from the fit's files when first used
    specs = {name: spec for name, spec in tree.attrs.items() if name.startswith("prior_")}
    fit.priors_ = Priors.from_strings({name.removeprefix("prior_"): s for name, s in specs.items()})
    fit.exact_ = stored_exact(tree)
    fit.posterior_ = tree
    fit.warnings_ = json.loads(tree.attrs.get("diagnostics", "[]"))
    fit._results = Results(tree)
    return fit


def saved_study(tree: xr.DataTree, which: str = "data", **roles: object) -> Study:
    """Load a saved fit's data again, from the files it read, checked unchanged.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit (its ``sources`` attribute records where its data came from).
    which : {"data", "historical"}
        The fit's data, or the historical data it borrowed from.
    **roles : object
        Column roles that replace the fit's (None keeps the fit's); for ``"data"`` only.

    Returns
    -------
    Study

    Raises
    ------
    SitefxInputError
        If the fit was made from data in memory, or a file read then is missing, new or
        different now (named).

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> saved_study(fit.posterior_).data.site[:3]
    ('A', 'B', 'C')
    """
    historical = which == "historical"
    what, flag = ("historical data", "--historical") if historical else ("data", "--data")
    record = json.loads(tree.attrs.get(SOURCES, "{}")).get(which)
    if record is None:
        raise SitefxInputError(
            f"this fit's {what} were not read from files (a DataFrame, or a fit saved before "
            f"sitefx recorded its sources): give them ({flag} SOURCE)"
        )
    source = Source.from_dict(record)
    if changed := source.changed():
        raise SitefxInputError(
            f"the {what} of this fit changed since it was fitted: {', '.join(changed)}; give "
            f"them again ({flag} SOURCE) to fit what is there now"
        )
    saved = ModelSpec.from_tree(tree).roles or Roles()
    if historical:
        return load_historical(source.path, saved)
    if tree.attrs["data_kind"] == "statistics":  # records read out of core
        return load_statistics(source.path, saved.updated(**roles))
    return load(source.path, **dataclasses.asdict(saved.updated(**roles)))


def model_priors(spec: ModelSpec, data: StudyData) -> tuple[bool, Priors]:
    """Return whether site effects are Student-t, and the model's priors for ``data``.

    Defaults resolved, before any historical borrowing; the family refuses options it does
    not support.

    Parameters
    ----------
    spec : ModelSpec
        The fit's settings.
    data : StudyData
        Canonical study data.

    Returns
    -------
    robust : bool
        Student-t site effects.
    priors : Priors

    Examples
    --------
    >>> import sitefx
    >>> data = sitefx.load("studies/eight_schools").data
    >>> print(model_priors(ModelSpec(site_dist="student-t"), data)[1].nu)
    gamma(2, 0.1)
    """
    robust = spec.site_dist == "student-t"
    horseshoe = spec.covariate_prior == "horseshoe"
    family = family_of(data)
    family.check(data, robust=robust, horseshoe=horseshoe)
    if "nu" in spec.priors and not (robust and spec.site_df is None):
        raise SitefxInputError(
            "nu (--prior-nu) is the prior of learned Student-t degrees of freedom: it needs "
            "--site-dist student-t without --site-df"
        )
    overrides = dict(spec.priors)
    if horseshoe:
        prior = horseshoe_prior(
            data, p0=spec.horseshoe_p0, slab_scale=spec.slab_scale, slab_df=spec.slab_df
        )
        overrides = {family.shrinkable: prior} | overrides
    return robust, resolve_priors(
        data,
        overrides,
        robust=robust and spec.site_df is None,
        varying_level_effect=spec.level_effect == "varying",
    )


def _borrowing(spec: ModelSpec, historical: Study | SiteSummaries | None) -> Borrowing | None:
    """Return the historical borrowing ``spec`` asks for, or None without historical data."""
    if historical is None:
        if spec.borrow is not None or spec.borrow_weight is not None:
            raise SitefxInputError(
                "borrow and borrow_weight (--borrow, --borrow-weight) need historical "
                "data (--historical)"
            )
        return None
    return Borrowing(
        historical.data if isinstance(historical, Study) else historical,
        spec.borrow or "map",
        spec.borrow_weight,
    )


def data_sources(study: Study | None, historical: Study | SiteSummaries | None) -> dict:
    """Return where a fit's data and historical data were read (:func:`saved_study`).

    Parameters
    ----------
    study : Study or None
        The data.
    historical : Study, SiteSummaries or None
        The historical data.

    Returns
    -------
    dict
        ``data`` and ``historical``: each :meth:`Source.to_dict`, for those read from files.

    Examples
    --------
    >>> import sitefx
    >>> sources = data_sources(sitefx.load("studies/eight_schools"), None)
    >>> list(sources), sources["data"]["path"].endswith("eight_schools")
    (['data'], True)
    """
    studies = {"data": study, "historical": historical}
    return {
        which: study.source.to_dict()
        for which, study in studies.items()
        if isinstance(study, Study) and study.source is not None
    }


def _outcome_sd(
    given: float | None, study: Study | None, data: StudyData, family: Family
) -> float | None:
    """Return the outcome SD for effect sizes.

    Given (checked with the settings), from ``study.toml``, or from the records; refused
    where effects are log odds ratios (:attr:`Family.effect_sizes`).
    """
    stated = study.metadata.get("outcome_sd") if study else None
    if not getattr(family, "effect_sizes", True) and (given, stated) != (None, None):
        where = "outcome_sd (--outcome-sd)" if given is not None else "outcome_sd in study.toml"
        raise SitefxInputError(
            f"{where} does not apply to binary outcomes ({family.description}): effects are "
            "log odds ratios, not in units of an outcome SD; leave it out"
        )
    if given is not None:
        return float(given)
    if stated is None:
        return getattr(data, "outcome_sd", None)
    return check_finite(stated, "outcome_sd in study.toml", positive=True)


def _choose_method(method: str, obstacle: str | None) -> str:
    """``exact`` when nothing stands in its way (``auto``), else ``nuts``."""
    if method == "exact" and obstacle is not None:
        raise SitefxInputError(
            "the exact method needs site summaries with normal site effects, no nesting "
            "levels, and normal or flat priors on mu and gamma "
            f"(here: {obstacle}); use method 'nuts' (--method nuts)"
        )
    if method == "auto":
        return "nuts" if obstacle else "exact"
    return method


def _quadrature(
    data: SiteSummaries, priors: Priors, borrowing: Borrowing | None = None
) -> ExactPosterior:
    """Return the exact (quadrature) posterior of the normal-normal model for ``data``.

    The robust MAP prior is in ``priors``; a power prior with a fixed weight adds historical
    rows.
    """
    return normal_normal_exact(
        data.estimate,
        data.se,
        priors=priors,
        moderators=data.moderators,
        power=None if borrowing is None else borrowing.power_rows(priors),
    )


def _exact_draws(exact: ExactPosterior, settings: SamplerSettings) -> tuple[dict, dict, dict]:
    """Return independent draws from the exact posterior, shaped like a sampler's output."""
    rng = streams.rng(settings.seed, "exact")
    draws = exact.draws(chains=settings.chains, draws=settings.draws, rng=rng)
    no_divergences = {"diverging": np.zeros(draws["mu"].shape, dtype=bool)}
    sampler = {
        "method": "exact",
        "grid_nodes": len(exact.log_tau),
        "error_estimate": exact.error_estimate,
    }
    return draws, no_divergences, sampler


def _sample_nuts(
    model: Model,
    settings: SamplerSettings,
    *,
    transform: Callable[[Callable], Callable] | None = None,
) -> tuple[dict, dict, dict]:
    """Run NUTS on ``model`` (changed by ``transform``, e.g. a power prior).

    Returns draws, sample stats and a sampler description.
    """
    function = transform(model.function) if transform else model.function
    draws, stats = run_nuts(function, settings, init=model.init, **model.arguments)
    if model.complete is not None:
        model.complete(draws, settings.seed)
    return draws, stats, {"method": "nuts", "model": model.name}
