"""Simulation-based calibration (Talts et al. 2018) of a model on a study's design.

Does the fit recover what its own prior and model generate, as often as its intervals claim?

Each replicate draws the parameters from the priors, simulates data of the study's own design
(its sites, standard errors, arm sizes, records and covariates), fits the model with the same
fixed priors, and ranks each true value among thinned posterior draws. If the sampler and the
model agree, each rank is uniform on ``0..n_draws`` and each central ``q`` interval covers the
truth in a share ``q`` of the replicates.

The simulators here are written from the models' definitions in numpy, independently of the
numpyro model functions, so a model that does not do what its documentation says fails too.
They cover normal and Student-t site effects on site summaries (with moderators and upper
nesting levels), arm counts, and Gaussian or binary records with covariates and clusters.

Uniformity is tested with a chi-square test on binned ranks. The site effects ``theta`` of one
replicate share ``mu`` and ``tau``, so their ranks are not independent; the test uses one site
per replicate, taken in turn, while coverage pools all sites (with a standard error from the
replicates' shares).
"""

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from sitefx.backend import double_precision
from sitefx.data.schema import StudyData
from sitefx.errors import SamplingWarning, SitefxInputError, check_whole
from sitefx.estimator import SiteEffects, model_priors
from sitefx.families import family_of
from sitefx.models.priors import Prior, Priors
from sitefx.parallel import SERIAL, Workers, map_tasks
from sitefx.report.plots import SHRUNK_COLOR

LEVELS = (0.5, 0.9, 0.95)
RANK_BINS = 10
FAMILY_ALPHA = 0.01  # chance of calling a calibrated model's ranks non-uniform, all tests
MAX_COVERAGE_Z = 3.0  # coverage this many standard errors from nominal is a failure
SAMPLE_DIMS = ("chain", "draw")
MAX_REPLICATES = 100_000


@dataclass(frozen=True)
class Calibration:
    """The outcome of :func:`calibrate`.

    Attributes
    ----------
    ranks : DataFrame
        One row per replicate and quantity: ``replicate``, ``parameter`` (``mu``, ``tau``,
        ``theta``, ...), ``element`` (the site for ``theta``), ``truth``, ``rank`` (true value's
        rank among ``n_draws`` thinned draws), ``below`` (share of all draws below the truth)
        and ``warnings`` (the replicate fit's failed sampler diagnostics).
    n_draws : int
        Thinned draws per rank: ranks run from 0 to ``n_draws``.

    Examples
    --------
    >>> import pandas as pd
    >>> ranks = pd.DataFrame({"replicate": [0, 1, 2, 3], "parameter": "mu", "element": 0,
    ...                       "truth": 0.0, "rank": [3, 40, 71, 95],
    ...                       "below": [0.03, 0.4, 0.72, 0.96], "warnings": 0})
    >>> row = Calibration(ranks, n_draws=99).summary().iloc[0]
    >>> int(row["replicates"]), float(row["coverage_90%"]), row["verdict"]
    (4, 0.5, 'calibrated')
    """

    ranks: pd.DataFrame
    n_draws: int

    def summary(self) -> pd.DataFrame:
        """Summarize the ranks and coverage, one row per parameter.

        Returns
        -------
        pandas.DataFrame
            One row per parameter: ``parameter``, ``replicates``, ``uniformity_p`` (the
            chi-square p-value of uniform ranks, ``RANK_BINS`` bins, one element per
            replicate), ``coverage_50%``, ``coverage_90%`` and ``coverage_95%`` (the share of
            central 50/90/95% intervals that covered the truth) each with a standard error
            ``coverage_<level>_se`` (binomial at the nominal level for one quantity; for the
            sites, from the spread of the replicates' shares), ``fits_with_warnings`` (the
            number of replicate fits with sampler warnings), and a ``verdict`` (see
            :meth:`explain`).
        """
        rows = []
        for parameter, table in self.ranks.groupby("parameter", sort=False):
            ranks = _one_per_replicate(table)["rank"].to_numpy()
            counts = np.bincount(ranks * RANK_BINS // (self.n_draws + 1), minlength=RANK_BINS)
            row = {
                "parameter": parameter,
                "replicates": table["replicate"].nunique(),
                "uniformity_p": float(stats.chisquare(counts).pvalue),
            }
            for level in LEVELS:
                inside = (np.abs(table["below"] - 0.5) < level / 2).groupby(table["replicate"])
                shares = inside.mean()
                row[f"coverage_{level:.0%}"] = float(shares.mean())
                # one element: binomial under calibration; sites: their shares' spread
                spread = shares.std(ddof=1) if table["element"].nunique() > 1 else None
                row[f"coverage_{level:.0%}_se"] = float(
                    (spread if spread is not None else np.sqrt(level * (1 - level)))
                    / np.sqrt(len(shares))
                )
            row["fits_with_warnings"] = int(
                (table.groupby("replicate")["warnings"].max() > 0).sum()
            )
            rows.append(row)
        summary = pd.DataFrame(rows)
        summary["verdict"] = [_verdict(row, len(summary)) for row in summary.to_dict("records")]
        return summary

    def explain(self) -> list[str]:
        """Explain the result in one plain line per parameter.

        Each line says what the parameter's test and coverage mean, and gives the verdict:
        ranks fail below a p-value of ``FAMILY_ALPHA`` shared by the parameters' tests
        (Bonferroni); coverage fails more than ``MAX_COVERAGE_Z`` standard errors from the
        nominal level.

        Returns
        -------
        list of str
            One line per parameter, in the order of :meth:`summary`.

        Examples
        --------
        >>> import sitefx
        >>> study = sitefx.load("studies/eight_schools")
        >>> result = calibrate(sitefx.SiteEffects(), study.data, replicates=5, seed=1)
        >>> print(result.explain()[-1][:62])
        theta: one site's rank per replicate (the sites in turn: one r
        """
        summary = self.summary()
        lines = []
        for row in summary.to_dict("records"):
            how = (
                "rank"
                if row["parameter"] != "theta"
                else (
                    "one site's rank per replicate (the sites in turn: one replicate's sites share "
                    "mu and tau, so their ranks are not independent)"
                )
            )
            covered = "/".join(f"{row[f'coverage_{level:.0%}']:.0%}" for level in LEVELS)
            lines.append(
                f"{row['parameter']}: {how}, uniformity p = {row['uniformity_p']:.3g}; 50/90/95% "
                f"intervals covered the truth in {covered} of {row['replicates']} replicates: "
                f"{row['verdict']}."
            )
        return lines

    def plot(self) -> Figure:
        """Plot rank histograms, one panel per parameter.

        Each panel has the 99% band of a uniform histogram's bin counts and its expected
        count; ranks are one element per replicate, as for the uniformity test.

        Returns
        -------
        matplotlib.figure.Figure
            The figure (not attached to pyplot; save it with ``savefig``).
        """
        parameters = list(dict.fromkeys(self.ranks["parameter"]))
        figure = Figure(figsize=(3.2 * len(parameters), 2.8), layout="constrained")
        axes = np.atleast_1d(figure.subplots(1, len(parameters)))
        for ax, parameter in zip(axes, parameters, strict=True):
            ranks = _one_per_replicate(self.ranks[self.ranks["parameter"] == parameter])["rank"]
            edges = np.linspace(0, self.n_draws + 1, RANK_BINS + 1)
            low, high = stats.binom.ppf([0.005, 0.995], len(ranks), 1 / RANK_BINS)
            ax.axhspan(low, high, color="0.88", label="99% if uniform")
            ax.axhline(len(ranks) / RANK_BINS, color="0.45", linewidth=0.8)
            ax.hist(ranks, bins=edges, color=SHRUNK_COLOR, edgecolor="white")
            ax.set(title=parameter, xlabel="rank of the true value", yticks=[])
        axes[0].legend(loc="lower left", fontsize="small")
        return figure


@double_precision
def calibrate(
    model: SiteEffects,
    data: StudyData,
    *,
    replicates: int = 100,
    n_draws: int = 99,
    seed: int = 0,
    workers: Workers = SERIAL,
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """Run simulation-based calibration of ``model`` on the design of ``data``.

    The model's settings and priors are resolved once for ``data`` and then fixed. Each
    replicate draws the parameters from the priors, simulates data of ``data``'s design
    (:func:`simulate`), fits the model and ranks each true value among thinned posterior
    draws (see the module docstring). Replicates run on ``workers`` (see
    :mod:`sitefx.parallel`); each has its own seed, so the result is the same wherever they
    run.

    Parameters
    ----------
    model : SiteEffects
        The model to calibrate (fitted or not): its settings and priors; any progress bar
        is turned off.
    data : StudyData
        The design to simulate: sites, standard errors, arm sizes, records and covariates;
        its estimates, counts or outcomes are replaced in each replicate.
    replicates : int, default 100
        Simulated data sets, each fitted once; a whole number from 2 to 100 000.
    n_draws : int, default 99
        Thinned posterior draws each true value is ranked among (ranks 0 to ``n_draws``).
    seed : int, default 0
        Seeds the replicates' simulations and fits.
    workers : Workers, default ``SERIAL``
        Where the replicates run; by default here, one after the other.
    progress : callable, optional
        Called with a line such as ``"replicate 3 (3/100)"`` as replicates start (serially)
        or finish (on a cluster).

    Returns
    -------
    Calibration
        The ranks of every replicate; see :meth:`Calibration.summary` and
        :meth:`Calibration.explain`.

    Raises
    ------
    SitefxInputError
        For a number of replicates out of range, or a model :func:`simulate` does not cover
        (historical borrowing, the horseshoe prior, and what the model family cannot
        simulate).

    Examples
    --------
    >>> import sitefx
    >>> study = sitefx.load("studies/eight_schools")
    >>> result = calibrate(sitefx.SiteEffects(), study.data, replicates=5, seed=1)
    >>> result.summary()["parameter"].tolist()
    ['mu', 'tau', 'theta']
    """
    check_replicates(replicates)
    robust, priors = model_priors(model.spec, data)
    _check_supported(model, data, priors)
    resolved = model.with_settings(priors=priors.as_strings(), progress=False)
    seeds = np.random.SeedSequence(seed).spawn(replicates)
    rows = map_tasks(
        _replicate,
        list(enumerate(seeds)),
        labels=[f"replicate {number + 1}" for number in range(replicates)],
        workers=workers,
        progress=progress,
        model=resolved,
        data=data,
        priors=priors,
        robust=robust,
        n_draws=n_draws,
    )
    return Calibration(
        ranks=pd.DataFrame([row for rows_ in rows for row in rows_]), n_draws=n_draws
    )


def check_replicates(replicates: int) -> int:
    """Return the number of replicates; a clear error unless a whole number from 2 to 100 000.

    Parameters
    ----------
    replicates : int
        The number the user asked for (``--replicates``).

    Returns
    -------
    int
        ``replicates`` as a plain int.

    Raises
    ------
    SitefxInputError
        Unless ``replicates`` is a whole number from 2 to ``MAX_REPLICATES``.

    Examples
    --------
    >>> check_replicates(200)
    200
    """
    return check_whole(replicates, "replicates (--replicates)", low=2, high=MAX_REPLICATES)


def _replicate(
    item: tuple[int, np.random.SeedSequence],
    *,
    model: SiteEffects,
    data: StudyData,
    priors: Priors,
    robust: bool,
    n_draws: int,
) -> list[dict]:
    """Run one replicate: simulate from the priors, fit, rank each true value."""
    replicate, seed = item
    rng = np.random.default_rng(seed)
    simulated, truth = simulate(data, priors, rng, site_df=model.site_df, robust=robust)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        fit = model.with_settings(seed=int(rng.integers(2**31))).fit(simulated)
    posterior = fit.posterior_["posterior"]
    rows = []
    for parameter, values in truth.items():
        draws = posterior[parameter].stack(sample=SAMPLE_DIMS).transpose(..., "sample")
        draws = draws.values.reshape(-1, draws.sizes["sample"])
        for element, (true, own) in enumerate(zip(np.ravel(values), draws, strict=True)):
            rows.append(
                {
                    "replicate": replicate,
                    "parameter": parameter,
                    "element": data.site[element] if parameter == "theta" else element,
                    "truth": float(true),
                    "rank": int(np.sum(_thin(own, n_draws) < true)),
                    "below": float(np.mean(own < true)),
                    "warnings": len(fit.warnings_),
                }
            )
    return rows


@double_precision
def simulate(
    data: StudyData,
    priors: Priors,
    rng: np.random.Generator,
    *,
    site_df: float | None = None,
    robust: bool = False,
) -> tuple[StudyData, dict[str, np.ndarray]]:
    """Draw parameters from ``priors``, and data of ``data``'s design given them.

    The simulators are the model families' own (``simulate`` of :mod:`sitefx.families`),
    written in numpy from the models' definitions, independently of the numpyro models.

    Parameters
    ----------
    data : StudyData
        The design: sites, standard errors, arm sizes, records and covariates.
    priors : Priors
        The priors to draw from, defaults resolved (e.g. the second value of
        :func:`~sitefx.estimator.model_priors`).
    rng : numpy.random.Generator
        The source of every draw (it also seeds the numpyro prior draws).
    site_df : float, optional
        Degrees of freedom of Student-t site effects, when fixed; else drawn from the prior
        of ``nu``.
    robust : bool, default False
        Draw Student-t site effects instead of normal ones.

    Returns
    -------
    simulated : StudyData
        ``data`` with its estimates, counts or outcomes replaced.
    truth : dict of str to ndarray
        The true values by parameter name (``mu``, ``tau``, ``theta`` (one per site), and
        ``gamma``, ``nu``, ``tau_<level>`` ... where the model has them).

    Examples
    --------
    >>> import numpy as np, sitefx
    >>> data = sitefx.load("studies/eight_schools").data
    >>> priors = model_priors(sitefx.SiteEffects().spec, data)[1]
    >>> simulated, truth = simulate(data, priors, np.random.default_rng(1))
    >>> sorted(truth), simulated.estimate.shape
    (['mu', 'tau', 'theta'], (8,))
    """
    family = family_of(data)
    return family.simulate(data, priors, _prior_sampler(rng), rng, site_df=site_df, robust=robust)


def _prior_sampler(rng: np.random.Generator) -> Callable[..., np.ndarray | float]:
    """Make a function drawing from a prior spec with numpyro's distribution.

    Each draw is seeded from ``rng``.
    """
    import jax  # only when replicates are drawn

    def draw(prior: Prior, size: int | None = None):
        key = jax.random.key(int(rng.integers(2**31)))
        values = np.asarray(prior.distribution().sample(key, () if size is None else (size,)))
        return values if size is not None else float(values)

    return draw


def _thin(draws: np.ndarray, n_draws: int) -> np.ndarray:
    """Take ``n_draws`` draws evenly spaced over the chains (less autocorrelated than all)."""
    return draws[np.linspace(0, draws.size - 1, n_draws).round().astype(int)]


def _verdict(row: dict, tests: int) -> str:
    """Judge whether one parameter's ranks and intervals are what a calibrated model gives.

    With several parameters tested, one small p-value is expected now and then: the ranks
    fail only below ``FAMILY_ALPHA / tests`` (Bonferroni); coverage fails when it is more
    than ``MAX_COVERAGE_Z`` standard errors from the nominal level.
    """
    problems = []
    cut = FAMILY_ALPHA / tests
    if row["uniformity_p"] < cut:
        problems.append(f"ranks not uniform (p below {cut:.2g}, 1% shared by {tests} tests)")
    for level in LEVELS:
        name = f"coverage_{level:.0%}"
        if abs(row[name] - level) > MAX_COVERAGE_Z * row[f"{name}_se"]:
            problems.append(f"{level:.0%} intervals cover {row[name]:.0%}")
    if problems:
        return "NOT calibrated: " + "; ".join(problems)
    if row["uniformity_p"] < 0.05:
        return f"calibrated (a p-value this small is expected among {tests} tests by chance)"
    return "calibrated"


def _one_per_replicate(table: pd.DataFrame) -> pd.DataFrame:
    """Keep one element per replicate, taken in turn (independent ranks for the uniformity test)."""
    elements = list(dict.fromkeys(table["element"]))
    turn = table["replicate"].map(lambda replicate: elements[replicate % len(elements)])
    return table[table["element"] == turn]


def _check_supported(model: SiteEffects, data: StudyData, priors: Priors) -> None:
    """Calibration simulates what :func:`simulate` covers; say so otherwise."""
    obstacles = []
    if model.historical is not None:
        obstacles.append("historical borrowing")
    obstacle = family_of(data).simulation_obstacle(data, robust=model.site_dist != "normal")
    if obstacle is not None:
        obstacles.append(obstacle)
    vectors = [name for name in ("beta", "gamma") if getattr(priors, name) is not None]
    if any(getattr(priors, name).family == "horseshoe" for name in vectors):
        obstacles.append("the horseshoe prior")
    if obstacles:
        raise SitefxInputError(f"calibration does not simulate {', '.join(obstacles)} yet")
