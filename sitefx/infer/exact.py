"""Exact posterior of the normal-normal model, without MCMC.

For site summaries ``y_j ~ N(theta_j, s_j)``, ``theta_j ~ N(mu, tau)`` with a normal (or flat)
prior on ``mu`` and any prior density on ``tau``:

* given ``tau``, ``mu`` is normal with mean ``mu_hat(tau)`` and variance ``V(tau)``, and the
  marginal likelihood ``p(y | tau)`` is closed-form (Gelman et al., BDA3, section 5.4);
* ``tau`` is integrated numerically on a grid in ``log tau``, chosen adaptively: a coarse scan
  and the mode locate the posterior mass (cut at a bounded prior's edges), then a
  Gauss-Legendre rule (exponentially convergent for the smooth integrand) doubles its nodes
  until posterior means and SDs of ``mu`` and ``tau`` change by less than ``rtol``
  posterior SDs;
* every other quantity (``mu``, ``theta_j``, ``theta_new``) is then a finite mixture of normals
  over the grid nodes, as in bayesmeta's DIRECT algorithm (Röver 2020, J Stat Softw 93(6)),
  so densities, moments and quantiles are computed directly.

Error bound: ``error_estimate`` is the largest change in those moments between the last two
grids, in posterior-SD units; it bounds the error of the finer grid because the quadrature
error falls much faster than the node count grows. Tests check it against brute-force 2-D
integration. The CDF of ``tau`` is the integral of the density's Legendre series on the same
nodes (as accurate as the quadrature); ``tau`` is drawn by inverse CDF on a 1,025-point table
of it, and everything else exactly given ``tau``.
"""

import dataclasses
import functools
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.polynomial import Legendre, legendre
from scipy import interpolate, optimize, special

from sitefx.errors import SitefxInputError
from sitefx.models.priors import Priors

TAIL = 40.0  # the grid covers where log density > max - TAIL (mass beyond ~ e^-40)
COARSE_NODES = 600
START_NODES = 32
MAX_NODES = 4096
CDF_NODES = 1025
RTOL = 1e-9
QUANTILE_TOL = 1e-10  # in probability
EXACT_FAMILIES = {"normal", "flat"}


def supports_exact(priors: Priors) -> bool:
    """Whether the exact method applies: normal or flat priors on ``mu`` and on the moderator
    coefficients ``gamma`` (any prior on tau)."""
    return priors.mu.family in EXACT_FAMILIES and (
        priors.gamma is None or priors.gamma.family in EXACT_FAMILIES
    )


@dataclass(frozen=True)
class _CoefficientPrior:
    """Normal prior on the coefficients ``(mu, gamma)`` as mean and (diagonal) precision."""

    mean: np.ndarray
    precision: np.ndarray  # 0 on the diagonal for a flat prior

    @classmethod
    def from_priors(cls, priors: Priors, n_moderators: int) -> "_CoefficientPrior":
        if not supports_exact(priors):
            raise SitefxInputError(
                f"the exact method needs normal or flat priors on mu and gamma; got mu ~ "
                f"{priors.mu}, gamma ~ {priors.gamma} (use method='nuts')"
            )
        specs = [priors.mu] + [priors.gamma] * n_moderators
        means = [0.0 if p.family == "flat" else p.params[0] for p in specs]
        precisions = [0.0 if p.family == "flat" else 1.0 / p.params[1] ** 2 for p in specs]
        return cls(np.array(means), np.diag(precisions))


def _conditional(
    log_tau: np.ndarray, y: np.ndarray, se: np.ndarray, design: np.ndarray, prior: _CoefficientPrior
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Given each ``log tau``: mean and covariance of the coefficients ``(mu, gamma)`` and
    ``log p(y | tau)`` (up to a constant), by generalized least squares."""
    weight = 1.0 / (se**2 + np.exp(2.0 * log_tau)[:, None])  # (nodes, sites)
    precision = np.einsum("kj,ja,jb->kab", weight, design, design) + prior.precision
    right = (weight * y) @ design + prior.precision @ prior.mean
    covariance = np.linalg.inv(precision)
    mean = np.einsum("kab,kb->ka", covariance, right)
    residual = np.sum(weight * (y - mean @ design.T) ** 2, axis=1)
    offset = mean - prior.mean
    residual += np.einsum("ka,ab,kb->k", offset, prior.precision, offset)
    log_det = np.linalg.slogdet(covariance)[1]
    log_marginal = 0.5 * np.sum(np.log(weight), axis=1) + 0.5 * log_det - 0.5 * residual
    return mean, covariance, log_marginal


@dataclass(frozen=True, kw_only=True)
class ExactPosterior:
    """The posterior as a mixture over a grid of ``tau`` values.

    Attributes
    ----------
    log_tau, weight : ndarray, shape (n_nodes,)
        Grid nodes and their posterior mass (sums to 1).
    coefficient_mean, coefficient_cov : ndarray, shape (n_nodes, p) and (n_nodes, p, p)
        ``(mu, gamma) | tau, y`` at each node (``p = 1 + n_moderators``).
    estimate, se : ndarray, shape (n_sites,)
    design : ndarray, shape (n_sites, p)
        A column of ones and the centred moderators.
    bounds : (float, float)
        The interval of log tau integrated over (outside it: < e^-40 of the mass).
    error_estimate : float
        Change of the moments between the last two grids, in posterior SDs.
    """

    log_tau: np.ndarray
    weight: np.ndarray
    coefficient_mean: np.ndarray
    coefficient_cov: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    design: np.ndarray
    bounds: tuple[float, float]
    error_estimate: float

    @property
    def tau(self) -> np.ndarray:
        return np.exp(self.log_tau)

    def components(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Means and variances of the normal mixture components of ``name`` given each node.

        Shapes (n_nodes,) for ``mu`` and ``theta_new``, (n_nodes, n_sites) for ``theta``,
        (n_nodes, n_moderators) for ``gamma``.
        """
        if name not in self._components:
            self._components[name] = self._mixture_components(name)
        return self._components[name]

    @cached_property
    def _components(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {}

    def _mixture_components(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        mean, cov = self.coefficient_mean, self.coefficient_cov
        if name == "mu":
            return mean[:, 0], cov[:, 0, 0]
        if name == "gamma":
            return mean[:, 1:], np.diagonal(cov, axis1=1, axis2=2)[:, 1:]
        if name == "theta_new":  # a new site at the average moderator values
            return mean[:, 0], cov[:, 0, 0] + self.tau**2
        if name == "theta":
            fitted = mean @ self.design.T
            fitted_var = np.einsum("ja,kab,jb->kj", self.design, cov, self.design)
            shrink = self.se**2 / (self.se**2 + self.tau[:, None] ** 2)
            theta_mean = shrink * fitted + (1 - shrink) * self.estimate
            return theta_mean, (1 - shrink) * self.se**2 + shrink**2 * fitted_var
        raise KeyError(f"no mixture for '{name}'; use mu, gamma, theta or theta_new")

    def mean(self, name: str) -> np.ndarray:
        if name == "tau":
            return np.asarray(self.weight @ self.tau)
        means, _ = self.components(name)
        return np.tensordot(self.weight, means, axes=1)

    def sd(self, name: str) -> np.ndarray:
        if name == "tau":
            return np.sqrt(self.weight @ self.tau**2 - self.mean("tau") ** 2)
        means, variances = self.components(name)
        second = np.tensordot(self.weight, variances + means**2, axes=1)
        return np.sqrt(second - self.mean(name) ** 2)

    def quantile(self, name: str, probs: np.ndarray) -> np.ndarray:
        """Quantiles, shape (len(probs),), or (len(probs), n) for ``theta`` and ``gamma``."""
        probs = np.asarray(probs, dtype=float)
        if name == "tau":
            return np.exp([self._log_tau_quantile(prob) for prob in probs])
        means, variances = self.components(name)
        result = _mixture_quantile(self.weight, means, np.sqrt(variances), probs)
        return result[:, 0] if means.ndim == 1 else result

    def cdf(self, name: str, x: float) -> np.ndarray:
        """``P(name <= x)``: a number for ``mu``, ``tau`` and ``theta_new``, one per site for
        ``theta``, one per moderator for ``gamma``."""
        if name == "tau":
            return np.asarray(self._tau_cdf(np.log(x)) if x > 0 else 0.0)
        means, variances = self.components(name)
        below = special.ndtr((x - means) / np.sqrt(variances))
        return np.tensordot(self.weight, below, axes=1)

    def pdf(self, name: str, x: np.ndarray) -> np.ndarray:
        """Posterior density at ``x`` (for ``theta``: x of shape (m,), result (m, n_sites))."""
        x = np.asarray(x, dtype=float)
        if name == "tau":  # the density of log tau, divided by the Jacobian
            return self._tau_cdf.deriv()(np.log(x)) / x
        means, variances = self.components(name)
        sds = np.sqrt(variances)
        z = (x.reshape((-1,) + (1,) * means.ndim) - means) / sds
        return np.tensordot(
            np.exp(-0.5 * z**2) / (sds * np.sqrt(2 * np.pi)), self.weight, axes=([1], [0])
        )

    @cached_property
    def _tau_cdf(self) -> Legendre:
        """CDF of log tau, exact to the quadrature's precision: the density at the
        Gauss-Legendre nodes determines its Legendre series (discrete orthogonality), whose
        integral is the CDF at any point, at O(n_nodes) per evaluation."""
        nodes = len(self.log_tau)
        low, high = self.bounds
        unit = (2 * self.log_tau - low - high) / (high - low)  # nodes on [-1, 1]
        # self.weight = Gauss weight x density on [-1, 1], so these are the projections.
        coefficients = (np.arange(nodes) + 0.5) * (
            legendre.legvander(unit, nodes - 1).T @ self.weight
        )
        density = Legendre(coefficients * 2 / (high - low), domain=[low, high])
        return density.integ(lbnd=low)

    @cached_property
    def _tau_table(self) -> interpolate.CubicHermiteSpline:
        """The CDF series on a 1,025-point table, joined by cubic Hermite pieces whose slopes
        are the density (error ~1e-10): quantiles and draws then need no series evaluations."""
        log_tau = np.linspace(*self.bounds, CDF_NODES)
        cdf = np.maximum.accumulate(np.clip(self._tau_cdf(log_tau), 0.0, 1.0))
        density = np.maximum(self._tau_cdf.deriv()(log_tau), 0.0)
        return interpolate.CubicHermiteSpline(log_tau, cdf, density)

    def _log_tau_quantile(self, prob: float) -> float:
        table = self._tau_table
        i = int(np.clip(np.searchsorted(table(table.x), prob), 1, len(table.x) - 1))
        return optimize.brentq(lambda t: table(t) - prob, table.x[i - 1], table.x[i], xtol=1e-13)

    @cached_property
    def _coefficients_given_log_tau(self) -> tuple[interpolate.CubicSpline, ...]:
        """Splines over log tau of the coefficients' mean and Cholesky factor: both are smooth,
        so the spline is exact to ~1e-9 relative at the grid's density, and drawing costs
        O(1) per draw instead of a least-squares solve."""
        cholesky = np.linalg.cholesky(self.coefficient_cov)
        return (
            interpolate.CubicSpline(self.log_tau, self.coefficient_mean),
            interpolate.CubicSpline(self.log_tau, cholesky),
        )

    def draws(self, *, chains: int, draws: int, seed: int) -> dict[str, np.ndarray]:
        """Independent posterior draws shaped (chains, draws, ...), exact given ``tau``."""
        rng = np.random.default_rng(seed)
        shape = (chains, draws)
        table = self._tau_table  # inverse CDF by linear interpolation: error << MC error
        log_tau = np.interp(rng.uniform(size=chains * draws), table(table.x), table.x)
        tau = np.exp(log_tau)
        mean, cholesky = (spline(log_tau) for spline in self._coefficients_given_log_tau)
        coefficients = mean + np.einsum("dab,db->da", cholesky, rng.standard_normal(mean.shape))
        fitted = coefficients @ self.design.T
        # theta_j | coefficients, tau, y ~ N(y_j + B (fitted_j - y_j), sqrt(1 - B) se_j)
        # with B = se^2 / (se^2 + tau^2); in place, since these are draws x sites arrays.
        variance = self.se**2
        shrink = np.add.outer(tau**2, variance)
        np.divide(variance, shrink, out=shrink)
        theta = rng.standard_normal(shrink.shape)
        theta *= np.sqrt(variance * (1.0 - shrink))
        theta += self.estimate
        fitted -= self.estimate
        fitted *= shrink
        theta += fitted
        mu = coefficients[:, 0]
        result = {
            "mu": mu.reshape(shape),
            "tau": tau.reshape(shape),
            "theta": theta.reshape(*shape, -1),
            "theta_new": (mu + tau * rng.standard_normal(mu.shape)).reshape(shape),
        }
        if self.design.shape[1] > 1:
            result["gamma"] = coefficients[:, 1:].reshape(*shape, -1)
        return result


def normal_normal_exact(
    estimate: np.ndarray,
    se: np.ndarray,
    *,
    priors: Priors,
    moderators: np.ndarray | None = None,
    rtol: float = RTOL,
) -> ExactPosterior:
    """Compute the exact posterior of the normal-normal model (with optional moderators:
    ``theta_j ~ N(mu + w_j gamma, tau)``, ``w`` centred so ``mu`` is the average effect).

    Examples
    --------
    >>> import numpy as np
    >>> from sitefx.models.priors import Prior, Priors
    >>> priors = Priors(mu=Prior("flat", ()), tau=Prior("half-cauchy", (5.0,)))
    >>> y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])
    >>> se = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])
    >>> posterior = normal_normal_exact(y, se, priors=priors)
    >>> round(float(posterior.mean("mu")), 1), posterior.error_estimate < 1e-9
    (7.8, True)
    """
    estimate, se = np.asarray(estimate, float), np.asarray(se, float)
    if moderators is None:
        moderators = np.zeros((len(estimate), 0))
    design = np.column_stack([np.ones(len(estimate)), moderators - moderators.mean(axis=0)])
    prior = _CoefficientPrior.from_priors(priors, moderators.shape[1])
    tau_prior = priors.tau.distribution()

    def log_density(log_tau: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mean, cov, log_marginal = _conditional(log_tau, estimate, se, design, prior)
        tau = np.exp(log_tau)
        inside = np.asarray(tau_prior.support(tau), dtype=bool)  # e.g. uniform(0, u)
        log_prior = np.full(tau.shape, -np.inf)
        log_prior[inside] = np.asarray(tau_prior.log_prob(tau[inside]), dtype=float)
        with np.errstate(invalid="ignore"):
            total = log_marginal + log_prior + log_tau  # + log tau: the Jacobian
        return np.where(np.isnan(total), -np.inf, total), mean, cov

    low, high = _mass_bounds(log_density, _scale(estimate, se))
    if priors.tau.family == "uniform":  # integrate up to the prior's edges, not across them
        lower, upper = priors.tau.params
        low, high = max(low, np.log(lower)) if lower > 0 else low, min(high, np.log(upper))
    nodes, previous = START_NODES, None
    while True:
        unit_nodes, unit_weights = _gauss_legendre(nodes)
        log_tau = low + (high - low) * unit_nodes
        values, mean, cov = log_density(log_tau)
        weight = unit_weights * np.exp(values - values.max())
        weight /= weight.sum()
        posterior = ExactPosterior(
            log_tau=log_tau,
            weight=weight,
            coefficient_mean=mean,
            coefficient_cov=cov,
            estimate=estimate,
            se=se,
            design=design,
            bounds=(low, high),
            error_estimate=np.inf,
        )
        moments = np.array([posterior.mean(n) for n in ("mu", "tau")])
        sds = np.array([posterior.sd(n) for n in ("mu", "tau")])
        if previous is not None:
            change = np.max(
                np.abs(np.concatenate([moments - previous[0], sds - previous[1]])) / np.tile(sds, 2)
            )
            if change < rtol or nodes >= MAX_NODES:
                return dataclasses.replace(posterior, error_estimate=float(change))
        previous = (moments, sds)
        nodes *= 2


@functools.cache
def _gauss_legendre(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1]."""
    x, w = special.roots_legendre(nodes)  # O(n^2); numpy's leggauss is O(n^3)
    return (x + 1) / 2, w / 2


def _scale(estimate: np.ndarray, se: np.ndarray) -> float:
    return max(float(np.std(estimate)), float(np.median(se)))


def _mass_bounds(log_density, scale: float) -> tuple[float, float]:
    """An interval of log tau holding all but ~e^-TAIL of the posterior mass."""
    coarse = np.linspace(np.log(scale) - 25.0, np.log(scale) + 12.0, COARSE_NODES)
    values = log_density(coarse)[0]
    if not np.isfinite(values).any():
        raise SitefxInputError("the posterior of tau is zero everywhere; check the tau prior")
    best = int(np.argmax(values))
    lo, hi = coarse[max(best - 1, 0)], coarse[min(best + 1, COARSE_NODES - 1)]
    mode = optimize.minimize_scalar(
        lambda t: -log_density(np.array([t]))[0][0], bounds=(lo, hi), method="bounded"
    ).x
    step = 1e-3
    around = log_density(np.array([mode - step, mode, mode + step]))[0]
    curvature = -(around[0] - 2 * around[1] + around[2]) / step**2
    spread = 1.0 / np.sqrt(curvature) if curvature > 0 else coarse[1] - coarse[0]
    inside = np.flatnonzero(values > values.max() - TAIL)
    spacing = coarse[1] - coarse[0]
    low = min(coarse[inside[0]] - spacing, mode - 15 * spread)
    high = max(coarse[inside[-1]] + spacing, mode + 15 * spread)
    return low, high


def _mixture_quantile(
    weight: np.ndarray, means: np.ndarray, sds: np.ndarray, probs: np.ndarray
) -> np.ndarray:
    """Quantiles of sum_k weight_k N(means_k, sds_k): Newton steps kept inside a shrinking
    bracket (bisection when a step leaves it), so even multimodal mixtures converge.

    ``means`` and ``sds`` have shape (n_nodes,) or (n_nodes, m); the result (len(probs), m).
    """
    # Nodes whose joint mass is below the tolerance cannot move a quantile: leave them out.
    order = np.argsort(weight)
    keep = np.ones(len(weight), dtype=bool)
    keep[order[np.cumsum(weight[order]) < QUANTILE_TOL / 10]] = False
    weight = weight[keep]
    means = means[keep].reshape(len(weight), -1)
    sds = sds[keep].reshape(len(weight), -1)
    center = weight @ means
    spread = np.sqrt(weight @ (sds**2 + means**2) - center**2)
    shape = (len(probs), means.shape[1])
    low = np.broadcast_to(np.min(means - 40 * sds, axis=0), shape).copy()
    high = np.broadcast_to(np.max(means + 40 * sds, axis=0), shape).copy()
    x = np.clip(center + spread * special.ndtri(probs)[:, None], low, high)
    inverse_sds = 1.0 / sds
    for _ in range(200):
        z = (x[:, None, :] - means) * inverse_sds
        gap = np.tensordot(special.ndtr(z), weight, axes=([1], [0])) - probs[:, None]
        converged = np.abs(gap) < QUANTILE_TOL
        if converged.all():
            return x
        low = np.where(gap < 0, x, low)
        high = np.where(gap > 0, x, high)
        density = np.tensordot(np.exp(-0.5 * z**2) * inverse_sds, weight, axes=([1], [0]))
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - gap * np.sqrt(2 * np.pi) / density
        inside = (newton >= low) & (newton <= high)
        x = np.where(converged, x, np.where(inside, newton, (low + high) / 2))
    raise RuntimeError("mixture quantiles did not converge")
