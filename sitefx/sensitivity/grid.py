"""Prior grid: refit the model under other reasonable priors and see whether conclusions flip.

The same model is refitted under other reasonable priors for ``mu`` and ``tau``.

Where the exact method applies (site summaries, normal or flat priors on ``mu``), each pair
of priors costs one quadrature (milliseconds) and every number is exact, so conclusions near
the 95% line do not flip by Monte-Carlo noise; otherwise each pair is a NUTS fit.
"""

import itertools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sitefx.data.adapters import Study
from sitefx.data.schema import StudyData
from sitefx.errors import SamplingWarning
from sitefx.estimator import SiteEffects
from sitefx.families import data_scale, resolve_priors
from sitefx.infer.exact import ExactPosterior
from sitefx.models.priors import Prior, round_scale
from sitefx.parallel import SERIAL, Workers, map_tasks
from sitefx.report.tables import Results
from sitefx.statistics import classify

QUANTILES = [0.025, 0.5, 0.975]
GRID_PARAMETERS = ("mu", "tau", "theta_new")
GRID_STATISTICS = ("mean", "q2.5", "q50", "q97.5")


@dataclass(frozen=True)
class PriorGrid:
    """Results of a prior grid.

    Attributes
    ----------
    table : DataFrame
        One row per pair of priors (the model's own priors first): ``mu``, ``tau`` and
        ``theta_new`` summaries and ``P(mu > threshold)``, each with its Monte-Carlo error
        (``mcse_*``; 0 for exact pairs), the ``conclusion`` about ``mu`` (``above``,
        ``below``, ``uncertain``, or ``borderline`` within two Monte-Carlo errors of 95% or 5%: see
        :func:`sitefx.statistics.classify`) and ``flipped`` when it differs from the first
        row's (a borderline conclusion flips nothing); ``sites_flipped`` counts sites whose
        conclusion differs.
    sites : DataFrame
        One row per pair of priors and site: ``theta``'s mean and ``P(theta > threshold)``
        with its Monte-Carlo error, its ``conclusion`` and ``flipped``.

    Examples
    --------
    >>> import sitefx
    >>> grid = prior_grid(sitefx.SiteEffects(seed=1), sitefx.load("studies/eight_schools"),
    ...                   alt_tau=["half-cauchy(5)"], alt_mu=[])
    >>> grid.table[["prior_tau", "conclusion", "flipped", "sites_flipped"]]
             prior_tau conclusion  flipped  sites_flipped
    0  half-normal(11)      above    False              0
    1   half-cauchy(5)      above    False              1
    >>> grid.flips, grid.sites.loc[grid.sites["flipped"], "site"].tolist()
    (True, ['A'])
    """

    table: pd.DataFrame
    sites: pd.DataFrame

    @property
    def flips(self) -> bool:
        """Whether any conclusion about ``mu`` or a site changes across the priors."""
        return bool(self.table["flipped"].any() or self.sites["flipped"].any())


def default_alternatives(data: StudyData) -> tuple[list[str], list[str]]:
    """Return a standard set of alternative priors on the data's scale ``S``.

    Parameters
    ----------
    data : SiteSummaries, ArmSummaries or IndividualRecords
        The validated data; they set the scale ``S`` (see
        :func:`sitefx.models.priors.data_scale`) and the default priors.

    Returns
    -------
    tau_priors : list of str
        Half-normal with half and twice the default scale, half-Cauchy(S) (heavy tail),
        exponential(1 / S) and uniform(0, 10 S) (Gelman 2006's flat choice).
    mu_priors : list of str
        A normal 4 times wider and one 2.5 times narrower than the default.

    Examples
    --------
    >>> import sitefx
    >>> taus, mus = default_alternatives(sitefx.load("studies/eight_schools").data)
    >>> taus[0], mus[0]
    ('half-normal(5.5)', 'normal(0, 110)')
    """
    scale = data_scale(data)
    defaults = resolve_priors(data)
    tau = defaults.tau.params[-1]
    mean, sd = defaults.mu.params
    taus = [
        Prior("half-normal", (round_scale(tau / 2),)),
        Prior("half-normal", (round_scale(2 * tau),)),
        Prior("half-cauchy", (round_scale(scale),)),
        Prior("exponential", (round_scale(1 / scale),)),
        Prior("uniform", (0.0, round_scale(10 * scale))),
    ]
    mus = [
        Prior("normal", (mean, round_scale(4 * sd))),
        Prior("normal", (mean, round_scale(sd / 2.5))),
    ]
    return [str(prior) for prior in taus], [str(prior) for prior in mus]


def prior_grid(
    model: SiteEffects,
    data: Study | StudyData,
    *,
    alt_tau: Sequence[str] | None = None,
    alt_mu: Sequence[str] | None = None,
    threshold: float = 0.0,
    workers: Workers = SERIAL,
    progress: Callable[[str], None] | None = None,
) -> PriorGrid:
    """Refit ``model`` under every pair of the ``mu`` and ``tau`` priors.

    The model's own priors come first, the baseline each conclusion is compared with. Pairs
    the exact method cannot compute are NUTS fits, run on ``workers``; their sampling warnings
    are counted in their rows, not raised.

    Parameters
    ----------
    model : SiteEffects
        The settings to refit with (fitted or not); its own ``mu`` and ``tau`` priors (or
        the defaults) are the first pair.
    data : Study or StudyData
        The data to refit.
    alt_tau, alt_mu : sequence of str, optional
        Alternative priors, as prior specification strings (e.g. ``"half-cauchy(5)"``);
        default :func:`default_alternatives`. Repeats (also of the model's own) are dropped.
    threshold : float, default 0.0
        The effect that counts as a benefit, for ``P(mu > threshold)`` and conclusions.
    workers : Workers, default ``Workers()``
        Where NUTS refits run (see :mod:`sitefx.parallel`).
    progress : callable, optional
        Called with a line per refit.

    Returns
    -------
    PriorGrid
        One row per pair of priors (``mu`` prior outer, ``tau`` prior inner), and one per
        pair and site.

    Raises
    ------
    PriorSpecError
        If a prior specification is malformed.
    TaskFailedError
        If NUTS refits fail.

    Examples
    --------
    >>> import sitefx
    >>> study = sitefx.load("studies/eight_schools")
    >>> grid = prior_grid(sitefx.SiteEffects(seed=1), study, alt_tau=["half-cauchy(5)"])
    >>> grid.table[["prior_mu", "prior_tau"]].values.tolist()[:2]
    [['normal(0, 28)', 'half-normal(11)'], ['normal(0, 28)', 'half-cauchy(5)']]
    """
    frame = data.data if isinstance(data, Study) else data
    default_taus, default_mus = default_alternatives(frame)
    base = resolve_priors(frame, {k: v for k, v in model.priors.items() if k in ("mu", "tau")})
    taus = _unique([str(base.tau), *(default_taus if alt_tau is None else alt_tau)])
    mus = _unique([str(base.mu), *(default_mus if alt_mu is None else alt_mu)])
    pairs = list(itertools.product(mus, taus))
    quiet = model.with_settings(progress=False)
    results = {}
    for pair in pairs:  # exact pairs here (milliseconds), the others as NUTS fits below
        exact = _pair_model(pair, quiet).exact_posterior(frame)
        if exact is not None:
            results[pair] = _exact_row(exact, threshold)
    sampled = [pair for pair in pairs if pair not in results]
    fitted = map_tasks(
        _sampled_pair,
        sampled,
        labels=[f"prior mu ~ {mu}, tau ~ {tau}" for mu, tau in sampled],
        workers=workers,
        progress=progress,
        groups=[tuple(Prior.parse(spec).family for spec in pair) for pair in sampled],
        model=quiet,
        data=frame,
        threshold=threshold,
    )
    results |= dict(zip(sampled, fitted, strict=True))
    rows, site_rows = [], []
    for mu, tau in pairs:
        row, site_values = results[mu, tau]
        rows.append({"prior_mu": mu, "prior_tau": tau, **row})
        for site, mean, prob, mcse in zip(frame.site, *site_values, strict=True):
            site_rows.append(
                {
                    "prior_mu": mu,
                    "prior_tau": tau,
                    "site": site,
                    "theta_mean": mean,
                    "prob_above": prob,
                    "mcse_prob_above": mcse,
                    "conclusion": classify(prob, mcse),
                }
            )
    table, sites = pd.DataFrame(rows), pd.DataFrame(site_rows)
    table["flipped"] = _flipped(table["conclusion"], table["conclusion"].iloc[0])
    baseline = sites.groupby("site", sort=False)["conclusion"].transform("first")
    sites["flipped"] = _flipped(sites["conclusion"], baseline)
    flipped_sites = sites.groupby(["prior_mu", "prior_tau"], sort=False)["flipped"].sum()
    table["sites_flipped"] = flipped_sites.to_numpy()
    return PriorGrid(table=table, sites=sites)


def _pair_model(pair: tuple[str, str], model: SiteEffects) -> SiteEffects:
    mu, tau = pair
    return model.with_settings(priors={**model.spec.priors, "mu": mu, "tau": tau})


def _sampled_pair(
    pair: tuple[str, str], *, model: SiteEffects, data: StudyData, threshold: float
) -> tuple[dict, tuple]:
    """Fit one pair of priors by NUTS; return its grid row and the sites' values.

    The sites' values are their (mean, P(theta > threshold)).
    """
    with warnings.catch_warnings():  # counted in the row's warnings column
        warnings.simplefilter("ignore", SamplingWarning)
        return _sampled_row(_pair_model(pair, model).fit(data), threshold)


def _exact_row(exact: ExactPosterior, threshold: float) -> tuple[dict, tuple]:
    """Return a grid row and the sites' values from the exact posterior.

    The sites' values are (mean, P(theta > threshold), its MCSE): every MCSE is 0.
    """
    row = {}
    for name in GRID_PARAMETERS:
        values = [float(exact.mean(name)), *exact.quantile(name, np.array(QUANTILES))]
        for statistic, value in zip(GRID_STATISTICS, values, strict=True):
            row |= {f"{name}_{statistic}": float(value), f"mcse_{name}_{statistic}": 0.0}
    row["prob_mu_above"] = float(1 - exact.cdf("mu", threshold))
    row["mcse_prob_mu_above"] = 0.0
    row["conclusion"] = classify(row["prob_mu_above"])
    row["warnings"] = 0
    exact_prob = 1 - exact.cdf("theta", threshold)
    return row, (exact.mean("theta"), exact_prob, np.zeros_like(exact_prob))


def _sampled_row(fit: SiteEffects, threshold: float) -> tuple[dict, tuple]:
    """Return a grid row and the sites' values, read from the fit's own tables.

    The sites' values are (mean, P(theta > threshold), its MCSE), each with its MCSE.
    """
    summary = fit.summary().set_index("parameter")
    row = {}
    for name in GRID_PARAMETERS:
        for statistic in GRID_STATISTICS:
            row[f"{name}_{statistic}"] = summary.at[name, statistic]
            row[f"mcse_{name}_{statistic}"] = summary.at[name, f"mcse_{statistic}"]
    results = Results(fit.posterior_, threshold=threshold)
    mu = results.estimands.set_index("estimand").loc["mu"]
    row["prob_mu_above"], row["mcse_prob_mu_above"] = mu["prob_above"], mu["mcse_prob_above"]
    row["conclusion"] = classify(row["prob_mu_above"], row["mcse_prob_mu_above"])
    row["warnings"] = len(fit.warnings_)
    sites = results.sites
    return row, tuple(sites[c].to_numpy() for c in ("mean", "prob_above", "mcse_prob_above"))


def _flipped(conclusions: pd.Series, baseline: pd.Series | str) -> pd.Series:
    """Return whether each conclusion differs from the baseline's.

    A borderline conclusion (too close to call from the draws) flips nothing.
    """
    borderline = (conclusions == "borderline") | (
        pd.Series(baseline, index=conclusions.index) == "borderline"
    )
    return (conclusions != baseline) & ~borderline


def _unique(specs: Sequence[str]) -> list[str]:
    """Return specs in order without repeats (as printed: 'halfnormal(5)' is 'half-normal(5)')."""
    return list(dict.fromkeys(str(Prior.parse(spec)) for spec in specs))
