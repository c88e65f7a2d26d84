"""Arm counts: binary outcomes summarized per site and arm, on the log-odds scale.

Events and people in each arm of each site (:func:`sitefx.models.hierarchical.binomial_arms`);
binary individual records without covariates, clusters or moderators are fitted through
their arm counts, which are sufficient statistics (:mod:`sitefx.families.records`).
"""

import dataclasses
import functools
from collections.abc import Callable

import numpy as np
import xarray as xr
from scipy import special

from sitefx.backend import double_precision
from sitefx.data.schema import ArmSummaries
from sitefx.errors import SitefxInputError
from sitefx.families.predictive import (
    posterior_draws,
    predictive_groups,
)
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

    def per_site_obstacle(self, tree: xr.DataTree, data: ArmSummaries | None) -> None:
        """Return None: every site has its marginal likelihood, from the fit alone."""
        return None

    def site_log_likelihood(self, tree: xr.DataTree, data: ArmSummaries | None) -> np.ndarray:
        """Return each site's marginal log-likelihood per draw, shape (chain, draw, site).

        Both arms' binomial likelihoods with the site's control log-odds ``alpha_j`` and
        effect ``theta_j`` integrated out (:func:`arm_marginal`).
        """
        observed, constant = tree["observed_data"], tree["constant_data"]
        counts = [
            observed["events_treated"].values,
            constant["n_treated"].values,
            observed["events_control"].values,
            constant["n_control"].values,
        ]
        return arm_marginal(*counts, posterior_draws(tree, ARM_PARAMETERS))

    def predictive_groups(
        self, tree: xr.DataTree, data: ArmSummaries, priors: Priors, seed: int
    ) -> dict[str, xr.Dataset]:
        """Return the groups ArviZ's LOO, predictive checks and prior plots read.

        - ``log_likelihood``: ``site_marginal``, each site's marginal log-likelihood
          (:meth:`site_log_likelihood`): :func:`arviz_stats.loo` is leave-one-site-out.
        - ``posterior_predictive``: ``events_treated`` and ``events_control``, replicated
          events per arm and site, binomial given each draw's ``alpha_j`` and ``theta_j``.
        - ``prior`` and ``prior_predictive``: the same from draws of the priors, when every
          prior can be drawn (not flat).
        """
        return arm_groups(tree, priors, seed, lambda: self.site_log_likelihood(tree, data))


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


ARM_PARAMETERS = ("alpha_mean", "alpha_sd", "mu", "tau")
HERMITE_NODES = 16
QUADRATURE_BATCH = 256  # draws evaluated at once


def replicate_arms(
    n_treated: np.ndarray, n_control: np.ndarray
) -> Callable[[dict[str, np.ndarray], np.random.Generator], dict[str, np.ndarray]]:
    """Return the replication of events per arm and site given draws of ``alpha``, ``theta``.

    Parameters
    ----------
    n_treated, n_control : ndarray of int, shape (n_sites,)
        People in each arm of each site.

    Returns
    -------
    callable
        ``replicate(draws, rng)``: ``events_treated ~ Binomial(n_treated, expit(alpha +
        theta))`` and ``events_control ~ Binomial(n_control, expit(alpha))`` per draw.

    Examples
    --------
    >>> draws = {"alpha": np.zeros((1, 2, 3)), "theta": np.zeros((1, 2, 3))}
    >>> events = replicate_arms(np.full(3, 10), np.full(3, 10))(draws, np.random.default_rng(0))
    >>> sorted(events), events["events_treated"].shape
    (['events_control', 'events_treated'], (1, 2, 3))
    """

    def replicate(draws: dict[str, np.ndarray], rng: np.random.Generator) -> dict:
        alpha, theta = draws["alpha"], draws["theta"]
        return {
            "events_treated": rng.binomial(n_treated, special.expit(alpha + theta)),
            "events_control": rng.binomial(n_control, special.expit(alpha)),
        }

    return replicate


def arm_groups(
    tree: xr.DataTree,
    priors: Priors,
    seed: int,
    likelihood: Callable[[], np.ndarray] | None,
) -> dict[str, xr.Dataset]:
    """Return the ArviZ groups of a fit through arm counts (:meth:`ArmCounts.predictive_groups`).

    Parameters
    ----------
    tree : xarray.DataTree
        The fit, with ``n_treated`` and ``n_control`` in its ``constant_data``.
    priors : Priors
        Its priors.
    seed : int
        Its seed (the draws come from its ``predictive`` stream).
    likelihood : callable or None
        Returns each site's log-likelihood per draw; None for no ``log_likelihood``.

    Returns
    -------
    dict of str to xarray.Dataset

    Examples
    --------
    >>> import sitefx
    >>> study = sitefx.load("studies/reading_pass")
    >>> fit = sitefx.SiteEffects(seed=5).fit(study)
    >>> sorted(arm_groups(fit.posterior_, fit.priors_, 5, None))
    ['posterior_predictive', 'prior', 'prior_predictive']
    """
    constant = tree["constant_data"]
    return predictive_groups(
        tree,
        replicate_arms(constant["n_treated"].values, constant["n_control"].values),
        likelihood=likelihood,
        priors=priors,
        used=[priors.mu, priors.tau, priors.alpha_mean, priors.alpha_sd],
        seed=seed,
        intercepts=True,
    )


def arm_marginal(
    events_treated: np.ndarray,
    n_treated: np.ndarray,
    events_control: np.ndarray,
    n_control: np.ndarray,
    draws: dict[str, np.ndarray],
    *,
    coefficient: bool = True,
) -> np.ndarray:
    """Return each site's binomial likelihood with its log-odds integrated out, per draw.

    ``log int int Bin(e_c | n_c, expit(a)) Bin(e_t | n_t, expit(a + t)) N(a | alpha_mean,
    alpha_sd) N(t | mu, tau) da dt``, by adaptive Gauss-Hermite quadrature
    (:data:`HERMITE_NODES` per axis) around the normal approximation of the integrand: the
    empirical log-odds of each arm (plus one half) with their delta-method variances,
    combined with the normal priors. Accurate whether the data or the priors dominate.

    Parameters
    ----------
    events_treated, n_treated, events_control, n_control : ndarray, shape (n_sites,)
        Events and people per arm and site.
    draws : dict of str to ndarray
        ``alpha_mean``, ``alpha_sd``, ``mu`` and ``tau``, each shaped (chain, draw).
    coefficient : bool, default True
        Include the binomial coefficients (arm counts); without them, the likelihood of
        the individual 0/1 records the counts sum up.

    Returns
    -------
    ndarray, shape (chain, draw, site)

    Examples
    --------
    >>> one = {name: np.array([[value]]) for name, value in
    ...        [("alpha_mean", 0.0), ("alpha_sd", 1e-9), ("mu", 0.0), ("tau", 1e-9)]}
    >>> value = arm_marginal(np.array([1]), np.array([2]), np.array([1]), np.array([2]), one)
    >>> round(float(np.exp(value[0, 0, 0])), 6)  # p = 1/2 exactly: (2 * 1/4) ** 2
    0.25
    """
    shape = draws["mu"].shape
    counts = [np.asarray(x, dtype=float) for x in (events_treated, n_treated)]
    counts += [np.asarray(x, dtype=float) for x in (events_control, n_control)]
    flat = np.stack([draws[name].ravel() for name in ARM_PARAMETERS], axis=-1)
    total = np.array(_arm_terms()(*counts, flat))
    if coefficient:
        e_t, n_t, e_c, n_c = counts
        total += _log_choose(n_t, e_t) + _log_choose(n_c, e_c)
    return total.reshape(*shape, -1)


@functools.cache
def _arm_terms() -> Callable:
    """Return the compiled quadrature of :func:`arm_marginal`, without coefficients.

    ``terms(e_t, n_t, e_c, n_c, draws)`` with ``draws`` shaped (draw, 4), the columns
    :data:`ARM_PARAMETERS`; returns (draw, site). One program for every fit (it compiles
    once per shape), mapped over blocks of draws to bound its memory.
    """
    import jax
    import jax.numpy as jnp

    z, w = np.polynomial.hermite.hermgauss(HERMITE_NODES)
    za, zt = (axis.ravel() for axis in np.meshgrid(z, z, indexing="ij"))
    log_w = np.log(np.outer(w, w)).ravel() + za**2 + zt**2

    def log_binomial(events, n, logit):  # without the coefficient; log(1 - p) = log p - logit
        return n * jax.nn.log_sigmoid(logit) - (n - events) * logit

    def terms(e_t, n_t, e_c, n_c, draws):
        # the data's normal approximation: empirical log-odds and their variances
        hat_c, hat_t = (
            jnp.log((e_c + 0.5) / (n_c - e_c + 0.5)),
            jnp.log((e_t + 0.5) / (n_t - e_t + 0.5)),
        )
        var_c = 1 / (e_c + 0.5) + 1 / (n_c - e_c + 0.5)
        var_t = 1 / (e_t + 0.5) + 1 / (n_t - e_t + 0.5)

        def one(draw):
            alpha_mean, alpha_sd, mu, tau = draw
            # precision and mean of (a, t): priors N(alpha_mean, alpha_sd), N(mu, tau) and
            # the data's terms on a (control) and a + t (treated)
            p11 = 1 / alpha_sd**2 + 1 / var_c + 1 / var_t
            p12 = 1 / var_t
            p22 = 1 / tau**2 + 1 / var_t
            b1 = alpha_mean / alpha_sd**2 + hat_c / var_c + hat_t / var_t
            b2 = mu / tau**2 + hat_t / var_t
            det = p11 * p22 - p12**2
            mean_a, mean_t = (p22 * b1 - p12 * b2) / det, (p11 * b2 - p12 * b1) / det
            # Cholesky factor of the covariance (the inverse precision), times sqrt(2)
            l11 = jnp.sqrt(2 * p22 / det)
            l21 = -2 * p12 / det / l11
            l22 = jnp.sqrt(2 * p11 / det - l21**2)
            a = mean_a[:, None] + l11[:, None] * za  # (site, node)
            t = mean_t[:, None] + l21[:, None] * za + l22[:, None] * zt
            log_g = (
                log_binomial(e_c[:, None], n_c[:, None], a)
                + log_binomial(e_t[:, None], n_t[:, None], a + t)
                - 0.5 * ((a - alpha_mean) / alpha_sd) ** 2
                - 0.5 * ((t - mu) / tau) ** 2
                + log_w
            )
            # with the normal densities' constants and the change of variables
            scale = jnp.log(l11 * l22 / (2 * jnp.pi * alpha_sd * tau))
            return jax.scipy.special.logsumexp(log_g, axis=-1) + scale

        return jax.lax.map(one, draws, batch_size=QUADRATURE_BATCH)

    return double_precision(jax.jit(terms))


def _log_choose(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Return ``log C(n, k)``."""
    return special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)


register(ArmCounts())
