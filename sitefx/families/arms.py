"""Arm counts: binary outcomes summarized per site and arm, on the log-odds scale.

Events and people in each arm of each site (:func:`sitefx.models.hierarchical.binomial_arms`);
binary individual records without covariates, clusters or moderators are fitted through
their arm counts, which are sufficient statistics (:mod:`sitefx.families.records`).
"""

import dataclasses
from collections.abc import Callable

import numpy as np
import xarray as xr
from scipy import special

from sitefx.data.schema import ArmSummaries
from sitefx.errors import SitefxInputError
from sitefx.families.registry import Family, Model, register
from sitefx.models.priors import Prior, Priors

# Binary outcomes work on the log-odds scale: odds ratios beyond e^5 get little mass.
LOG_ODDS_PRIORS = {
    "mu": Prior("normal", (0.0, 2.5)),
    "tau": Prior("half-normal", (1.0,)),
    "alpha_mean": Prior("normal", (0.0, 2.5)),
    "alpha_sd": Prior("half-normal", (2.5,)),
}


class ArmCounts(Family):
    """The binomial family of per-site, per-arm counts (see the module docstring).

    Examples
    --------
    >>> print(ArmCounts().default_priors(None, robust=False).describe())
      mu ~ normal(0, 2.5)
      tau ~ half-normal(1)
      alpha_mean ~ normal(0, 2.5)
      alpha_sd ~ half-normal(2.5)
    """

    name = "arms"
    description = "arm counts"
    data_kind = "arms"
    shrinkable = None
    compares_site_distributions = False
    effect_sizes = False  # log odds ratios

    def matches(self, data: object) -> bool:
        """Return whether ``data`` is :class:`ArmSummaries`."""
        return isinstance(data, ArmSummaries)

    def check(self, data: ArmSummaries, *, robust: bool, horseshoe: bool) -> None:
        """Refuse Student-t site effects, which need per-record data, and the horseshoe."""
        if robust:
            raise SitefxInputError(
                "Student-t site effects (--site-dist student-t) are available for site "
                "summaries and individual records; give binary outcomes as records (--family "
                "binomial) to use them"
            )
        if horseshoe:
            raise SitefxInputError(
                "the horseshoe (--covariate-prior horseshoe) shrinks covariates or moderators; "
                "arm counts have neither"
            )

    def data_scale(self, data: ArmSummaries) -> float:
        """Return 1: the log-odds scale."""
        return 1.0

    def default_priors(self, data: ArmSummaries, *, robust: bool) -> Priors:
        """Return the log-odds priors (:data:`LOG_ODDS_PRIORS`)."""
        return Priors(**LOG_ODDS_PRIORS)

    def shrinkage(self, data: ArmSummaries) -> None:
        """Return None: arm counts have no coefficients to shrink."""
        return None

    def exact_obstacle(self, data: ArmSummaries, priors: Priors, *, robust: bool) -> str:
        """Return why the exact method does not apply: it needs site summaries."""
        return self.description

    def model(
        self, data: ArmSummaries, priors: Priors, *, collapse: bool, site_df: float | None
    ) -> Model:
        """Return :func:`~sitefx.models.hierarchical.binomial_arms`."""
        from sitefx.models.hierarchical import binomial_arms  # numpyro: only to sample

        arguments = {
            "events_treated": data.events_treated,
            "n_treated": data.n_treated,
            "events_control": data.events_control,
            "n_control": data.n_control,
            "priors": priors,
        }
        return Model(binomial_arms, arguments, "binomial_arms")

    def data_groups(self, data: ArmSummaries) -> tuple[dict, dict, dict]:
        """Return the events as observed, the arm sizes and raw log odds ratios as constant."""
        raw = data.raw_site_effects()
        observed = {"events_treated": data.events_treated, "events_control": data.events_control}
        constant = {
            "n_treated": data.n_treated,
            "n_control": data.n_control,
            "raw_estimate": raw.estimate,
            "raw_se": raw.se,
        }
        return observed, constant, {}

    def simulation_obstacle(self, data: ArmSummaries, *, robust: bool) -> str | None:
        """Return None: every arm-count design can be simulated."""
        return None

    def simulate(
        self,
        data: ArmSummaries,
        priors: Priors,
        draw: Callable[..., np.ndarray | float],
        rng: np.random.Generator,
        *,
        site_df: float | None,
        robust: bool,
    ) -> tuple[ArmSummaries, dict[str, np.ndarray]]:
        """Return counts drawn given control log-odds and effects drawn from the priors."""
        truth, alpha = site_intercepts_and_effects(priors, draw, rng, data.n_sites)
        simulated = dataclasses.replace(
            data,
            events_control=rng.binomial(data.n_control, special.expit(alpha)),
            events_treated=rng.binomial(data.n_treated, special.expit(alpha + truth["theta"])),
        )
        return simulated, truth


def site_intercepts_and_effects(
    priors: Priors,
    draw: Callable[..., np.ndarray | float],
    rng: np.random.Generator,
    n_sites: int,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Draw ``mu``, ``tau``, then site intercepts and effects, correlated by ``rho``.

    Parameters
    ----------
    priors : Priors
        With ``alpha_mean``, ``alpha_sd`` and (records) ``rho``.
    draw : callable
        ``draw(prior, size=None)`` draws from a prior.
    rng : numpy.random.Generator
        The simulation's stream.
    n_sites : int
        Sites to draw.

    Returns
    -------
    truth : dict of str to ndarray
        ``mu``, ``tau`` and ``theta``.
    alpha : ndarray, shape (n_sites,)
        Site intercepts (control log-odds or means).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> priors = ArmCounts().default_priors(None, robust=False)
    >>> draw = lambda prior, size=None: float(prior.params[0])  # each prior's location
    >>> truth, alpha = site_intercepts_and_effects(priors, draw, rng, 3)
    >>> sorted(truth), alpha.shape
    (['mu', 'tau', 'theta'], (3,))
    """
    truth = {"mu": draw(priors.mu), "tau": draw(priors.tau)}
    rho = 0.0
    if priors.rho is not None:  # a 2x2 LKJ(eta) correlation: (rho + 1) / 2 ~ beta(eta, eta)
        eta = priors.rho.params[0]
        rho = 2 * rng.beta(eta, eta) - 1
    z = rng.standard_normal((2, n_sites))
    alpha = draw(priors.alpha_mean) + draw(priors.alpha_sd) * z[0]
    truth["theta"] = truth["mu"] + truth["tau"] * (rho * z[0] + np.sqrt(1 - rho**2) * z[1])
    return truth, alpha

    def per_site_obstacle(self, tree: xr.DataTree, data: ArmSummaries | None) -> str:
        """Return why arm counts have no per-site likelihood here: not implemented yet."""
        return self.description

    def site_log_likelihood(self, tree: xr.DataTree, data: ArmSummaries | None) -> np.ndarray:
        """Refuse: see :meth:`per_site_obstacle`."""
        raise SitefxInputError(f"no per-site likelihood for {self.description}")


register(ArmCounts())
