"""Four models of the same studies, and their average, to see whether bias inflates ``mu``.

For a meta-analysis of study summaries (estimate ``y_i``, standard error ``s_i``), with the
study effects integrated out (``y_i ~ N(mu + ..., sqrt(tau^2 + s_i^2))``):

``none``
    The random-effects model: no bias.
``step``
    The Vevea-Hedges step-function selection model (:mod:`sitefx.models.selection`): studies
    are published with a probability that steps with their one-sided p-value, at the cut
    points (default 0.025, 0.05, 0.5), relative to the most significant interval;
    ``log omega_j ~ N(0, 1)``, no order imposed. An interval of p-values that holds no study
    is merged with its neighbour (its weight would be its prior's alone), with a note.
``pet``, ``peese``
    Precision-effect test and precision-effect estimate with standard error (Stanley and
    Doucouliagos 2014): the meta-regression on ``s_i`` (PET) or ``s_i^2`` (PEESE), not
    centred, so ``mu`` is the intercept, the effect of a study with a standard error of 0.
    The slope's prior is sitefx's moderator default, ``normal(0, 2.5 S / sd(moderator))``.
    Their conditional rule picks PEESE when PET's intercept is positive with posterior
    probability above 0.95 (a one-sided test at 5%: there is an effect), else PET.

``none``, ``pet`` and ``peese`` are computed exactly (:mod:`sitefx.infer.exact`), ``step``
by NUTS; all with the fit's priors of ``mu`` and ``tau``.

Averaging: the weights stack the models' leave-one-study-out predictive densities (PSIS-LOO
of each study's likelihood, study effect integrated out; Yao et al. 2018, ArviZ's
``compare(method="stacking")``); pseudo-BMA weights are kept as a check. Stacking weights
say which mixture of the models predicts a new study best: they are not posterior model
probabilities (those need each model's marginal likelihood, which for the step model would
take bridge sampling), and models that predict alike share weight arbitrarily. The averaged
``mu`` mixes the models' draws of ``mu`` in proportion to the weights.
"""

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from sitefx import streams
from sitefx.backend import double_precision
from sitefx.data.schema import SiteSummaries
from sitefx.errors import SitefxInputError
from sitefx.families import default_priors
from sitefx.families.summaries import Summaries
from sitefx.infer.exact import normal_normal_exact, supports_exact
from sitefx.infer.nuts import SamplerSettings, run_nuts
from sitefx.models.priors import Priors, slope_prior

MODELS = ("none", "step", "pet", "peese")
TABLE_COLUMNS = ["model", "weight", "mu_mean", "mu_sd", "mu_q2.5", "mu_q97.5"]
DEFAULT_CUTS = (0.025, 0.05, 0.5)  # one-sided p: significant at 5% two-sided, at 10%, positive
SIGNIFICANT = 0.95  # PET-PEESE: PEESE when P(PET intercept > 0) exceeds this


@dataclass(frozen=True)
class BiasFit:
    """The four models of :func:`fit_bias` and their average.

    Attributes
    ----------
    models : dict of str to xarray.DataTree
        By model name (:data:`MODELS`): ``posterior`` (``mu``, ``tau``; ``omega`` for step,
        ``gamma`` for PET and PEESE) and ``log_likelihood`` (``estimate``, each study's log
        density per draw).
    weights : pandas.DataFrame
        Indexed by model: ``stacking`` and ``pseudo_bma`` weights.
    averaged : numpy.ndarray
        Draws of the model-averaged ``mu``.
    cuts : tuple of float
        The step model's cut points, after merging empty intervals.
    notes : tuple of str
        What a reader should know: merged intervals, sampler problems.

    Examples
    --------
    >>> import sitefx
    >>> fit = fit_bias(sitefx.load("studies/teacher_expectancy").data,
    ...                settings=SamplerSettings(chains=2, draws=200))  # doctest: +SKIP
    >>> fit.pet_peese, list(fit.weights.columns)  # doctest: +SKIP
    ('pet', ['stacking', 'pseudo_bma'])
    """

    models: dict[str, xr.DataTree]
    weights: pd.DataFrame
    averaged: np.ndarray
    cuts: tuple[float, ...]
    notes: tuple[str, ...]

    @property
    def pet_intercept_positive(self) -> float:
        """The posterior probability that PET's intercept is above 0."""
        return float((self.mu_draws("pet") > 0).mean())

    @property
    def pet_peese(self) -> str:
        """The model the conditional PET-PEESE rule picks: ``"peese"`` or ``"pet"``."""
        return "peese" if self.pet_intercept_positive > SIGNIFICANT else "pet"

    def mu_draws(self, model: str) -> np.ndarray:
        """Return the draws of ``mu`` of one model, flattened.

        Parameters
        ----------
        model : str
            One of :data:`MODELS`, or ``"averaged"``.

        Returns
        -------
        numpy.ndarray
        """
        if model == "averaged":
            return self.averaged
        return self.models[model]["posterior"]["mu"].values.ravel()

    def to_datatree(self) -> xr.DataTree:
        """Return every model's groups under its name, with the weights and notes as attributes.

        Returns
        -------
        xarray.DataTree
            The contents of ``bias.nc`` (see docs/files.md).
        """
        tree = xr.DataTree.from_dict(
            {
                f"{name}/{group}": model[group].to_dataset()
                for name, model in self.models.items()
                for group in ("posterior", "log_likelihood")
            }
        )
        tree["averaged"] = xr.DataTree(xr.Dataset({"mu": ("draw", self.averaged)}))
        tree.attrs = {
            "cuts": list(self.cuts),
            "stacking_weights": self.weights["stacking"].tolist(),
            "pseudo_bma_weights": self.weights["pseudo_bma"].tolist(),
            "models": list(self.weights.index),
            "pet_peese": self.pet_peese,
            "notes": list(self.notes),
        }
        return tree


def check_cuts(cuts: object) -> tuple[float, ...]:
    """Return the cut points as floats, checked increasing and inside (0, 1).

    Parameters
    ----------
    cuts : sequence of float or str
        One-sided p-values, e.g. ``(0.025, 0.05, 0.5)`` or ``"0.025,0.05,0.5"``.

    Returns
    -------
    tuple of float

    Raises
    ------
    SitefxInputError
        Naming ``--cuts``, if they are not numbers increasing strictly inside (0, 1).

    Examples
    --------
    >>> check_cuts("0.025, 0.05,0.5")
    (0.025, 0.05, 0.5)
    >>> check_cuts("0.5,0.05")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: --cuts must be increasing ...; got '0.5,0.05'
    """
    text = cuts if isinstance(cuts, str) else ",".join(str(cut) for cut in cuts)
    try:
        values = tuple(float(cut) for cut in text.split(","))
    except ValueError:
        values = ()
    array = np.array(values)
    if not values or not (np.all(array > 0) and np.all(array < 1) and np.all(np.diff(array) > 0)):
        raise SitefxInputError(
            "--cuts must be increasing one-sided p-values strictly between 0 and 1, e.g. "
            f"0.025,0.05,0.5; got '{text}'"
        )
    return values


def merge_empty_intervals(
    estimate: np.ndarray, se: np.ndarray, cuts: tuple[float, ...]
) -> tuple[tuple[float, ...], list[str]]:
    """Drop cut points until every interval of p-values holds a study.

    An empty interval is merged with the next less significant one (the last with the one
    before it): without a study its weight would only repeat its prior.

    Parameters
    ----------
    estimate, se : ndarray, shape (n_studies,)
        The studies' estimates and standard errors.
    cuts : tuple of float
        Increasing one-sided p-value cut points.

    Returns
    -------
    cuts : tuple of float
        The cut points kept.
    notes : list of str
        One sentence per merge.

    Raises
    ------
    SitefxInputError
        If every study falls in one interval: no selection can be seen.

    Examples
    --------
    >>> cuts, notes = merge_empty_intervals(np.array([3.0, 0.5, -1.0]), np.ones(3),
    ...                                     (0.025, 0.05, 0.5))
    >>> cuts, notes[0][:58]
    ((0.025, 0.5), 'No study has a one-sided p-value in (0.025, 0.05]: that in')
    """
    p = stats.norm.sf(np.asarray(estimate) / np.asarray(se))
    cuts, notes = list(cuts), []
    while cuts:
        ends = [0.0, *cuts, 1.0]
        counts = [int(np.sum((p > low) & (p <= high))) for low, high in itertools.pairwise(ends)]
        if 0 not in counts:
            return tuple(cuts), notes
        empty = counts.index(0)
        last = empty == len(cuts)
        notes.append(
            f"No study has a one-sided p-value in ({ends[empty]:g}, {ends[empty + 1]:g}]: that "
            f"interval is merged with the {'one before' if last else 'next'}."
        )
        del cuts[empty - 1 if last else empty]
    raise SitefxInputError(
        "every study's one-sided p-value falls in one interval of the cut points: the step "
        "selection model cannot be fitted; give other --cuts"
    )


def fit_bias(
    data: SiteSummaries,
    *,
    priors: Priors | None = None,
    cuts: tuple[float, ...] = DEFAULT_CUTS,
    settings: SamplerSettings | None = None,
) -> BiasFit:
    """Fit the no-bias, step-selection, PET and PEESE models and average them.

    See the module docstring. Moderators and nesting levels of the data are not used: the
    studies are pooled as one level.

    Parameters
    ----------
    data : SiteSummaries
        The studies' estimates and standard errors.
    priors : Priors, optional
        Priors of ``mu`` (normal or flat) and ``tau``; by default the summaries family's.
    cuts : tuple of float, default (0.025, 0.05, 0.5)
        One-sided p-value cut points of the step model.
    settings : SamplerSettings, optional
        Chains, draws and seed: NUTS's for the step model; the other models draw as many
        exact draws on the seed's ``bias`` stream. Default ``SamplerSettings()``.

    Returns
    -------
    BiasFit

    Raises
    ------
    SitefxInputError
        If the cut points are bad, every study falls in one interval, or the prior of ``mu``
        is neither normal nor flat.

    Examples
    --------
    >>> import sitefx
    >>> data = sitefx.load("studies/teacher_expectancy").data
    >>> fit = fit_bias(data, settings=SamplerSettings(chains=2, draws=200))  # doctest: +SKIP
    >>> bias_table(fit)["model"].tolist()  # doctest: +SKIP
    ['none', 'step', 'pet', 'peese', 'averaged']
    """
    settings = settings or SamplerSettings()
    priors = priors or default_priors(data)
    priors = Priors(mu=priors.mu, tau=priors.tau)
    if not supports_exact(priors):
        raise SitefxInputError(
            f"the bias models need a normal or flat prior on mu; the fit has mu ~ {priors.mu}"
        )
    estimate, se = np.asarray(data.estimate, float), np.asarray(data.se, float)
    cuts, notes = merge_empty_intervals(estimate, se, check_cuts(cuts))
    rng = streams.rng(settings.seed, "bias")
    scale = Summaries().data_scale(data)
    models = {"none": _exact_model(estimate, se, priors, None, settings, rng)}
    draws, stats = run_nuts(
        _step_model(), settings, estimate=estimate, se=se, priors=priors, cuts=np.array(cuts)
    )
    models["step"] = _tree(
        {name: draws[name] for name in ("mu", "tau", "omega")},
        _step_log_likelihood(estimate, se, draws, np.array(cuts)),
    )
    divergent = int(stats["diverging"].sum())
    if divergent:
        notes.append(
            f"The step model's sampler had {divergent} divergent transitions: its estimates "
            "may be biased."
        )
    for name, moderator in (("pet", se), ("peese", se**2)):
        model_priors = Priors(
            mu=priors.mu, tau=priors.tau, gamma=slope_prior(scale, moderator[:, None])
        )
        models[name] = _exact_model(estimate, se, model_priors, moderator, settings, rng)
    weights = _weights(models, notes)
    counts = rng.multinomial(len(models["none"]["posterior"]["mu"].values.ravel()), weights)
    averaged = np.concatenate(
        [
            rng.permutation(model["posterior"]["mu"].values.ravel())[:count]
            for model, count in zip(models.values(), counts, strict=True)
        ]
    )
    return BiasFit(
        models=models,
        weights=weights.to_frame("stacking").assign(pseudo_bma=_weights(models, [], "pseudo-BMA")),
        averaged=rng.permutation(averaged),
        cuts=cuts,
        notes=tuple(notes),
    )


def _step_model():
    """Return the step model's numpyro function (numpyro imported only when it runs)."""
    from sitefx.models.selection import step_selection

    return step_selection


@double_precision
def _step_log_likelihood(
    estimate: np.ndarray, se: np.ndarray, draws: dict[str, np.ndarray], cuts: np.ndarray
) -> np.ndarray:
    """Each study's log density under the step model, per draw (chain, draw, study)."""
    from sitefx.models.selection import step_log_likelihood

    return np.asarray(
        step_log_likelihood(estimate, se, draws["mu"], draws["tau"], draws["log_omega"], cuts)
    )


def _exact_model(
    estimate: np.ndarray,
    se: np.ndarray,
    priors: Priors,
    moderator: np.ndarray | None,
    settings: SamplerSettings,
    rng: np.random.Generator,
) -> xr.DataTree:
    """Exact draws of the normal-normal model, uncentred on ``moderator`` if one is given."""
    moderators = None if moderator is None else moderator[:, None]
    posterior = normal_normal_exact(
        estimate, se, priors=priors, moderators=moderators, centre=False
    )
    draws = posterior.draws(chains=settings.chains, draws=settings.draws, rng=rng)
    mean = draws["mu"][..., None]
    kept = {"mu": draws["mu"], "tau": draws["tau"]}
    if moderator is not None:
        kept["gamma"] = draws["gamma"][..., 0]
        mean = mean + kept["gamma"][..., None] * moderator
    sd = np.sqrt(draws["tau"][..., None] ** 2 + se**2)
    log_likelihood = -0.5 * ((estimate - mean) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)
    return _tree(kept, log_likelihood)


def _tree(draws: dict[str, np.ndarray], log_likelihood: np.ndarray) -> xr.DataTree:
    """Return a model's DataTree: ``posterior`` and ``log_likelihood`` (``estimate``)."""
    variables = {
        name: (("chain", "draw", *(("interval",) if value.ndim == 3 else ())), value)
        for name, value in draws.items()
    }
    return xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset(variables),
            "log_likelihood": xr.Dataset(
                {"estimate": (("chain", "draw", "study"), log_likelihood)}
            ),
        }
    )


def _weights(models: dict[str, xr.DataTree], notes: list[str], method: str = "stacking"):
    """Return the weights by ``method``, in the order of ``models``; LOO warnings to notes."""
    from arviz_stats import compare

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        table = compare(models, method=method, round_to="none")
    for warning in caught:  # Pareto k and the like become notes; anything else warns again
        note = f"PSIS-LOO: {warning.message}"
        if not issubclass(warning.category, UserWarning):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
        elif note not in notes:
            notes.append(note)
    return table["weight"].reindex(list(models)).astype(float)


def bias_table(fit: BiasFit) -> pd.DataFrame:
    """Return one row per model and one for their average: weight and ``mu``'s summary.

    Parameters
    ----------
    fit : BiasFit
        From :func:`fit_bias`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TABLE_COLUMNS` (``model``, ``weight``, ``mu_mean``, ``mu_sd``,
        ``mu_q2.5``, ``mu_q97.5``); rows ``none``, ``step``, ``pet``, ``peese`` (stacking
        weights) and ``averaged`` (weight 1).

    Examples
    --------
    >>> import sitefx
    >>> fit = fit_bias(sitefx.load("studies/teacher_expectancy").data,
    ...                settings=SamplerSettings(chains=2, draws=200))  # doctest: +SKIP
    >>> list(bias_table(fit).columns)  # doctest: +SKIP
    ['model', 'weight', 'mu_mean', 'mu_sd', 'mu_q2.5', 'mu_q97.5']
    """
    rows = []
    for model in (*MODELS, "averaged"):
        mu = fit.mu_draws(model)
        low, high = np.quantile(mu, [0.025, 0.975])
        weight = 1.0 if model == "averaged" else float(fit.weights.loc[model, "stacking"])
        rows.append([model, weight, mu.mean(), mu.std(ddof=1), low, high])
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
