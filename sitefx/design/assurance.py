"""Assurance of the next trial: its chance of success, averaged over what a fit learned.

A new trial has ``J`` sites and ``n`` students per arm in each (``"multisite"``: students
randomized within sites) or ``J`` sites randomized whole (``"cluster"``: ``J // 2`` treated,
``n`` students each). Everything is in effect-size units (outcome SDs). One simulated trial:

1. draw ``(mu, tau)`` from the fit's posterior draws (divided by the fit's outcome SD);
2. draw the sites' true effects ``theta_j ~ N(mu, tau)``;
3. multisite: each site's estimate ``y_j ~ N(theta_j, s)`` with the design's sampling SE
   ``s^2 = (1 - icc)(1 - r2) / (P (1 - P) 2n)``, ``P = 1/2``; cluster: each site's mean
   outcome ``u_j + theta_j [treated] + e_j``, with intercepts ``u_j ~ N(0, sqrt(icc))`` and
   ``e_j ~ N(0, sqrt((1 - icc)(1 - r2) / n))``;
4. analyse it, and call it a success by the :class:`Criterion`:

   - ``"posterior"``: the posterior probability that the average effect exceeds ``delta``
     is above ``prob``;
   - ``"interval"``: the 95% (equal-tailed) posterior interval of the average effect
     excludes 0;
   - ``"test"``: the two-sided t test at ``alpha`` rejects no average effect (multisite: the
     one-sample t test of the sites' estimates, ``df = J - 1``; cluster: the two-sample t
     test of the sites' means, ``df = J - 2``), the analysis whose power
     :func:`sitefx.design.classical.power` gives in closed form.

The Bayesian analysis of a multisite trial is the exact posterior of the normal-normal model
(:func:`sitefx.infer.exact.normal_normal_exact`) under :func:`analysis_priors`, the priors
sitefx gives a fit of records whose outcome SD is 1. The sites of a design share one SE, so
the estimates' mean and sum of squares are sufficient: the posterior given ``tau`` is normal
in closed form, and ``tau`` is integrated on a Gauss-Legendre grid in ``log tau`` for all
simulated trials at once (thousands of exact refits take a fraction of a second; the tests
check them against ``normal_normal_exact`` and against full :class:`~sitefx.SiteEffects`
refits). A cluster trial is analysed through its sites' mean outcomes, with the same prior
on ``mu`` and the reference prior on their variance (:func:`cluster_posterior_above`):
exact, Student's t likelihood of ``mu`` included, and the Bayesian twin of the two-sample t
test of the site means (the mixed model's test when the sites are of equal size).

Assurance is the share of successes over the posterior draws (O'Hagan, Stevens & Campbell
2005), with Monte-Carlo SE ``sqrt(a (1 - a) / R)``; the conditional power is the same
simulation at fixed ``mu`` (its posterior mean) and ``tau`` (its posterior median).

Examples
--------
>>> trial = Trial("multisite", sites=20, per_arm=25, icc=0.15)
>>> rng = np.random.default_rng(1)
>>> mu, tau = np.full(4000, 0.2), np.full(4000, 0.1)
>>> share = successes(trial, Criterion("test"), mu, tau, rng).mean()
>>> closed = classical.power("multisite", 0.2, tau=0.1, **trial.settings())
>>> bool(abs(share - closed) < 3 * np.sqrt(closed * (1 - closed) / 4000))
True
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from scipy import special, stats

from sitefx import streams
from sitefx.data.schema import SiteSummaries
from sitefx.design import classical
from sitefx.errors import SitefxInputError, check_choice, check_finite
from sitefx.families import resolve_priors
from sitefx.historical import unit_information_sd
from sitefx.infer.borrowing import map_prior
from sitefx.infer.exact import TauPrior
from sitefx.infer.quadrature import gauss_legendre
from sitefx.models.priors import Prior, Priors
from sitefx.report.design import FILES
from sitefx.report.folders import write_csv
from sitefx.report.numbers import percent

LOGISTIC_SD = np.pi / np.sqrt(3)  # the SD of the logistic latent variable of a binary outcome

CRITERIA = ("posterior", "interval", "test")
COLUMNS = ("sites", "per_arm", "assurance", "assurance_mcse", "power", "mdes", "power_mcse")
TAU_NODES = 256  # Gauss-Legendre nodes in log tau of the vectorized exact posterior
MU_NODES = 128  # and in the t's probabilities of a cluster trial's posterior of mu
BELOW_SE = 12.0  # the grid starts 12 e-folds below the sites' SE (a mass of e^-12 left out)
ABOVE = 5.0  # and ends 5 e-folds above the larger of the SE and the estimates' spread
INTERVAL = 0.95


def check_probability(value: object, name: str) -> float:
    """Return ``value`` as a float after checking it is a probability strictly inside (0, 1).

    Parameters
    ----------
    value : object
        A probability the user gave (a share, a level, a target).
    name : str
        Its name in the message, with its flag: ``"target (--target)"``.

    Returns
    -------
    float

    Raises
    ------
    SitefxInputError
        Unless ``0 < value < 1``.

    Examples
    --------
    >>> check_probability(1.5, "target (--target)")
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: target (--target) must be in (0, 1); got 1.5
    """
    value = check_finite(value, name)
    if not 0 < value < 1:
        raise SitefxInputError(f"{name} must be in (0, 1); got {value}")
    return value


def whole_numbers(text: str, name: str) -> tuple[int, ...]:
    """Read a list of whole numbers such as ``"10,20,40"`` (sorted, each once).

    Parameters
    ----------
    text : str
        The user's list, comma-separated.
    name : str
        How the message names it, e.g. ``"--sites"``.

    Returns
    -------
    tuple of int

    Raises
    ------
    SitefxInputError
        If a part is not a whole number.

    Examples
    --------
    >>> whole_numbers("40, 10,20,10", "--sites")
    (10, 20, 40)
    >>> whole_numbers("10,2.5", "--sites")
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: --sites takes whole numbers separated by commas, e.g. \
10,20,40; got '10,2.5'
    """
    try:
        return tuple(sorted({int(part) for part in text.split(",")}))
    except ValueError:
        raise SitefxInputError(
            f"{name} takes whole numbers separated by commas, e.g. 10,20,40; got '{text}'"
        ) from None


@dataclass(frozen=True)
class Criterion:
    """What counts as a successful trial.

    Parameters
    ----------
    name : {"posterior", "interval", "test"}
        Posterior probability of an effect above ``delta`` above ``prob``; a 95% interval
        excluding 0; a two-sided t test at ``alpha`` (see the module docstring).
    delta : float, default 0
        The effect to exceed, in outcome SDs (``"posterior"``).
    prob : float, default 0.95
        The posterior probability to exceed (``"posterior"``).
    alpha : float, default 0.05
        The test's two-sided level (``"test"``).

    Raises
    ------
    SitefxInputError
        For an unknown name or a value out of range, naming the flag.

    Examples
    --------
    >>> Criterion("test", alpha=0.1).alpha
    0.1
    """

    name: str = "posterior"
    delta: float = 0.0
    prob: float = 0.95
    alpha: float = 0.05

    def __post_init__(self) -> None:
        """Check the criterion's values, naming their flags."""
        check_choice(self.name, "criterion (--criterion)", CRITERIA)
        check_finite(self.delta, "delta (--delta)")
        check_probability(self.prob, "prob (--prob)")
        check_probability(self.alpha, "alpha (--alpha)")

    def describe(self) -> str:
        """Say in words what the trial must show.

        Returns
        -------
        str
            E.g. ``"shows a positive average effect (posterior probability above 95%)"``.

        Examples
        --------
        >>> Criterion("interval").describe()
        'shows a 95% interval of the average effect that excludes zero'
        """
        if self.name == "interval":
            return "shows a 95% interval of the average effect that excludes zero"
        if self.name == "test":
            return f"rejects no average effect in a two-sided test at the {self.alpha:g} level"
        what = "positive" if self.delta == 0 else f"above {self.delta:g} SD"
        return f"shows a {what} average effect (posterior probability above {percent(self.prob)})"


@dataclass(frozen=True)
class Trial:
    """The design of the next trial, in effect-size units.

    Parameters
    ----------
    design, sites, per_arm, icc, r2
        As :func:`sitefx.design.classical.standard_error` takes them (``r2`` 0 unless
        given), which also checks them.

    Raises
    ------
    SitefxInputError
        Naming the flag of a value out of range.

    Examples
    --------
    >>> round(Trial("multisite", sites=20, per_arm=25, icc=0.2).site_se, 3)
    0.253
    """

    design: str
    sites: int
    per_arm: int
    icc: float
    r2: float = 0.0

    def __post_init__(self) -> None:
        """Check the design's values, naming their flags."""
        classical.standard_error(**asdict(self))

    def settings(self) -> dict:
        """Return the trial's settings as :mod:`sitefx.design.classical` takes them.

        Returns
        -------
        dict
            ``design`` left out: ``sites``, ``per_arm``, ``icc``, ``r2``.

        Examples
        --------
        >>> Trial("cluster", sites=10, per_arm=20, icc=0.1).settings()["sites"]
        10
        """
        return {name: value for name, value in asdict(self).items() if name != "design"}

    @property
    def within(self) -> float:
        """The variance of a student's outcome within a site, after covariates."""
        return (1 - self.icc) * (1 - self.r2)

    @property
    def site_se(self) -> float:
        """The SE of a multisite trial's estimate in one site."""
        share = 0.5 * (1 - 0.5)  # per_arm students in each arm: half the site treated
        return float(np.sqrt(self.within / (share * 2 * self.per_arm)))


def analysis_priors() -> Priors:
    """Return the priors of the analysis of a simulated trial.

    The default priors sitefx gives a fit of individual records whose outcome SD is 1
    (:mod:`sitefx.models.priors`): the average effect ``normal(0, 2.5)``, the SD of the
    sites' effects ``half-normal(1)``.

    Returns
    -------
    Priors

    Examples
    --------
    >>> print(analysis_priors().describe())
      mu ~ normal(0, 2.5)
      tau ~ half-normal(1)
    """
    return Priors(mu=Prior("normal", (0.0, 2.5)), tau=Prior("half-normal", (1.0,)))


def posterior_above(
    estimates: np.ndarray, se: float, threshold: float, priors: Priors
) -> np.ndarray:
    """Return the exact posterior probability that ``mu`` exceeds ``threshold``, per trial.

    The normal-normal model of each row's site estimates, all with SE ``se``, under a normal
    prior on ``mu`` and any prior on ``tau`` (see the module docstring).

    Parameters
    ----------
    estimates : ndarray, shape (trials, sites)
        Each simulated trial's site estimates.
    se : float
        Their sampling SE.
    threshold : float
        The effect to exceed.
    priors : Priors
        A normal prior on ``mu``, any on ``tau``.

    Returns
    -------
    ndarray, shape (trials,)

    Examples
    --------
    >>> y = np.array([[28.0, 8, -3, 7, -1, 1, 18, 12]])
    >>> priors = Priors(mu=Prior("normal", (0.0, 100.0)), tau=Prior("half-cauchy", (5.0,)))
    >>> round(float(posterior_above(y, 12.0, 0.0, priors)[0]), 3)
    0.971
    """
    sites = estimates.shape[1]
    mean = estimates.mean(axis=1, keepdims=True)
    squares = np.sum((estimates - mean) ** 2, axis=1, keepdims=True)
    prior_mean, prior_sd = priors.mu.params
    tau_prior = TauPrior(priors.tau)
    spread = np.sqrt(squares / (sites - 1))
    low = np.log(se) - BELOW_SE
    high = np.log(np.maximum(se, spread)) + ABOVE
    unit, unit_weight = gauss_legendre(TAU_NODES)
    log_tau = low + (high - low) * unit  # (trials, nodes)
    variance = se**2 + np.exp(2 * log_tau)  # of a site's estimate given tau
    precision = sites / variance + 1 / prior_sd**2
    centre = (sites * mean / variance + prior_mean / prior_sd**2) / precision
    log_weight = (
        np.log(unit_weight)
        - (sites - 1) / 2 * np.log(variance)
        - squares / (2 * variance)
        + stats.norm.logpdf(mean, prior_mean, np.sqrt(variance / sites + prior_sd**2))
        + tau_prior.log_prob(log_tau)
        + log_tau
    )
    weight = np.exp(log_weight - special.logsumexp(log_weight, axis=1, keepdims=True))
    return np.sum(weight * stats.norm.sf(threshold, centre, 1 / np.sqrt(precision)), axis=1)


def successes(
    trial: Trial,
    criterion: Criterion,
    mu: np.ndarray,
    tau: np.ndarray,
    rng: np.random.Generator,
    priors: Priors | None = None,
) -> np.ndarray:
    """Simulate one trial per ``(mu, tau)`` and say whether each succeeds.

    Parameters
    ----------
    trial : Trial
        The design.
    criterion : Criterion
        What counts as success.
    mu, tau : ndarray, shape (trials,)
        The true average effect and SD of the effects of each simulated trial.
    rng : numpy.random.Generator
        Where the trials' noise comes from.
    priors : Priors, optional
        The analysis priors; by default :func:`analysis_priors`.

    Returns
    -------
    ndarray of bool, shape (trials,)

    Examples
    --------
    >>> trial = Trial("cluster", sites=40, per_arm=20, icc=0.2)
    >>> mu, tau = np.full(2000, 0.0), np.zeros(2000)
    >>> share = successes(trial, Criterion("test"), mu, tau, np.random.default_rng(2)).mean()
    >>> bool(0.03 < share < 0.07)  # the test's level
    True
    """
    priors = priors or analysis_priors()
    mu, tau = mu[:, None], tau[:, None]
    if trial.design == "multisite":
        theta = mu + tau * rng.standard_normal((len(mu), trial.sites))
        estimates = theta + trial.site_se * rng.standard_normal(theta.shape)
        if criterion.name == "test":
            mean = estimates.mean(axis=1)
            se = estimates.std(axis=1, ddof=1) / np.sqrt(trial.sites)
            return _rejects(mean / se, trial.sites - 1, criterion.alpha)
        above = posterior_above(estimates, trial.site_se, criterion.delta, priors)
        if criterion.name == "posterior":
            return above > criterion.prob
        positive = posterior_above(estimates, trial.site_se, 0.0, priors)
        return (positive > (1 + INTERVAL) / 2) | (positive < (1 - INTERVAL) / 2)
    treated = trial.sites // 2
    means = np.sqrt(trial.icc) * rng.standard_normal((len(mu), trial.sites))
    means += np.sqrt(trial.within / trial.per_arm) * rng.standard_normal(means.shape)
    means[:, :treated] += mu + tau * rng.standard_normal((len(mu), treated))
    arms = (means[:, :treated], means[:, treated:])
    difference = arms[0].mean(axis=1) - arms[1].mean(axis=1)
    pooled = sum(np.sum((arm - arm.mean(axis=1, keepdims=True)) ** 2, axis=1) for arm in arms)
    pooled /= trial.sites - 2
    se = np.sqrt(pooled * (1 / treated + 1 / (trial.sites - treated)))
    df = trial.sites - 2
    if criterion.name == "test":
        return _rejects(difference / se, df, criterion.alpha)
    above = cluster_posterior_above(difference, se, df, criterion.delta, priors)
    if criterion.name == "posterior":
        return above > criterion.prob
    positive = cluster_posterior_above(difference, se, df, 0.0, priors)
    return (positive > (1 + INTERVAL) / 2) | (positive < (1 - INTERVAL) / 2)


def cluster_posterior_above(
    difference: np.ndarray, se: np.ndarray, df: int, threshold: float, priors: Priors
) -> np.ndarray:
    """Return the exact posterior probability that ``mu`` exceeds ``threshold``, per cluster trial.

    The analysis of the sites' mean outcomes ``m_j ~ N(alpha + mu [treated], sigma^2)``,
    with a flat prior on ``alpha``, the reference prior ``1 / sigma^2`` and the normal prior
    of ``mu`` in ``priors``. With ``alpha`` and ``sigma`` integrated out, the likelihood of
    ``mu`` is Student's t with ``df = J - 2``, centred on the arms' ``difference`` and scaled
    by its pooled ``se``; times the prior, it is integrated by Gauss-Legendre quadrature in
    the t's probability scale, on either side of ``threshold``. With a flat prior on ``mu``
    this is the two-sample t test's distribution, so the posterior and the test agree.

    Parameters
    ----------
    difference, se : ndarray, shape (trials,)
        The difference of the arms' mean site means and its pooled SE.
    df : int
        ``J - 2``.
    threshold : float
        The effect to exceed.
    priors : Priors
        A normal prior on ``mu``.

    Returns
    -------
    ndarray, shape (trials,)

    Examples
    --------
    >>> flat = Priors(mu=Prior("normal", (0.0, 1e9)), tau=Prior("half-normal", (1.0,)))
    >>> above = cluster_posterior_above(np.array([0.3]), np.array([0.1]), 10, 0.0, flat)
    >>> round(float(above[0]), 6), round(float(stats.t.cdf(3.0, 10)), 6)
    (0.993328, 0.993328)
    """
    prior_mean, prior_sd = priors.mu.params
    split = stats.t.cdf((threshold - difference) / se, df)[:, None]
    unit, weight = gauss_legendre(MU_NODES)

    def mass(low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Integrate the prior's density over the t's probabilities from low to high."""
        mu = difference[:, None] + se[:, None] * stats.t.ppf(low + (high - low) * unit, df)
        return (high - low)[:, 0] * (stats.norm.pdf(mu, prior_mean, prior_sd) @ weight)

    above = mass(split, np.ones_like(split))
    return above / (mass(np.zeros_like(split), split) + above)


def _rejects(statistic: np.ndarray, df: int, alpha: float) -> np.ndarray:
    """Return whether each two-sided t test at ``alpha`` rejects."""
    return np.abs(statistic) > stats.t.ppf(1 - alpha / 2, df)


@dataclass(frozen=True)
class Learned:
    """What a fit learned, in effect-size units: draws of ``mu`` and ``tau``, and the ICC.

    Parameters
    ----------
    mu, tau : ndarray
        Posterior draws (flattened over chains).
    icc : float or None
        The fit's intraclass correlation (records fits), else None.

    Examples
    --------
    >>> learned = Learned(np.array([0.1, 0.3]), np.array([0.1, 0.2]), None)
    >>> learned.mu.mean()
    np.float64(0.2)
    """

    mu: np.ndarray
    tau: np.ndarray
    icc: float | None

    @classmethod
    def from_priors(cls, mu: Prior, tau: Prior, *, draws: int = 4000, seed: int = 0) -> "Learned":
        """Draw ``mu`` and ``tau`` from priors in effect-size units: a design without a fit.

        Parameters
        ----------
        mu, tau : Prior
            What is believed about the average effect and the SD of the sites' effects, in
            outcome SDs (``sitefx design --prior-mu``, ``--prior-tau``).
        draws : int, default 4000
            How many.
        seed : int, default 0
            Of the ``design`` random stream.

        Returns
        -------
        Learned
            With no ICC (give it).

        Examples
        --------
        >>> from sitefx.models.priors import given_prior
        >>> learned = Learned.from_priors(given_prior("normal(0.2, 0.05)"),
        ...                               given_prior("half-normal(0.1)"))
        >>> round(float(learned.mu.mean()), 2), bool((learned.tau >= 0).all())
        (0.2, True)
        """
        rng = streams.rng(seed, "design")
        return cls(mu=mu.sample(rng, (draws,)), tau=tau.sample(rng, (draws,)), icc=None)

    @classmethod
    def from_history(
        cls,
        history: SiteSummaries,
        tau: Prior,
        *,
        outcome_sd: float = 1.0,
        draws: int = 4000,
        seed: int = 0,
    ) -> tuple["Learned", float]:
        """Draw ``mu`` from the MAP prior of earlier studies: a design without a fit.

        The meta-analytic-predictive prior (:mod:`sitefx.historical`) is the effect to expect
        in a new study, here the next trial's average effect; the SD of the sites' effects
        within that trial comes from ``tau`` (``--prior-tau``).

        Parameters
        ----------
        history : SiteSummaries
            The earlier studies' estimates and SEs.
        tau : Prior
            The SD of the sites' effects in the new trial, in outcome SDs.
        outcome_sd : float, default 1
            The outcome's SD in the studies' units (1 for standardized effects).
        draws, seed : int
            How many draws, and the seed of the ``design`` stream.

        Returns
        -------
        Learned
            With no ICC (give it).
        float
            The MAP prior's effective sample size in people (ELIR; unit-information SD from
            the studies' ``se * sqrt(n)``, else 2 outcome SDs, a difference of two equal arms).

        Examples
        --------
        >>> import sitefx
        >>> from sitefx.models.priors import given_prior
        >>> history = sitefx.load("studies/teacher_expectancy").data
        >>> learned, ess = Learned.from_history(history, given_prior("half-normal(0.1)"))
        >>> round(float(learned.mu.mean()), 2), ess > 0
        (0.09, True)
        """
        rng = streams.rng(seed, "design")
        mixture = map_prior(history.estimate, history.se, resolve_priors(history))
        component = rng.choice(len(mixture.weight), size=draws, p=mixture.weight)
        mu = mixture.mean[component] + mixture.sd[component] * rng.standard_normal(draws)
        unit_sd = unit_information_sd(history) or 2.0 * outcome_sd
        learned = cls(mu=mu / outcome_sd, tau=tau.sample(rng, (draws,)), icc=None)
        return learned, float(mixture.ess(unit_sd))

    @classmethod
    def from_tree(cls, tree: xr.DataTree, outcome_sd: float | None = None) -> "Learned":
        """Read a saved fit's draws of ``mu`` and ``tau`` in outcome SDs, and its ICC.

        Parameters
        ----------
        tree : xarray.DataTree
            A fit (``open_fit(...).posterior_``).
        outcome_sd : float, optional
            The outcome's SD (``--outcome-sd``), for a fit that does not know it; it
            replaces the fit's. Summaries in standardized units need none.

        Returns
        -------
        Learned

        A binary outcome's log odds ratios are read on the latent scale of the logistic
        model, whose SD is ``pi / sqrt(3)`` (Chinn 2000): the design is then that of a
        continuous outcome with the same standardized effect, a normal approximation to the
        binary trial, and the ICC is the latent one, ``alpha_sd^2 / (alpha_sd^2 + pi^2 / 3)``.

        Raises
        ------
        SitefxInputError
            For an outcome SD that is not known.

        Examples
        --------
        >>> import sitefx
        >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
        >>> round(float(Learned.from_tree(fit.posterior_, 100).mu.mean()), 3)
        0.077
        """
        posterior = tree["posterior"]
        kind = tree.attrs["data_kind"]
        if kind == "arms" or (kind != "summaries" and "sigma" not in posterior):
            icc = None
            if "alpha_sd" in posterior:
                between = posterior["alpha_sd"].values ** 2
                icc = float(np.median(between / (between + LOGISTIC_SD**2)))
            return cls(
                mu=posterior["mu"].values.ravel() / LOGISTIC_SD,
                tau=posterior["tau"].values.ravel() / LOGISTIC_SD,
                icc=icc,
            )
        if outcome_sd is None:
            outcome_sd = tree.attrs.get("outcome_sd")
        if outcome_sd is None and "standardized" in str(tree.attrs.get("units", "")):
            outcome_sd = 1.0
        if outcome_sd is None:
            units = tree.attrs.get("units") or "not stated"
            raise SitefxInputError(
                f"the fit's effects are not in outcome SDs (units: {units}) and it does not "
                "know the outcome's SD: give it with --outcome-sd"
            )
        icc = None
        if "alpha_sd" in posterior and "sigma" in posterior:
            between = posterior["alpha_sd"].values ** 2
            icc = float(np.median(between / (between + posterior["sigma"].values ** 2)))
        return cls(
            mu=posterior["mu"].values.ravel() / outcome_sd,
            tau=posterior["tau"].values.ravel() / outcome_sd,
            icc=icc,
        )


def design_table(
    learned: Learned,
    trials: list[Trial],
    criterion: Criterion,
    *,
    replicates: int = 4000,
    seed: int = 0,
) -> pd.DataFrame:
    """Compute the assurance, conditional power and MDES of each design.

    Parameters
    ----------
    learned : Learned
        The fit's draws, in outcome SDs.
    trials : list of Trial
        The designs.
    criterion : Criterion
        What counts as success.
    replicates : int, default 4000
        Simulated trials per design (for the assurance, and again for the power).
    seed : int, default 0
        Seed of the ``design`` random stream (:mod:`sitefx.streams`).

    Returns
    -------
    pandas.DataFrame
        One row per design, :data:`COLUMNS`: ``power`` at ``mu`` = its posterior mean and
        ``tau`` = its posterior median; ``mdes`` the classical MDES (power 0.8, two-sided
        ``alpha``) with that ``tau``.

    Examples
    --------
    >>> learned = Learned(np.full(100, 0.3), np.full(100, 0.1), None)
    >>> trials = [Trial("multisite", sites=j, per_arm=20, icc=0.1) for j in (10, 40)]
    >>> table = design_table(learned, trials, Criterion(), replicates=500)
    >>> list(table["sites"]), bool(table["assurance"].is_monotonic_increasing)
    ([10, 40], True)
    """
    rng = streams.rng(seed, "design")
    mu_fixed, tau_fixed = float(learned.mu.mean()), float(np.median(learned.tau))
    rows = []
    for trial in trials:
        pick = rng.integers(len(learned.mu), size=replicates)
        assurance = successes(trial, criterion, learned.mu[pick], learned.tau[pick], rng).mean()
        fixed = np.full(replicates, mu_fixed), np.full(replicates, tau_fixed)
        power = successes(trial, criterion, *fixed, rng).mean()
        rows.append(
            {
                "sites": trial.sites,
                "per_arm": trial.per_arm,
                "assurance": assurance,
                "assurance_mcse": np.sqrt(assurance * (1 - assurance) / replicates),
                "power": power,
                "power_mcse": np.sqrt(power * (1 - power) / replicates),
                "mdes": classical.mdes(
                    trial.design, alpha=criterion.alpha, tau=tau_fixed, **trial.settings()
                ),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def smallest_sites(table: pd.DataFrame, target: float) -> pd.DataFrame:
    """Return, per students per arm, the fewest sites whose assurance reaches ``target``.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`design_table`.
    target : float
        The assurance wanted.

    Returns
    -------
    pandas.DataFrame
        The rows of ``table`` that are first to reach it (none for an ``n`` that never does).

    Examples
    --------
    >>> table = pd.DataFrame({"sites": [10, 20], "per_arm": [5, 5], "assurance": [0.5, 0.9]})
    >>> smallest_sites(table, 0.8)["sites"].tolist()
    [20]
    """
    reached = table[table["assurance"] >= target].sort_values(["per_arm", "sites"])
    return reached.groupby("per_arm", as_index=False).first()


@dataclass(frozen=True)
class Costs:
    """What a trial costs: per site enrolled and per student, and the money there is.

    Parameters
    ----------
    site : float, default 0
        Cost of enrolling one site (``--cost-site``).
    student : float, default 0
        Cost of one student (``--cost-student``).
    budget : float, optional
        The most the trial may cost (``--budget``).

    Examples
    --------
    >>> table = pd.DataFrame({"sites": [10, 20, 10], "per_arm": [50, 20, 100],
    ...                       "assurance": [0.85, 0.82, 0.9]})
    >>> costs = Costs(site=5000, student=100)
    >>> costs.of(table, "multisite").tolist()
    [150000.0, 180000.0, 250000.0]
    >>> print(costs.sentence(table, "multisite", target=0.8, sites_noun="schools"))
    The cheapest design reaching an assurance of 80% is 10 schools with 50 students per arm, \
for 150,000.
    """

    site: float = 0.0
    student: float = 0.0
    budget: float | None = None

    def __post_init__(self) -> None:
        """Check that every cost is finite and not negative, and the budget positive."""
        for name, value in (("cost_site", self.site), ("cost_student", self.student)):
            flag = f"{name} (--{name.replace('_', '-')})"
            if check_finite(value, flag) < 0:
                raise SitefxInputError(f"{flag} must be 0 or more; got {value}")
        if self.budget is not None:
            check_finite(self.budget, "budget (--budget)", positive=True)

    def of(self, table: pd.DataFrame, design: str) -> pd.Series:
        """Return each design's cost: ``J (site + 2 n student)``, cluster ``J (site + n student)``.

        Parameters
        ----------
        table : pandas.DataFrame
            Designs (``sites``, ``per_arm``).
        design : {"multisite", "cluster"}
            In a cluster trial ``per_arm`` is the students of a site.

        Returns
        -------
        pandas.Series
        """
        students = table["per_arm"] * (2 if design == "multisite" else 1)
        return (table["sites"] * (self.site + students * self.student)).astype(float)

    def sentence(
        self, table: pd.DataFrame, design: str, *, target: float, sites_noun: str = "sites"
    ) -> str:
        """Say which design reaching ``target`` costs least (within the budget).

        Parameters
        ----------
        table : pandas.DataFrame
            From :func:`design_table`.
        design : {"multisite", "cluster"}
            The trial's design.
        target : float
            The assurance wanted.
        sites_noun : str, default "sites"
            What the sites are called.

        Returns
        -------
        str
        """
        cost = self.of(table, design)
        fits = (table["assurance"] >= target) & (cost <= (self.budget or np.inf))
        within = f" within the budget of {self.budget:,.0f}" if self.budget is not None else ""
        if not fits.any():
            return f"No design here reaches an assurance of {percent(target)}{within}."
        best = cost[fits].idxmin()
        sites, per_arm = (int(table.at[best, name]) for name in ("sites", "per_arm"))
        return (
            f"The cheapest design reaching an assurance of {percent(target)}{within} is "
            f"{sites} {sites_noun} with {per_arm} students per arm, for {cost[best]:,.0f}."
        )


def design_sentences(
    table: pd.DataFrame, criterion: Criterion, *, target: float, sites_noun: str = "sites"
) -> list[str]:
    """Say in plain words what the designs' assurance and power are.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`design_table`.
    criterion : Criterion
        What counts as success.
    target : float
        The assurance wanted.
    sites_noun : str, default "sites"
        What the sites are called, plural (e.g. "schools").

    Returns
    -------
    list of str
        One sentence per design, then the fewest sites reaching ``target`` per ``n``.

    Examples
    --------
    >>> table = pd.DataFrame({"sites": [40], "per_arm": [25], "assurance": [0.78],
    ...     "assurance_mcse": [0.0065], "power": [0.9], "power_mcse": [0.005]})
    >>> print(design_sentences(table, Criterion(), target=0.8, sites_noun="schools")[0])
    With 40 schools and 25 students per arm, the chance that the trial shows a positive \
average effect (posterior probability above 95%) is 78% ± 1% (90% ± 1% if mu and tau were \
exactly their central values).
    """
    sentences = [
        f"With {row.sites} {sites_noun} and {row.per_arm} students per arm, the chance that "
        f"the trial {criterion.describe()} is {_share(row.assurance, row.assurance_mcse)} "
        f"({_share(row.power, row.power_mcse)} if mu and tau were exactly their central "
        "values)."
        for row in table.itertuples()
    ]
    reached = smallest_sites(table, target)
    for per_arm in sorted(set(table["per_arm"])):
        found = reached[reached["per_arm"] == per_arm]
        sentences.append(
            f"With {per_arm} students per arm, {found['sites'].iloc[0]} {sites_noun} reach an "
            f"assurance of {percent(target)}."
            if len(found)
            else f"With {per_arm} students per arm, none of these designs reaches an assurance "
            f"of {percent(target)}."
        )
    return sentences


def _share(value: float, mcse: float) -> str:
    """Return a chance with its MCSE, as whole percentages (at least 1 point of MCSE shown)."""
    return f"{percent(value)} ± {max(1, round(100 * mcse))}%"


def assurance_plot(table: pd.DataFrame, *, target: float) -> Figure:
    """Plot the assurance against the number of sites, one line per students per arm.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`design_table`.
    target : float
        The assurance wanted, drawn as a dashed line.

    Returns
    -------
    matplotlib.figure.Figure
        Bands of two Monte-Carlo SEs around each line; not attached to pyplot.

    Examples
    --------
    >>> table = pd.DataFrame({"sites": [10, 20], "per_arm": [5, 5], "assurance": [0.5, 0.9],
    ...     "assurance_mcse": [0.01, 0.01]})
    >>> assurance_plot(table, target=0.8).axes[0].get_ylabel()
    'assurance'
    """
    figure = Figure(figsize=(6.0, 4.0), layout="constrained")
    axes = figure.subplots()
    for per_arm, rows in table.groupby("per_arm"):
        rows = rows.sort_values("sites")
        line = axes.plot(rows["sites"], rows["assurance"], marker="o", label=f"n = {per_arm}")
        band = 2 * rows["assurance_mcse"]
        axes.fill_between(
            rows["sites"],
            rows["assurance"] - band,
            rows["assurance"] + band,
            color=line[0].get_color(),
            alpha=0.2,
            linewidth=0,
        )
    axes.axhline(target, color="grey", linestyle="--", label=f"target {percent(target)}")
    axes.set(xlabel="sites in the trial (J)", ylabel="assurance", ylim=(0, 1))
    axes.legend(title="students per arm", fontsize="small")
    return figure


def write_design(
    table: pd.DataFrame, folder: str | Path, *, settings: dict, sentences: list[str]
) -> dict[str, Path]:
    """Write the design table, the assurance figure and what they say into ``folder``.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`design_table`.
    folder : str or pathlib.Path
        Where to write :data:`FILES`: ``design.csv``, ``assurance.png`` and ``design.json``.
    settings : dict
        What the table was computed with, kept in ``design.json``; its ``target`` (the
        assurance wanted) is drawn as a dashed line.
    sentences : list of str
        What the table says (:func:`design_sentences`), kept in ``design.json`` for
        ``sitefx report``.

    Returns
    -------
    dict of str to pathlib.Path
        The files written, by the keys of :data:`FILES`.

    Examples
    --------
    >>> import tempfile
    >>> table = pd.DataFrame({"sites": [10, 20], "per_arm": [5, 5], "assurance": [0.5, 0.9],
    ...     "assurance_mcse": [0.01, 0.01]})
    >>> sorted(write_design(table, tempfile.mkdtemp(), settings={"target": 0.8}, sentences=[]))
    ['figure', 'settings', 'table']
    """
    paths = {key: Path(folder) / name for key, name in FILES.items()}
    write_csv(table, paths["table"])
    assurance_plot(table, target=settings["target"]).savefig(paths["figure"], dpi=130)
    notes = {"settings": settings, "sentences": sentences}
    paths["settings"].write_text(json.dumps(notes, indent=1), encoding="utf-8")
    return paths
