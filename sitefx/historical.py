"""Historical borrowing: earlier studies' summaries inform the average effect ``mu``.

Two methods (the math is in :mod:`sitefx.infer.borrowing`):

* ``"map"``, the robust meta-analytic-predictive prior (Schmidli et al. 2014): the effect in a
  new study predicted from the historical ones (computed exactly), mixed with the prior ``mu``
  would have without them (weight ``weight``, default 0.2). When the current sites disagree
  with the history, the posterior moves to that vague component: the *conflict* probability
  reported is its posterior weight.
* ``"power"``, the power prior (Ibrahim & Chen 2000): historical studies count as sites of the
  same population ``(mu, tau)``, their likelihood raised to ``a0``. ``weight`` fixes ``a0``;
  without it ``a0 ~ uniform(0, 1)`` is learned with the normalized power prior (Duan, Ye &
  Smith 2006), so strong conflict pulls ``a0`` towards 0.

How much was borrowed is reported (:meth:`Borrowing.report`) as the prior's effective sample
size of ``mu`` in people, when the data tell the unit-information SD (summaries with ``n``,
records, arm counts), and as ``prior_share``: posterior variance of ``mu`` over its prior
variance, near 1 when the prior dominates and near 0 when the current data do.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from sitefx.data.schema import SiteSummaries, StudyData
from sitefx.errors import SitefxInputError, check_choice, check_finite
from sitefx.families import resolve_priors
from sitefx.infer.borrowing import (
    NormalMixture,
    PowerPrior,
    historical_log_likelihood,
    map_prior,
    power_prior_mu_moments,
)
from sitefx.infer.exact import ExactPosterior, PowerRows
from sitefx.models.priors import Priors

if TYPE_CHECKING:
    from numpyro.distributions import Distribution

BORROW_METHODS = ("map", "power")
ROBUST_WEIGHT = 0.2
MODE_SEPARATION = 2.0  # components' posteriors of mu this many SDs apart: two modes


def check_borrowing(method: str, weight: float | None) -> None:
    """Refuse an unknown borrowing method, or a weight outside its range.

    The weight must be in (0, 1) for ``map`` (the vague component's prior weight) and in
    (0, 1] for ``power`` (``a0``). Needs no data, so settings are checked before any fit.

    Parameters
    ----------
    method : str
        The borrowing method, one of ``BORROW_METHODS``: ``"map"`` or ``"power"``.
    weight : float or None
        The weight the user gave, or None (then the method's default: 0.2 for ``map``, a
        learned ``a0`` for ``power``).

    Raises
    ------
    SitefxInputError
        For an unknown method, or a weight that is not a finite number in its range.

    Examples
    --------
    >>> check_borrowing("power", 1.0)
    >>> check_borrowing("map", 1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: borrow_weight (--borrow-weight) of map must be in (0, 1); ...
    """
    check_choice(method, "borrow", BORROW_METHODS)
    if weight is None:
        return
    low_open = method == "map"
    weight = check_finite(weight, "borrow_weight (--borrow-weight)")
    if not (0 < weight < 1 if low_open else 0 < weight <= 1):
        bounds = "(0, 1)" if low_open else "(0, 1]"
        raise SitefxInputError(
            f"borrow_weight (--borrow-weight) of {method} must be in {bounds}; got {weight}"
        )


@dataclass(frozen=True, eq=False)
class MixturePrior:
    """Hold a normal-mixture prior for ``mu`` (the robust MAP prior).

    Usable where a :class:`~sitefx.models.priors.Prior` is: it has a ``family``, a
    ``support`` and a numpyro :meth:`distribution`.

    Attributes
    ----------
    mixture : NormalMixture
        The mixture, the vague component last (see
        :meth:`sitefx.infer.borrowing.NormalMixture.robustify`).
    family : str, default "robust-map"
        The name it goes by where a prior's family is shown or tested.
    support : str, default "real"
        The support of ``mu``, as :class:`~sitefx.models.priors.Prior` names it.

    Examples
    --------
    >>> from sitefx.infer.borrowing import NormalMixture
    >>> prior = MixturePrior(NormalMixture([0.8, 0.2], [1.0, 0.0], [0.5, 5.0]))
    >>> str(prior)
    'robust-map(2 normal components, mean 0.8, sd 2.32)'
    """

    mixture: NormalMixture
    family: str = "robust-map"
    support: str = "real"

    def distribution(self) -> "Distribution":
        """Build the prior as a numpyro distribution, for the model's ``mu``.

        Returns
        -------
        numpyro.distributions.Distribution
            A categorical mixture of normals (see
            :meth:`sitefx.infer.borrowing.NormalMixture.distribution`).
        """
        return self.mixture.distribution()

    def __str__(self) -> str:
        """Describe the prior in one line: its components, mean and SD."""
        return (
            f"robust-map({len(self.mixture.weight)} normal components, mean "
            f"{self.mixture.mean_value():.3g}, sd {self.mixture.sd_value():.3g})"
        )


@dataclass(frozen=True, eq=False)
class Borrowing:
    """Borrow from ``historical`` summaries (estimate + SE per earlier study) for ``mu``.

    Parameters
    ----------
    historical : SiteSummaries
        Earlier studies or sites, on the same effect scale as the current data.
    method : {"map", "power"}, default "map"
        Robust meta-analytic-predictive prior, or power prior (see the module docstring).
    weight : float, optional
        ``map``: prior weight of the vague component (default 0.2). ``power``: the fixed
        power ``a0`` in (0, 1]; learned when not given.

    Examples
    --------
    >>> import sitefx
    >>> history = sitefx.load("studies/teacher_expectancy").data
    >>> borrowing = Borrowing(history, "map")
    >>> borrowing.method, borrowing.historical.n_sites
    ('map', 19)
    """

    historical: SiteSummaries
    method: str = "map"
    weight: float | None = None

    def __post_init__(self) -> None:
        """Check the historical data and the settings (:func:`check_borrowing`).

        Raises
        ------
        SitefxInputError
            Unless ``historical`` is site summaries, the method known and the weight in its
            range.
        """
        if not isinstance(self.historical, SiteSummaries):
            raise SitefxInputError(
                "historical data must be site summaries (an estimate and SE per earlier study)"
            )
        check_borrowing(self.method, self.weight)

    @cached_property
    def map_mixture(self) -> NormalMixture:
        """The (not yet robustified) MAP prior from the historical studies."""
        history = self.historical
        return map_prior(history.estimate, history.se, resolve_priors(history))

    def apply(self, data: StudyData, priors: Priors) -> tuple[Priors, Callable | None]:
        """Return the priors of the current model and, for a power prior, a model transform.

        ``map``: the prior of ``mu`` becomes the robust MAP prior, the MAP prior mixed with
        the normal prior ``mu`` has without the history (weight ``weight``, default 0.2).
        ``power``: the priors stay; the transform wraps the numpyro model so that it adds
        ``a0`` times the historical log-likelihood (minus ``log c(a0)`` when ``a0`` is
        learned, with ``a0 ~ uniform(0, 1)``).

        Parameters
        ----------
        data : StudyData
            The current data (nesting levels are not supported).
        priors : Priors
            The current model's priors, defaults resolved.

        Returns
        -------
        priors : Priors
            The priors to fit with (``mu``'s a :class:`MixturePrior` for ``map``).
        transform : callable or None
            For ``power``, a function taking the numpyro model and returning it with the
            historical likelihood added; None for ``map``.

        Raises
        ------
        SitefxInputError
            With nesting levels; for ``map`` unless ``mu``'s prior is normal; for a learned
            ``a0`` unless ``mu``'s prior is normal or flat.
        """
        if getattr(data, "levels", ()):
            raise SitefxInputError("historical borrowing with nesting levels is not supported")
        if self.method == "map":
            if priors.mu.family != "normal":
                raise SitefxInputError(
                    f"the robust MAP prior mixes the history with the normal prior of mu it "
                    f"would have without it; give mu a normal prior (got {priors.mu})"
                )
            mean, sd = priors.mu.params
            weight = ROBUST_WEIGHT if self.weight is None else self.weight
            robust = self.map_mixture.robustify(weight, mean, sd)
            return dataclasses.replace(priors, mu=MixturePrior(robust)), None
        if self.weight is None and priors.mu.family not in {"normal", "flat"}:
            raise SitefxInputError(
                f"a learned power-prior weight needs a normal or flat prior on mu "
                f"(got {priors.mu}); fix the weight instead"
            )
        history = (self.historical.estimate, self.historical.se)

        def with_power_prior(model: Callable) -> Callable:
            import numpyro  # only when the model samples
            import numpyro.distributions as dist

            power = None if self.weight is not None else self._power_prior(priors)

            def borrowing_model(*args, **kwargs) -> None:
                with numpyro.handlers.trace() as trace:
                    model(*args, **kwargs)
                mu, tau = trace["mu"]["value"], trace["tau"]["value"]
                if power is None:
                    a0, log_normalizer = self.weight, 0.0
                else:
                    a0 = numpyro.sample("a0", dist.Uniform(0.0, 1.0))
                    log_normalizer = power.log_normalizer_at(a0)
                log_likelihood = historical_log_likelihood(mu, tau, *history)
                numpyro.factor("historical", a0 * log_likelihood - log_normalizer)

            return borrowing_model

        return priors, with_power_prior

    def sampling_problems(self, report: dict) -> list[str]:
        """List what NUTS may get wrong with this prior (the exact method has no such problem).

        Under prior-data conflict the robust MAP prior gives ``mu`` a posterior with two
        modes, the historical prior's and the current data's; NUTS moves between them rarely
        and may weight them wrongly (seen: a 97.5% quantile of 44.7 where quadrature gives
        47.8), often without a failed R-hat. So a posterior weight of the vague component
        between 5% and 95%, with the two components' posteriors of ``mu`` more than
        ``MODE_SEPARATION`` SDs apart, is reported as a problem of its own.

        Parameters
        ----------
        report : dict
            What :meth:`report` returned for the NUTS fit (its ``conflict`` and
            ``mode_separation``).

        Returns
        -------
        list of str
            One line per problem; empty for the power prior or a single mode.
        """
        conflict = report.get("conflict")
        if self.method != "map" or conflict is None or not 0.05 < conflict < 0.95:
            return []
        if report.get("mode_separation", np.inf) < MODE_SEPARATION:
            return []  # the two components agree: one mode
        return [
            f"the posterior of mu has two modes (the historical prior's and the current "
            f"data's; weight of the vague component {conflict:.2f}): NUTS may weight them "
            f"wrongly; use the exact method (site summaries) or check with more chains"
        ]

    def power_rows(self, priors: Priors) -> PowerRows | None:
        """Return the historical rows of a power prior for the exact method.

        With the fixed weight ``a0``, or the normalizer ``log c(a0)`` of a learned one.

        Parameters
        ----------
        priors : Priors
            The current model's priors (the learned weight's normalizer integrates over
            ``mu``'s and ``tau``'s).

        Returns
        -------
        PowerRows or None
            The historical estimates and SEs with ``a0`` or ``log_normalizer``; None for the
            MAP prior.
        """
        if self.method != "power":
            return None
        history = self.historical
        if self.weight is not None:
            return PowerRows(history.estimate, history.se, a0=self.weight)
        normalizer = self._power_prior(priors).log_normalizer_at
        return PowerRows(
            history.estimate, history.se, log_normalizer=lambda a0: np.asarray(normalizer(a0))
        )

    def _power_prior(self, priors: Priors) -> PowerPrior:
        """Build the normalized power prior of a learned weight (``log c(a0)`` tabulated)."""
        return PowerPrior.build(self.historical.estimate, self.historical.se, priors)

    def report(
        self,
        data: StudyData,
        priors: Priors,
        draws: dict[str, np.ndarray],
        *,
        exact: ExactPosterior | None = None,
    ) -> dict:
        """Report how much was borrowed, for the fit's attributes and the CLI.

        Exact where the fit is (``exact``), else from the draws.

        Parameters
        ----------
        data : StudyData
            The current data (its unit-information SD, :func:`unit_information_sd`).
        priors : Priors
            The priors fitted with, as :meth:`apply` returned them.
        draws : dict of str to ndarray
            Posterior draws by name: ``mu`` and, for a learned power prior, ``a0``.
        exact : ExactPosterior, optional
            The exact posterior, when the fit used the exact method.

        Returns
        -------
        dict
            ``method``, ``historical_studies`` (their number), ``unit_information_sd`` (or
            None); for ``map``: ``robust_weight`` (the vague component's prior weight),
            ``map_mean`` and ``map_sd`` (the MAP prior before robustifying), ``conflict``
            (the vague component's posterior weight) and, from draws only,
            ``mode_separation`` (see :meth:`sampling_problems`); for ``power``: ``a0`` (fixed,
            or its posterior mean), ``a0_learned``, ``a0_interval`` (95%, or None when
            fixed); for both: ``prior_ess`` (the prior's effective sample size of ``mu`` in
            people, or None without a unit-information SD), ``prior_mean`` and ``prior_sd``
            of ``mu``, and ``prior_share``: posterior variance of ``mu`` over its prior
            variance.
        """
        mu = np.ravel(draws["mu"])
        posterior_var = float(np.var(mu)) if exact is None else float(exact.sd("mu") ** 2)
        sigma = unit_information_sd(data)
        report: dict[str, object] = {
            "method": self.method,
            "historical_studies": self.historical.n_sites,
            "unit_information_sd": sigma,
        }
        if self.method == "map":
            mixture = priors.mu.mixture
            vague = stats.norm.pdf(mu, mixture.mean[-1], mixture.sd[-1]) * mixture.weight[-1]
            prior_mean, prior_var = mixture.mean_value(), mixture.sd_value() ** 2
            responsibility = vague / np.exp(mixture.log_pdf(mu))  # of the vague component
            conflict = (  # the vague component's posterior weight
                float(np.mean(responsibility))
                if exact is None
                else float(exact.weight @ exact.component_weight[:, -1])
            )
            if exact is None:
                report["mode_separation"] = _separation(mu, responsibility)
            report |= {
                "robust_weight": float(mixture.weight[-1]),
                "map_mean": self.map_mixture.mean_value(),
                "map_sd": self.map_mixture.sd_value(),
                "conflict": conflict,
                "prior_ess": None if sigma is None else self.map_mixture.ess(sigma),
            }
        else:
            a0 = draws.get("a0")
            weight = self.weight if a0 is None else float(np.mean(a0))
            interval = None if a0 is None else np.quantile(np.ravel(a0), [0.025, 0.975]).tolist()
            if a0 is not None and exact is not None:  # exact: from the grid of a0
                weight = float(exact.mean("a0"))
                interval = exact.quantile("a0", [0.025, 0.975]).tolist()
            history = self.historical
            prior_mean, prior_var = power_prior_mu_moments(
                weight, history.estimate, history.se, priors
            )
            report |= {
                "a0": weight,
                "a0_learned": a0 is not None,
                "a0_interval": interval,
                "prior_ess": None if sigma is None else sigma**2 / prior_var,
            }
        report |= {
            "prior_mean": float(prior_mean),
            "prior_sd": float(np.sqrt(prior_var)),
            "prior_share": posterior_var / prior_var,
        }
        return report


def _separation(mu: np.ndarray, responsibility: np.ndarray) -> float:
    """Measure how far apart the posteriors of ``mu`` within the two components are.

    The two components of the robust MAP prior: the gap of their means over the root sum of
    their variances (draws weighted by each component's responsibility).
    """
    moments = []
    for weight in (responsibility, 1.0 - responsibility):
        mean = weight @ mu / weight.sum()
        moments.append((mean, weight @ (mu - mean) ** 2 / weight.sum()))
    (first, first_var), (second, second_var) = moments
    return float(abs(first - second) / np.sqrt(first_var + second_var))


def unit_information_sd(data: StudyData) -> float | None:
    """Estimate the SD of one person's contribution to an effect estimate.

    ``se * sqrt(n)``, the median over sites: the unit in which the prior's effective sample
    size counts people.

    Parameters
    ----------
    data : StudyData
        The current data: site summaries, arm counts or records.

    Returns
    -------
    float or None
        The SD, in the effect's units; None for site summaries without ``n``.

    Examples
    --------
    >>> import sitefx
    >>> round(unit_information_sd(sitefx.load("studies/teacher_expectancy").data), 2)
    2.01
    >>> unit_information_sd(sitefx.load("studies/eight_schools").data) is None
    True
    """
    summaries = data.raw_site_effects()
    if summaries.n is None:
        return None
    return float(np.median(summaries.se * np.sqrt(summaries.n)))


def describe(report: dict) -> str:
    """Describe in one line what was borrowed.

    Parameters
    ----------
    report : dict
        What :meth:`Borrowing.report` returned.

    Returns
    -------
    str
        The method, the number of historical studies, the prior's weight or ``a0``, what
        the prior is worth in people (when known) and its share of ``mu``'s precision.

    Examples
    --------
    >>> report = {"method": "power", "historical_studies": 10, "a0": 0.5,
    ...           "a0_learned": False, "prior_ess": 120.0, "prior_share": 0.3}
    >>> print(describe(report))  # doctest: +NORMALIZE_WHITESPACE
    borrowing: power prior from 10 studies, a0 0.50 (fixed), prior worth 120 people;
    prior share of mu's precision 0.30
    """
    ess = report["prior_ess"]
    people = "" if ess is None else f", prior worth {ess:.0f} people"
    if report["method"] == "map":
        detail = (
            f"robust MAP prior from {report['historical_studies']} studies (mean "
            f"{report['map_mean']:.3g}, sd {report['map_sd']:.3g}, vague weight "
            f"{report['robust_weight']:.2g}); P(conflict) {report['conflict']:.2f}"
        )
    else:
        how = "learned" if report["a0_learned"] else "fixed"
        detail = (
            f"power prior from {report['historical_studies']} studies, a0 {report['a0']:.2f} "
            f"({how})"
        )
    return f"borrowing: {detail}{people}; prior share of mu's precision {report['prior_share']:.2f}"
