"""Exact posterior of the normal-normal model, without MCMC.

For site summaries ``y_j ~ N(theta_j, s_j)``, ``theta_j ~ N(mu + w_j gamma, tau)`` with a
normal (or flat) prior on the coefficients ``(mu, gamma)``, or a mixture of normal priors on
``mu`` (the robust meta-analytic-predictive prior of historical borrowing), and any prior
density on ``tau``:

* given ``tau`` (and a prior component), the coefficients are normal and the marginal
  likelihood ``p(y | tau)`` is closed-form (Gelman et al., BDA3, section 5.4): generalized
  least squares;
* ``tau`` is integrated numerically on a grid in ``log tau``, chosen adaptively: a scan of
  the prior's support around the data's scale and the mode locate the posterior mass, then a
  Gauss-Legendre rule (exponentially convergent for the smooth integrand) doubles its nodes
  until posterior means and SDs of ``mu`` and ``tau`` change by less than ``rtol``
  posterior SDs;
* every other quantity (``mu``, ``gamma``, ``theta_j``, ``theta_new``, any linear
  combination of the ``theta_j``) is then a finite mixture of normals over the grid nodes
  (and prior components), as in bayesmeta's DIRECT algorithm (Röver 2020, J Stat Softw
  93(6)), so densities, moments, probabilities and quantiles are computed directly
  (:class:`Mixture`).

Error bound: ``error_estimate`` is the largest change in those moments between the last two
grids, in posterior-SD units; it bounds the error of the finer grid because the quadrature
error falls much faster than the node count grows. Tests check it against brute-force 2-D
integration and bayesmeta. The CDF of ``tau`` is the integral of the density's Legendre
series on the same nodes (as accurate as the quadrature); ``tau`` is drawn by inverse CDF on
a 1,025-point table of it, and everything else exactly given ``tau``.

The posterior is stored in a fit's DataTree as the group ``exact``
(:meth:`ExactPosterior.to_dataset`, :meth:`ExactPosterior.from_dataset`), so that every
table and report made from a saved fit reads exact values.
"""

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np
import xarray as xr
from numpy.polynomial import Legendre, legendre
from scipy import interpolate, optimize

from sitefx.errors import SitefxInputError
from sitefx.infer.quadrature import (
    MAX_NODES,
    RTOL,
    START_NODES,
    ImproperPosterior,
    Mixture,
    data_scale,
    gauss_legendre,
    log_sum_exp,
    mass_bounds,
)
from sitefx.models.priors import Prior, Priors

REACH = 70.0  # the scan stops 70 e-folds (30 decades) beyond the SEs and the data's scale
TINY_SCALE, HUGE_SCALE = 1e-50, 1e50  # data scales sitefx computes with (50 decades inside)
CDF_NODES = 1025
EXACT_FAMILIES = {"normal", "flat"}
GROUP = "exact"  # the DataTree group holding the exact posterior
DIMS = ("node", "component", "coefficient", "coefficient_")  # its dims (see to_dataset)


def supports_exact(priors: Priors) -> bool:
    """Tell whether the exact method applies to these priors.

    It needs normal, flat or normal-mixture priors on ``mu`` and normal or flat priors on the
    moderator coefficients ``gamma``; any prior on tau.

    Parameters
    ----------
    priors : Priors
        The model's priors.

    Returns
    -------
    bool
        True if :func:`normal_normal_exact` can compute the posterior.

    Examples
    --------
    >>> from sitefx.models.priors import Prior, Priors
    >>> tau = Prior.parse("half-cauchy(5)")
    >>> supports_exact(Priors(mu=Prior.parse("normal(0, 10)"), tau=tau))
    True
    >>> supports_exact(Priors(mu=Prior.parse("student-t(3, 0, 10)"), tau=tau))
    False
    """
    mu_ok = priors.mu.family in EXACT_FAMILIES or hasattr(priors.mu, "mixture")
    return mu_ok and (priors.gamma is None or priors.gamma.family in EXACT_FAMILIES)


@dataclass(frozen=True)
class _CoefficientPrior:
    """Normal priors on the coefficients ``(mu, gamma)``, one per prior component.

    A mixture prior on ``mu`` has several components: means, diagonal precisions (0 for a
    flat prior), and log weights. Their log normalizing constants (over the proper
    coordinates) enter the marginal likelihood, since components with different precisions
    are mixed.
    """

    mean: np.ndarray  # (components, p)
    precision: np.ndarray  # (components, p): the diagonal
    log_weight: np.ndarray  # (components,)

    @classmethod
    def from_priors(cls, priors: Priors, n_moderators: int) -> "_CoefficientPrior":
        if not supports_exact(priors):
            raise SitefxInputError(
                f"the exact method needs normal or flat priors on mu and gamma; got mu ~ "
                f"{priors.mu}, gamma ~ {priors.gamma} (use method='nuts')"
            )
        gamma = [priors.gamma] * n_moderators
        gamma_mean = [0.0 if p.family == "flat" else p.params[0] for p in gamma]
        gamma_precision = [0.0 if p.family == "flat" else 1.0 / p.params[1] ** 2 for p in gamma]
        mixture = getattr(priors.mu, "mixture", None)
        if mixture is not None:
            mu_mean, mu_precision = mixture.mean, 1.0 / mixture.sd**2
            log_weight = np.log(mixture.weight)
        elif priors.mu.family == "flat":
            mu_mean, mu_precision, log_weight = np.zeros(1), np.zeros(1), np.zeros(1)
        else:
            mean, sd = priors.mu.params
            mu_mean, mu_precision, log_weight = np.array([mean]), np.array([sd**-2]), np.zeros(1)
        components = len(mu_mean)
        return cls(
            np.column_stack([mu_mean, np.tile(gamma_mean, (components, 1))]),
            np.column_stack([mu_precision, np.tile(gamma_precision, (components, 1))]),
            log_weight,
        )

    @property
    def log_norm(self) -> np.ndarray:
        proper = np.where(self.precision > 0, self.precision / (2 * np.pi), 1.0)
        return 0.5 * np.sum(np.log(proper), axis=1)


class PowerRows(NamedTuple):
    """Historical summaries under a power prior (Ibrahim & Chen 2000).

    Studies of the same population ``(mu, tau)`` whose likelihood counts ``a0`` times. Given
    tau, ``N(y_h | mu, sqrt(se_h^2 + tau^2))^a0`` is, in ``mu``, a site of variance
    ``(se_h^2 + tau^2) / a0`` at the average moderator values: extra rows of the least
    squares (:func:`_conditional`). ``a0`` is fixed, or None when learned with a uniform prior
    and the normalized power prior, whose ``log c(a0)`` is ``log_normalizer`` (a function of
    an array of ``a0``): then ``a0`` is integrated on a Gauss-Legendre grid in ``log a0``
    from ``A0_MIN`` to 1, as prior components (:func:`_power_components`).

    Attributes
    ----------
    estimate, se : ndarray, shape (n_studies,)
        Historical estimates and standard errors, on the current data's effect scale.
    a0 : float, optional
        The fixed power in (0, 1]; None when learned.
    log_normalizer : callable, optional
        ``log c(a0)`` at an array of ``a0`` values (a learned ``a0`` only), e.g. from
        :meth:`sitefx.infer.borrowing.PowerPrior.log_normalizer_at`.

    Examples
    --------
    >>> import numpy as np
    >>> from sitefx.models.priors import Prior, Priors
    >>> priors = Priors(mu=Prior("flat", ()), tau=Prior("half-cauchy", (5.0,)))
    >>> y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])
    >>> se = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])
    >>> history = PowerRows(np.array([5.0, 9.0]), np.array([4.0, 5.0]), a0=0.5)
    >>> with_history = normal_normal_exact(y, se, priors=priors, power=history)
    >>> alone = normal_normal_exact(y, se, priors=priors)
    >>> bool(with_history.sd("mu") < alone.sd("mu"))  # the history narrows mu
    True
    """

    estimate: np.ndarray
    se: np.ndarray
    a0: float | None = None
    log_normalizer: Callable[[np.ndarray], np.ndarray] | None = None


A0_MIN = 1e-6  # a learned a0 is integrated from here to 1 (below: at most 1e-6 of its mass)


def _a0_nodes(tau_nodes: int) -> int:
    """Return the number of Gauss-Legendre nodes of log a0 beside ``tau_nodes`` nodes of log tau.

    Refined with them, from 8 up to 64 (its integrand is smooth in log a0).
    """
    return int(np.clip(tau_nodes // 2, 8, 64))


def _power_components(power: PowerRows, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the values of ``a0`` and their log weights.

    One fixed value, or ``nodes`` Gauss-Legendre nodes in ``log a0`` with weights ``w a0 /
    c(a0)`` (the rule's weight, the Jacobian, and the normalized power prior; the prior of
    ``a0`` is uniform on (0, 1)).
    """
    if power.a0 is not None:
        return np.array([power.a0]), np.zeros(1)
    unit, unit_weight = gauss_legendre(nodes)
    low = np.log(A0_MIN)
    log_a0 = low + (0.0 - low) * unit
    a0 = np.exp(log_a0)
    log_weight = np.log(unit_weight * -low) + log_a0 - np.asarray(power.log_normalizer(a0))
    return a0, log_weight


def _conditional(
    log_tau: np.ndarray,
    y: np.ndarray,
    se: np.ndarray,
    design: np.ndarray,
    prior: _CoefficientPrior,
    power: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compute the coefficients' normal distribution given each ``log tau`` and prior component.

    Returns the mean and covariance of the coefficients ``(mu, gamma)`` (shapes (nodes,
    components, p) and (..., p, p)) and ``log p(y | tau, component) + log weight`` (nodes,
    components), up to a constant, by generalized least squares. ``power``: historical
    estimates, SEs and one ``a0`` per component, rows of the least squares that inform ``mu``
    (:class:`PowerRows`).
    """
    tau2 = np.exp(2.0 * log_tau)[:, None]
    weight = 1.0 / (se**2 + tau2)  # (nodes, sites)
    p = design.shape[1]
    current = np.einsum("kj,ja,jb->kab", weight, design, design)  # the sites' X'WX
    xwx = current[:, None]  # (nodes, 1, p, p): one per component once the history is added
    xwy = ((weight * y) @ design)[:, None]
    log_marginal = 0.5 * np.sum(np.log(weight), axis=1)[:, None]
    if power is not None:  # a0 L_h(mu, tau): rows of weight a0 / v_h on mu
        history_y, history_se, a0 = power
        history = history_se**2 + tau2  # (nodes, studies)
        first = np.zeros((p, p))
        first[0, 0] = 1.0
        xwx = xwx + (a0[:, None, None] * np.sum(1 / history, axis=1)[:, None, None, None]) * first
        shift = a0 * np.sum(history_y / history, axis=1)[:, None]  # (nodes, components)
        xwy = xwy + shift[..., None] * first[0]
        log_marginal = (
            log_marginal - 0.5 * a0 * np.sum(np.log(2 * np.pi * history), axis=1)[:, None]
        )
    precision = xwx + prior.precision[:, :, None] * np.eye(p)
    right = xwy + prior.precision * prior.mean
    covariance = np.linalg.inv(precision)
    mean = np.einsum("kcab,kcb->kca", covariance, right)
    # sum_j w (y - x b)^2 + (b - m)' P (b - m), without cancellation: the residual of the
    # first component's b0 (computed directly) and the quadratic in b - b0
    first_mean = mean[:, 0]
    residual0 = y - first_mean @ design.T
    gap = mean - first_mean[:, None]
    gradient = (weight * residual0) @ design
    residual = (
        np.sum(weight * residual0**2, axis=1)[:, None]
        - 2 * np.einsum("kca,ka->kc", gap, gradient)
        + np.einsum("kca,kab,kcb->kc", gap, current, gap)
        + np.sum(prior.precision * (mean - prior.mean) ** 2, axis=2)
    )
    if power is not None:
        misfit = (history_y[None, None, :] - mean[..., :1]) ** 2 / history[:, None, :]
        residual = residual + a0 * np.sum(misfit, axis=2)
    log_det = np.linalg.slogdet(covariance)[1]
    log_marginal = log_marginal + 0.5 * log_det - 0.5 * residual
    return mean, covariance, log_marginal + prior.log_norm + prior.log_weight


@dataclass(frozen=True)
class _GridMarginal:
    """The posterior of a positive scalar integrated on a Gauss-Legendre grid in its log.

    For ``tau`` and a learned ``a0``: grid nodes, their mass, and the interval they cover.

    The CDF is exact to the quadrature's precision: the density at the Gauss-Legendre nodes
    determines its Legendre series (discrete orthogonality), whose integral is the CDF at any
    point, at O(nodes) per evaluation. Quantiles and draws use a 1,025-point table of it,
    joined by cubic Hermite pieces whose slopes are the density (error ~1e-10).
    """

    log_x: np.ndarray
    weight: np.ndarray
    bounds: tuple[float, float]

    def mean(self) -> float:
        return float(self.weight @ np.exp(self.log_x))

    def sd(self) -> float:
        return float(np.sqrt(max(self.weight @ np.exp(2 * self.log_x) - self.mean() ** 2, 0.0)))

    def cdf(self, log_x: float) -> float:
        return float(np.clip(self._cdf(np.clip(log_x, *self.bounds)), 0.0, 1.0))

    def log_density(self, log_x: np.ndarray) -> np.ndarray:
        """Return the density of ``log x``: 0 outside the bounds, where the series is not it."""
        low, high = self.bounds
        inside = (log_x >= low) & (log_x <= high)
        return np.where(inside, np.maximum(self._cdf.deriv()(log_x), 0.0), 0.0)

    def log_quantile(self, prob: float) -> float:
        table = self._table
        values = table(table.x)
        i = int(np.clip(np.searchsorted(values, prob), 1, len(table.x) - 1))
        if not values[i - 1] < prob < values[i]:  # a flat stretch (no mass): its end
            return float(table.x[i - 1] if prob <= values[i - 1] else table.x[i])
        return optimize.brentq(lambda t: table(t) - prob, table.x[i - 1], table.x[i], xtol=1e-13)

    def inverse(self, uniform: np.ndarray) -> np.ndarray:
        """Return ``log x`` at these CDF values, for draws.

        By linear interpolation in the table (error far below Monte-Carlo error).
        """
        table = self._table
        return np.interp(uniform, table(table.x), table.x)

    @cached_property
    def _cdf(self) -> Legendre:
        nodes = len(self.log_x)
        low, high = self.bounds
        unit = (2 * self.log_x - low - high) / (high - low)  # nodes on [-1, 1]
        # weight = Gauss weight x density on [-1, 1], so these are the projections
        coefficients = (np.arange(nodes) + 0.5) * (
            legendre.legvander(unit, nodes - 1).T @ self.weight
        )
        density = Legendre(coefficients * 2 / (high - low), domain=[low, high])
        return density.integ(lbnd=low)

    @cached_property
    def _table(self) -> interpolate.CubicHermiteSpline:
        log_x = np.linspace(*self.bounds, CDF_NODES)
        cdf = np.maximum.accumulate(np.clip(self._cdf(log_x), 0.0, 1.0))
        density = np.maximum(self._cdf.deriv()(log_x), 0.0)
        return interpolate.CubicHermiteSpline(log_x, cdf, density)


@dataclass(frozen=True, kw_only=True)
class ExactPosterior:
    """The exact posterior, a mixture over a grid of ``tau`` values.

    With a mixture prior on ``mu`` (or a learned power-prior ``a0``), also over its
    components. Made by :func:`normal_normal_exact`; the methods take a parameter ``name``:
    ``mu``, ``tau``, ``theta`` (one element per site), ``theta_new`` (a new site at the
    average moderator values), ``gamma`` (one per moderator) and, when learned, ``a0``.

    Attributes
    ----------
    log_tau, weight : ndarray, shape (n_nodes,)
        Grid nodes and their posterior mass (sums to 1).
    component_weight : ndarray, shape (n_nodes, n_components)
        Posterior probability of each prior component given the node (one column unless
        the prior of ``mu`` is a mixture).
    coefficient_mean, coefficient_cov : ndarray, shape (n_nodes, n_components, p) and
        (n_nodes, n_components, p, p)
        ``(mu, gamma) | tau, component, y`` at each node (``p = 1 + n_moderators``).
    estimate, se : ndarray, shape (n_sites,)
    design : ndarray, shape (n_sites, p)
        A column of ones and the centred moderators.
    bounds : (float, float)
        The interval of log tau integrated over (outside it: < e^-40 of the mass).
    error_estimate : float
        Change of the moments between the last two grids, in posterior SDs.
    component_value, component_bounds : ndarray and (float, float), optional
        A learned power-prior weight ``a0``: its value at each component (a Gauss-Legendre
        grid in ``log a0``) and the interval of ``log a0`` covered.

    Examples
    --------
    >>> import numpy as np
    >>> from sitefx.models.priors import Prior, Priors
    >>> priors = Priors(mu=Prior("flat", ()), tau=Prior("half-cauchy", (5.0,)))
    >>> y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])
    >>> se = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])
    >>> posterior = normal_normal_exact(y, se, priors=priors)
    >>> round(float(posterior.mean("tau")), 2), posterior.quantile("theta", [0.05, 0.95]).shape
    (3.63, (2, 8))
    >>> float(posterior.cdf("tau", 0.0)), round(float(posterior.cdf("mu", 0.0)), 3)
    (0.0, 0.039)
    """

    log_tau: np.ndarray
    weight: np.ndarray
    component_weight: np.ndarray
    coefficient_mean: np.ndarray
    coefficient_cov: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    design: np.ndarray
    bounds: tuple[float, float]
    error_estimate: float
    component_value: np.ndarray | None = None
    component_bounds: tuple[float, float] | None = None

    @property
    def tau(self) -> np.ndarray:
        """The grid's tau values, shape (n_nodes,)."""
        return np.exp(self.log_tau)

    @cached_property
    def _scalars(self) -> dict[str, "_GridMarginal"]:
        """The positive scalars integrated on a grid in their log: ``tau`` (and ``a0``)."""
        scalars = {"tau": _GridMarginal(self.log_tau, self.weight, self.bounds)}
        if self.component_value is not None:
            scalars["a0"] = _GridMarginal(
                np.log(self.component_value),
                self.weight @ self.component_weight,
                self.component_bounds,
            )
        return scalars

    @cached_property
    def _joint_weight(self) -> np.ndarray:
        """Posterior mass of each (node, component), flattened."""
        return (self.weight[:, None] * self.component_weight).ravel()

    @cached_property
    def _shrink(self) -> np.ndarray:
        """``B_kj = se_j^2 / (se_j^2 + tau_k^2)``, the weight of site j's predicted mean."""
        return self.se**2 / (self.se**2 + self.tau[:, None] ** 2)

    def _flat(self, values: np.ndarray) -> np.ndarray:
        """(nodes, components, ...) or (nodes, 1, ...) -> (nodes * components, ...)."""
        shape = self.component_weight.shape
        return np.broadcast_to(values, shape + values.shape[2:]).reshape(-1, *values.shape[2:])

    def mixture(self, name: str) -> Mixture:
        """Return the normal mixture that is the posterior of ``name`` (cached).

        Parameters
        ----------
        name : {"mu", "gamma", "theta", "theta_new"}
            ``gamma`` has one element per moderator, ``theta`` one per site; ``theta_new``
            is a new site at the average moderator values.

        Returns
        -------
        Mixture
            One component per (node, prior component), weighted by its posterior mass.

        Raises
        ------
        KeyError
            For any other name (``tau`` and ``a0`` are not normal mixtures).
        """
        if name not in self._mixtures:
            self._mixtures[name] = self._make_mixture(name)
        return self._mixtures[name]

    @cached_property
    def _mixtures(self) -> dict[str, Mixture]:
        return {}

    def _make_mixture(self, name: str) -> Mixture:
        mean, cov = self.coefficient_mean, self.coefficient_cov
        tau2 = self.tau[:, None] ** 2
        if name == "mu":
            means, variances = mean[..., 0], cov[..., 0, 0]
        elif name == "gamma":
            means, variances = mean[..., 1:], np.diagonal(cov, axis1=2, axis2=3)[..., 1:]
        elif name == "theta_new":
            means, variances = mean[..., 0], cov[..., 0, 0] + tau2
        elif name == "theta":
            means, own, loading = self.theta_conditional()
            variances = own + np.einsum("kja,kcab,kjb->kcj", loading, cov, loading)
        else:
            raise KeyError(f"no mixture for '{name}'; use mu, gamma, theta or theta_new")
        return Mixture(self._joint_weight, self._flat(means), self._flat(variances))

    def theta_conditional(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the site effects' joint normal distribution given each node and component.

        ``theta = m + L (b - E b) + e`` with ``b`` the coefficients (covariance ``C =
        coefficient_cov``) and independent ``e_j ~ N(0, v_j)``, so ``Cov(theta) = diag(v) + L
        C L'``.

        Returns
        -------
        m : ndarray, shape (n_nodes, n_components, n_sites)
            The conditional means.
        v : ndarray, shape (n_nodes, 1, n_sites)
            The independent variances.
        L : ndarray, shape (n_nodes, n_sites, p)
            The loadings on the coefficients: the pooling factors times the design.
        """
        shrink = self._shrink
        # 1 - B = tau^2 / (se^2 + tau^2), computed as such: 1 - B loses it for small tau
        kept = self.tau[:, None] ** 2 / (self.se**2 + self.tau[:, None] ** 2)
        fitted = self.coefficient_mean @ self.design.T
        means = fitted + kept[:, None, :] * (self.estimate - fitted)
        own = (kept * self.se**2)[:, None, :]
        return means, own, shrink[:, :, None] * self.design

    def linear(self, coefficients: np.ndarray) -> Mixture:
        """Return the posterior of a linear combination of the site effects.

        Parameters
        ----------
        coefficients : ndarray, shape (n_sites,)
            ``a`` in ``sum_j a_j theta_j``, e.g. ``1 / n_sites`` each for the average effect
            over these sites.

        Returns
        -------
        Mixture
            The combination's normal mixture (one element).

        Examples
        --------
        >>> import numpy as np
        >>> from sitefx.models.priors import Prior, Priors
        >>> priors = Priors(mu=Prior("flat", ()), tau=Prior("half-cauchy", (5.0,)))
        >>> y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])
        >>> se = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])
        >>> posterior = normal_normal_exact(y, se, priors=priors)
        >>> round(float(posterior.linear(np.full(8, 1 / 8)).expectation()), 2)
        7.8
        """
        means, own, loading = self.theta_conditional()
        a = np.asarray(coefficients, dtype=float)
        combined = loading.transpose(0, 2, 1) @ a  # (nodes, p)
        variance = own[:, :, :] @ a**2 + np.einsum(
            "ka,kcab,kb->kc", combined, self.coefficient_cov, combined
        )
        return Mixture(self._joint_weight, self._flat(means @ a), self._flat(variance))

    def components(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return the means and variances of the mixture components of ``name``.

        Parameters
        ----------
        name : {"mu", "gamma", "theta", "theta_new"}
            As for :meth:`mixture`.

        Returns
        -------
        means, variances : ndarray, shape (n_terms, ...)
            One row per (node, prior component); their weights are ``mixture(name).weight``.
        """
        mixture = self.mixture(name)
        return mixture.mean, mixture.variance

    def mean(self, name: str) -> np.ndarray:
        """Compute the posterior mean of ``name``.

        Parameters
        ----------
        name : {"mu", "tau", "theta", "theta_new", "gamma", "a0"}
            The parameter (``a0`` only when learned).

        Returns
        -------
        ndarray
            A 0-d array, or one value per site (``theta``) or moderator (``gamma``).
        """
        if name in self._scalars:
            return np.asarray(self._scalars[name].mean())
        return self.mixture(name).expectation()

    def sd(self, name: str) -> np.ndarray:
        """Compute the posterior SD of ``name``.

        Parameters
        ----------
        name : {"mu", "tau", "theta", "theta_new", "gamma", "a0"}
            The parameter (``a0`` only when learned).

        Returns
        -------
        ndarray
            A 0-d array, or one value per site (``theta``) or moderator (``gamma``).
        """
        if name in self._scalars:
            return np.asarray(self._scalars[name].sd())
        return self.mixture(name).sd()

    def quantile(self, name: str, probs: Sequence[float] | np.ndarray) -> np.ndarray:
        """Compute posterior quantiles of ``name``.

        Parameters
        ----------
        name : {"mu", "tau", "theta", "theta_new", "gamma", "a0"}
            The parameter (``a0`` only when learned).
        probs : sequence of float or ndarray
            Probabilities in (0, 1).

        Returns
        -------
        ndarray
            Shape (len(probs),), or (len(probs), n) for ``theta`` and ``gamma``.
        """
        probs = np.asarray(probs, dtype=float)
        if name in self._scalars:
            return np.exp([self._scalars[name].log_quantile(prob) for prob in probs])
        return self.mixture(name).quantile(probs)

    def cdf(self, name: str, x: float) -> np.ndarray:
        """Compute the posterior probability ``P(name <= x)``.

        Parameters
        ----------
        name : {"mu", "tau", "theta", "theta_new", "gamma", "a0"}
            The parameter (``a0`` only when learned).
        x : float
            The value (0 or below has probability 0 for ``tau`` and ``a0``).

        Returns
        -------
        ndarray
            A 0-d array for ``mu``, ``tau``, ``a0`` and ``theta_new``, one per site for
            ``theta``, one per moderator for ``gamma``.
        """
        if name in self._scalars:
            return np.asarray(0.0 if x <= 0 else self._scalars[name].cdf(np.log(x)))
        return self.mixture(name).cdf(x)

    def pdf(self, name: str, x: np.ndarray) -> np.ndarray:
        """Compute the posterior density of ``name`` at ``x``.

        Parameters
        ----------
        name : {"mu", "tau", "theta", "theta_new", "gamma", "a0"}
            The parameter (``a0`` only when learned).
        x : ndarray, shape (m,)
            The points (> 0 for ``tau`` and ``a0``).

        Returns
        -------
        ndarray
            Shape (m,), or (m, n_sites) for ``theta`` and (m, n_moderators) for ``gamma``.
        """
        x = np.asarray(x, dtype=float)
        if name in self._scalars:  # the density of log x, divided by the Jacobian
            return self._scalars[name].log_density(np.log(x)) / x
        return self.mixture(name).pdf(x)

    @cached_property
    def _given_log_tau(self) -> tuple[Callable, Callable, Callable | None]:
        """Fit splines over log tau to what draws need given tau.

        The coefficients' mean and Cholesky factor (per component), and the components' log
        probabilities: all are smooth, so the spline is exact to ~1e-9 relative at the grid's
        density, and drawing costs O(1) per draw instead of a least-squares solve.
        """
        cholesky = np.linalg.cholesky(self.coefficient_cov)
        log_component = None
        if self.component_weight.shape[1] > 1:
            log_weight = np.log(np.maximum(self.component_weight, 1e-300))
            log_component = interpolate.CubicSpline(self.log_tau, log_weight)
        return (
            interpolate.CubicSpline(self.log_tau, self.coefficient_mean),
            interpolate.CubicSpline(self.log_tau, cholesky),
            log_component,
        )

    def draws(self, *, chains: int, draws: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Draw from the posterior independently, exactly given ``tau``.

        ``tau`` is drawn by inverse CDF, then a prior component, the coefficients and the
        site effects given it; ``theta_new`` adds a new site's normal deviation.

        Parameters
        ----------
        chains, draws : int
            The shape of the draws (as NUTS would give them; the draws are independent).
        rng : numpy.random.Generator
            Source of all randomness (e.g. the fixed integration stream of
            :mod:`sitefx.streams`).

        Returns
        -------
        dict of str to ndarray
            ``mu``, ``tau``, ``theta_new`` shaped (chains, draws); ``theta`` (chains, draws,
            n_sites); ``gamma`` (chains, draws, n_moderators) with moderators; ``a0`` when
            learned.
        """
        shape = (chains, draws)
        log_tau = self._scalars["tau"].inverse(rng.uniform(size=chains * draws))
        tau = np.exp(log_tau)
        mean_spline, cholesky_spline, log_component = self._given_log_tau
        pick = np.zeros(log_tau.size, dtype=int)
        if log_component is not None:  # a prior component given tau, then the rest given it
            log_weight = log_component(log_tau)
            gumbel = rng.gumbel(size=log_weight.shape)
            pick = np.argmax(log_weight + gumbel, axis=1)
        rows = np.arange(log_tau.size)
        mean = mean_spline(log_tau)[rows, pick]
        cholesky = cholesky_spline(log_tau)[rows, pick]
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
        if self.component_value is not None:  # a0 given tau: its grid's values
            result["a0"] = self.component_value[pick].reshape(shape)
        return result

    def to_dataset(self, site: Sequence[str], moderator: Sequence[str] = ()) -> xr.Dataset:
        """Store the posterior as the ``exact`` group of a fit's DataTree.

        Variables: ``log_tau`` and ``weight`` (dim ``node``), ``component_weight``
        (``node``, ``component``), ``coefficient_mean`` (``node``, ``component``,
        ``coefficient``), ``coefficient_cov`` (and ``coefficient_``), ``estimate``, ``se``
        (``site``), ``design`` (``site``, ``coefficient``), and per-site mixture moments
        ``theta_mean``, ``theta_var`` (``node``, ``component``, ``site``): given node k and
        component c, ``theta_j ~ N(theta_mean, theta_var)`` with probability
        ``weight_k component_weight_kc``. Attributes: ``bounds`` and ``error_estimate``
        (and ``a0_bounds``, with an ``a0`` coordinate on ``component``, for a learned
        ``a0``).

        Parameters
        ----------
        site : sequence of str
            The site names, for the ``site`` coordinate.
        moderator : sequence of str, default ()
            The moderator names; the ``coefficient`` coordinate is ``mu`` and these.

        Returns
        -------
        xarray.Dataset
            The group; :meth:`from_dataset` rebuilds the posterior from it.
        """
        coefficient = ["mu", *moderator]
        theta = self.mixture("theta")
        moments_shape = (*self.component_weight.shape, len(site))
        dims = ("node", "component")
        return xr.Dataset(
            {
                "log_tau": ("node", self.log_tau),
                "weight": ("node", self.weight),
                "component_weight": (dims, self.component_weight),
                "coefficient_mean": ((*dims, "coefficient"), self.coefficient_mean),
                "coefficient_cov": (
                    (*dims, "coefficient", "coefficient_"),
                    self.coefficient_cov,
                ),
                "estimate": ("site", self.estimate),
                "se": ("site", self.se),
                "design": (("site", "coefficient"), self.design),
                "theta_mean": ((*dims, "site"), theta.mean.reshape(moments_shape)),
                "theta_var": ((*dims, "site"), theta.variance.reshape(moments_shape)),
            },
            coords={"site": list(site), "coefficient": coefficient, "coefficient_": coefficient}
            | ({} if self.component_value is None else {"a0": ("component", self.component_value)}),
            attrs={
                "bounds": list(self.bounds),
                "error_estimate": float(self.error_estimate),
                **(
                    {}
                    if self.component_bounds is None
                    else {"a0_bounds": list(self.component_bounds)}
                ),
                "description": "exact posterior: a mixture of normals over a Gauss-Legendre "
                "grid of log tau (see sitefx.infer.exact)",
            },
        )

    @classmethod
    def from_dataset(cls, dataset: xr.Dataset) -> "ExactPosterior":
        """Rebuild the posterior from the ``exact`` group of a fit (see :meth:`to_dataset`).

        Parameters
        ----------
        dataset : xarray.Dataset
            The ``exact`` group, e.g. ``tree["exact"].to_dataset()``.

        Returns
        -------
        ExactPosterior
            The same posterior that was stored.
        """
        values = {name: dataset[name].values for name in dataset.data_vars}
        return cls(
            log_tau=values["log_tau"],
            weight=values["weight"],
            component_weight=values["component_weight"],
            coefficient_mean=values["coefficient_mean"],
            coefficient_cov=values["coefficient_cov"],
            estimate=values["estimate"],
            se=values["se"],
            design=values["design"],
            bounds=tuple(float(b) for b in np.ravel(dataset.attrs["bounds"])),
            error_estimate=float(dataset.attrs["error_estimate"]),
            component_value=dataset["a0"].values if "a0" in dataset.coords else None,
            component_bounds=(
                tuple(float(b) for b in np.ravel(dataset.attrs["a0_bounds"]))
                if "a0_bounds" in dataset.attrs
                else None
            ),
        )


def normal_normal_exact(
    estimate: np.ndarray,
    se: np.ndarray,
    *,
    priors: Priors,
    moderators: np.ndarray | None = None,
    power: PowerRows | None = None,
    rtol: float = RTOL,
    centre: bool = True,
) -> ExactPosterior:
    """Compute the exact posterior of the normal-normal model.

    ``estimate_j ~ N(theta_j, se_j)``, ``theta_j ~ N(mu + w_j gamma, tau)`` with optional
    moderators ``w``, centred here (unless ``centre`` is False) so ``mu`` is the average
    effect. The grid over log tau is
    refined until the moments of ``mu`` and ``tau`` change by less than ``rtol`` posterior
    SDs (see the module docstring).

    Historical borrowing: a robust MAP prior on ``mu`` is a normal mixture in ``priors.mu``
    (each component a column of ``component_weight``); a power prior with a fixed or learned
    ``a0`` comes as ``power``.

    Parameters
    ----------
    estimate, se : array_like, shape (n_sites,)
        The sites' estimated effects and standard errors.
    priors : Priors
        Normal, flat or normal-mixture prior on ``mu``, normal or flat on ``gamma``, any on
        ``tau`` (see :func:`supports_exact`).
    moderators : ndarray, shape (n_sites, n_moderators), optional
        Site-level moderators (centred here); None: no meta-regression.
    power : PowerRows, optional
        Historical summaries under a power prior.
    rtol : float, default 1e-9
        Convergence tolerance, in posterior SDs.
    centre : bool, default True
        Centre the moderators, so that ``mu`` is the average effect at their average; False:
        ``mu`` is the intercept, the effect where every moderator is 0 (PET and PEESE).

    Returns
    -------
    ExactPosterior
        The posterior, with ``error_estimate`` the last change of the moments.

    Raises
    ------
    SitefxInputError
        When the priors do not allow the exact method, or the posterior cannot be computed
        (a degenerate model: improper, not finite, or data on an extreme scale), naming the
        sites involved.

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
    if centre:
        moderators = moderators - moderators.mean(axis=0)
    design = np.column_stack([np.ones(len(estimate)), moderators])
    scale = data_scale(estimate, se)
    if not TINY_SCALE < scale < HUGE_SCALE:
        raise _degenerate(
            estimate,
            se,
            f"the estimates and standard errors are on a scale of {scale:.1g}, too far from 1 "
            "to compute with in double precision: express the effects in other units",
        )
    if np.any(se**2 == 0):
        raise _degenerate(estimate, se, "a site's SE is known to be 0 in double precision")
    coefficient_prior = _CoefficientPrior.from_priors(priors, moderators.shape[1])
    tau_prior = TauPrior(priors.tau)
    # Far below the smallest SE the likelihood is flat in tau, so the density of log tau falls
    # like tau times the prior; far above every SE and the spread, like the prior and the
    # likelihood's power of tau. A density not falling 30 decades out is improper.
    limits = (np.log(se.min()) - REACH, np.log(max(scale, se.max())) + REACH)

    def log_density(log_tau: np.ndarray, nodes: int = START_NODES) -> tuple[np.ndarray, ...]:
        """Compute log p(log tau | y) up to a constant, with what else each log tau gives.

        Also the coefficient moments and log component probabilities given each log tau (a
        learned a0 on a grid of ``nodes / 2`` nodes).
        """
        history = None
        if power is not None:
            a0, log_weight = _power_components(power, _a0_nodes(nodes))
            history = (power.estimate, power.se, a0)
        mean, cov, log_joint = _conditional(
            log_tau, estimate, se, design, coefficient_prior, history
        )
        if power is not None:
            log_joint = log_joint + log_weight
        with np.errstate(invalid="ignore", divide="ignore"):
            log_marginal = log_sum_exp(log_joint, axis=1)
            total = log_marginal + tau_prior.log_prob(log_tau) + log_tau  # + log tau: Jacobian
            log_component = log_joint - log_marginal[:, None]
        return np.where(np.isnan(total), -np.inf, total), mean, cov, log_component

    support = tau_prior.log_support()
    try:
        low, high = mass_bounds(log_density, scale, support, tau_prior.log_range(), limits=limits)
    except ImproperPosterior as error:
        raise _degenerate(estimate, se, str(error)) from None
    nodes, previous = START_NODES, None
    while True:
        unit_nodes, unit_weights = gauss_legendre(nodes)
        log_tau = low + (high - low) * unit_nodes
        values, mean, cov, log_component = log_density(log_tau, nodes)
        # nodes where the density is zero (outside the prior's support) or not finite (an
        # overflow) get no mass, and harmless moments
        finite = np.isfinite(values) & np.isfinite(cov).all(axis=(1, 2, 3))
        finite &= np.isfinite(mean).all(axis=(1, 2))
        if not finite.any():
            raise _degenerate(estimate, se)
        weight = np.where(finite, unit_weights * np.exp(values - values[finite].max()), 0.0)
        weight /= weight.sum()
        components = log_component.shape[1]
        posterior = ExactPosterior(
            log_tau=log_tau,
            weight=weight,
            component_weight=np.where(finite[:, None], np.exp(log_component), 1 / components),
            coefficient_mean=np.where(finite[:, None, None], mean, 0.0),
            coefficient_cov=np.where(finite[:, None, None, None], cov, np.eye(design.shape[1])),
            estimate=estimate,
            se=se,
            design=design,
            bounds=(low, high),
            error_estimate=np.inf,
            **_learned_a0(power, nodes),
        )
        checked = ("mu", "tau", "a0") if posterior.component_value is not None else ("mu", "tau")
        moments = np.array([posterior.mean(n) for n in checked])
        sds = np.array([posterior.sd(n) for n in checked])
        if not np.all(np.isfinite(moments)) or not np.all(sds > 0):
            raise _degenerate(estimate, se)
        if previous is not None:
            change = np.max(
                np.abs(np.concatenate([moments - previous[0], sds - previous[1]])) / np.tile(sds, 2)
            )
            if change < rtol or nodes >= MAX_NODES:
                return dataclasses.replace(posterior, error_estimate=float(change))
        previous = (moments, sds)
        nodes *= 2


def _learned_a0(power: PowerRows | None, nodes: int) -> dict:
    """Return the fields of :class:`ExactPosterior` for a learned power-prior weight ``a0``.

    The components' values of ``a0`` and the interval of ``log a0`` they cover; none
    otherwise.
    """
    if power is None or power.a0 is not None:
        return {}
    return {
        "component_value": _power_components(power, _a0_nodes(nodes))[0],
        "component_bounds": (float(np.log(A0_MIN)), 0.0),
    }


def _degenerate(estimate: np.ndarray, se: np.ndarray, why: str = "") -> SitefxInputError:
    """Make the error for a posterior that cannot be integrated, naming the sites to check."""
    tiny = np.flatnonzero(se**2 < np.finfo(float).tiny)
    if len(tiny):
        where = f"sites {', '.join(map(str, tiny + 1))} (in data order) have standard errors "
        where += "so small that their squares underflow to 0"
    else:
        order = np.argsort(se)[:3]
        where = f"the most precise sites are {', '.join(map(str, order + 1))} (in data order)"
    why = f"{why}; " if why else ""
    return SitefxInputError(
        f"the exact posterior cannot be computed: it is degenerate or not finite ({why}{where})"
        "; check the standard errors and the tau prior"
    )


class TauPrior:
    """The prior of tau as scipy computes it (no JAX on this path).

    Log density and quantiles: the same densities as the numpyro distributions of
    :class:`~sitefx.models.priors.Prior` (half-t is the folded Student-t).

    Parameters
    ----------
    prior : Prior
        A prior with positive support (half-normal, half-cauchy, half-t, exponential,
        uniform, inv-gamma or gamma).

    Raises
    ------
    SitefxInputError
        For any other family.

    Examples
    --------
    >>> prior = TauPrior(Prior.parse("half-normal(1)"))
    >>> round(float(prior.log_prob(np.log(1.0))), 4)  # log(2 * N(1; 0, 1))
    -0.7258
    """

    def __init__(self, prior: Prior) -> None:
        if prior.support != "positive":
            raise SitefxInputError(f"the exact method cannot use the tau prior {prior}")
        self.prior = prior
        self.distribution, self.folded = prior.scipy_distribution()

    def log_prob(self, log_tau: np.ndarray) -> np.ndarray:
        """Evaluate ``log p(tau)`` at ``tau = exp(log_tau)``.

        Parameters
        ----------
        log_tau : ndarray
            Where to evaluate it, on the log scale.

        Returns
        -------
        ndarray
            The log density of ``tau`` (not of ``log tau``), -inf outside the support.
        """
        return self.prior.log_density(np.exp(log_tau))

    def log_support(self) -> tuple[float, float]:
        """Return the support in ``log tau``: ``(-inf, inf)`` unless it is bounded.

        Returns
        -------
        low, high : float
            The logs of the support's ends (e.g. ``log u`` for ``uniform(0, u)``).
        """
        low, high = (0.0, np.inf) if self.folded else self.distribution.support()
        with np.errstate(divide="ignore"):
            return float(np.log(max(low, 0.0))), float(np.log(high))

    def log_range(self, tail: float = 1e-12) -> tuple[float, float]:
        """Return ``log tau`` at the prior's ``tail`` and ``1 - tail`` quantiles.

        Parameters
        ----------
        tail : float
            The probability left out on each side.

        Returns
        -------
        low, high : float
            The two quantiles, on the log scale.
        """
        probs = np.array([tail, 1 - tail])
        if self.folded:
            probs = (1 + probs) / 2
        with np.errstate(divide="ignore"):
            return tuple(np.log(np.maximum(self.distribution.ppf(probs), 1e-300)))
