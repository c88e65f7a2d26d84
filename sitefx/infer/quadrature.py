"""Quadrature over log tau and normal mixtures: the numerics of the exact method.

:func:`mass_bounds` finds the interval of ``log tau`` that holds the posterior mass,
:func:`gauss_legendre` gives the rule integrated over it, and :class:`Mixture` (with
:func:`mixture_quantile`) evaluates the finite normal mixtures the integral turns every other
quantity into. Used by the exact normal-normal posterior (:mod:`sitefx.infer.exact`) and by
the historical priors (:mod:`sitefx.infer.borrowing`).
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from sitefx.errors import SitefxInputError

TAIL = 40.0  # the grid covers where log density > max - TAIL (mass beyond ~ e^-40)
COARSE_NODES = 600
SCAN_BELOW, SCAN_ABOVE = 25.0, 12.0  # the scan of log tau around the data's log scale
SCAN_STEP = 0.05  # the scan's largest step in log tau
MAX_SCAN_NODES = 20_000
START_NODES = 32
MAX_NODES = 4096
RTOL = 1e-9
QUANTILE_TOL = 1e-10  # in probability


@dataclass(frozen=True)
class Mixture:
    """A finite mixture of normals for each element of an array.

    Each element is distributed as ``sum_i weight_i N(mean_i, variance_i)``.

    Attributes
    ----------
    weight : ndarray, shape (n,)
        Component weights (summing to 1), shared by every element.
    mean, variance : ndarray, shape (n, ...)
        Each component's mean and variance for each element.

    Examples
    --------
    >>> import numpy as np
    >>> mixture = Mixture(np.array([0.5, 0.5]), np.array([-1.0, 1.0]), np.array([1.0, 1.0]))
    >>> float(mixture.expectation()), round(float(mixture.sd()), 4)
    (0.0, 1.4142)
    >>> float(mixture.cdf(0.0)), round(float(mixture.quantile([0.975])[0]), 3)
    (0.5, 2.646)
    """

    weight: np.ndarray
    mean: np.ndarray
    variance: np.ndarray

    def expectation(self) -> np.ndarray:
        """Compute the mean of each element.

        Returns
        -------
        ndarray, shape ``mean.shape[1:]``
            ``sum_i weight_i mean_i``.
        """
        return np.tensordot(self.weight, self.mean, axes=1)

    def sd(self) -> np.ndarray:
        """Compute the standard deviation of each element.

        Returns
        -------
        ndarray, shape ``mean.shape[1:]``
            The mixture's SD (within- plus between-component variance, square-rooted).
        """
        second = np.tensordot(self.weight, self.variance + self.mean**2, axes=1)
        return np.sqrt(np.maximum(second - self.expectation() ** 2, 0.0))

    def cdf(self, x: float | np.ndarray) -> np.ndarray:
        """Compute ``P(X <= x)`` for each element.

        Parameters
        ----------
        x : float or ndarray
            A number, or one per element.

        Returns
        -------
        ndarray, shape ``mean.shape[1:]``
            The probabilities.
        """
        below = special.ndtr((x - self.mean) / np.sqrt(self.variance))
        return np.tensordot(self.weight, below, axes=1)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Compute the density at points ``x``.

        Parameters
        ----------
        x : ndarray, shape (m,)
            Points at which to evaluate every element's density.

        Returns
        -------
        ndarray, shape (m,) or (m, elements...)
            The densities, one row per point.
        """
        x = np.asarray(x, dtype=float)
        sds = np.sqrt(self.variance)
        z = (x.reshape((-1,) + (1,) * self.mean.ndim) - self.mean) / sds
        density = np.exp(-0.5 * z**2) / (sds * np.sqrt(2 * np.pi))
        return np.tensordot(density, self.weight, axes=([1], [0]))

    def quantile(self, probs: Sequence[float] | np.ndarray) -> np.ndarray:
        """Compute quantiles of each element.

        Parameters
        ----------
        probs : sequence of float or ndarray
            Probabilities in (0, 1).

        Returns
        -------
        ndarray, shape (len(probs),) or (len(probs), elements)
            The quantiles (to 1e-10 in probability); the second form for 2-D means.
        """
        probs = np.asarray(probs, dtype=float)
        result = mixture_quantile(self.weight, self.mean, np.sqrt(self.variance), probs)
        return result[:, 0] if self.mean.ndim == 1 else result


class ImproperPosterior(Exception):
    """The posterior of log tau does not fall off towards 0 or infinity.

    Raised by :func:`mass_bounds` when the density has not fallen by ``TAIL`` at the
    ``limits``; the exact method turns it into a :class:`~sitefx.errors.SitefxInputError`
    naming the sites.

    Examples
    --------
    >>> flat = lambda log_tau: (np.zeros(len(log_tau)),)  # no fall-off in either direction
    >>> mass_bounds(flat, 1.0, limits=(-70.0, 70.0))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sitefx.infer.quadrature.ImproperPosterior: the posterior of tau does not fall off as tau ...
    """


def log_sum_exp(
    values: np.ndarray,
    axis: int | None = None,
    *,
    weights: np.ndarray | None = None,
    keepdims: bool = False,
) -> np.ndarray:
    """Compute ``log(sum(weights * exp(values)))`` along ``axis`` without overflow.

    As :func:`scipy.special.logsumexp` for real ``values`` and non-negative ``weights``, in
    plain numpy: scipy's version checks for JAX arrays, which imports JAX once any library
    has registered it lazily (ArviZ does), and the exact method runs without JAX.

    Parameters
    ----------
    values : ndarray
        Logs of the terms (``-inf`` for zero terms).
    axis : int, optional
        The axis to sum over (all when None).
    weights : ndarray, optional
        Non-negative multipliers of the terms, broadcast against ``values``.
    keepdims : bool
        Keep the summed axis with length 1.

    Returns
    -------
    ndarray or float
        The log of the sum (``-inf`` where every term is zero).

    Examples
    --------
    >>> round(float(log_sum_exp(np.array([1000.0, 1000.0]))), 6)  # 1000 + log 2
    1000.693147
    >>> float(log_sum_exp(np.array([-np.inf, -np.inf])))
    -inf
    """
    values = np.asarray(values, dtype=float)
    peak = np.max(values, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    terms = np.exp(values - peak) if weights is None else weights * np.exp(values - peak)
    with np.errstate(divide="ignore"):
        total = np.log(np.sum(terms, axis=axis, keepdims=True)) + peak
    return total if keepdims else np.squeeze(total, axis=axis)


@functools.cache
def gauss_legendre(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Return Gauss-Legendre nodes and weights on [0, 1] (cached).

    Parameters
    ----------
    nodes : int
        Number of nodes; the rule is exact for polynomials of degree ``2 nodes - 1``.

    Returns
    -------
    nodes, weights : ndarray, shape (nodes,)
        Nodes in (0, 1), increasing, and weights summing to 1.

    Examples
    --------
    >>> x, w = gauss_legendre(3)
    >>> round(float(w @ x**5), 12)  # the integral of x^5 over [0, 1]
    0.166666666667
    """
    x, w = special.roots_legendre(nodes)  # O(n^2); numpy's leggauss is O(n^3)
    return (x + 1) / 2, w / 2


def data_scale(estimate: np.ndarray, se: np.ndarray) -> float:
    """Return the data's scale: the spread of the estimates or the typical SE, whichever is larger.

    Parameters
    ----------
    estimate, se : ndarray, shape (n_sites,)
        The sites' estimates and standard errors.

    Returns
    -------
    float
        ``max(sd(estimate), median(se))``: a positive number even for identical estimates
        (1 if that is 0 or not finite).

    Examples
    --------
    >>> data_scale(np.array([28.0, 8, -3, 7]), np.array([15.0, 10, 16, 11]))
    13.0
    """
    scale = max(float(np.std(estimate)), float(np.median(se)))
    return scale if scale > 0 and np.isfinite(np.log(scale)) else 1.0


def mass_bounds(
    log_density,
    scale: float,
    support: tuple[float, float] = (-np.inf, np.inf),
    prior_range: tuple[float, float] | None = None,
    *,
    extend: bool = True,
    limits: tuple[float, float] = (-np.inf, np.inf),
) -> tuple[float, float]:
    """Find an interval of log tau holding all but ~e^-TAIL of the posterior mass.

    The posterior is first scanned (points 0.05 apart at most) from ``e^-25`` to ``e^12``
    times the data's ``scale``, widened to ``prior_range`` (where the prior has its mass),
    cut to the prior's ``support`` (in log tau), or across the support itself when it lies
    elsewhere (a narrow uniform prior). While the density has not fallen by ``TAIL`` at an
    edge of the scan that the support reaches beyond, the scan is extended there (unless not
    to ``extend``: the caller adds the tails itself) up to ``limits``; a posterior still not
    falling there is improper (:class:`ImproperPosterior`). The mode found by the scan and the
    curvature at it widen the interval where the scan is too coarse to see the mass.

    Parameters
    ----------
    log_density : callable
        Maps an array of log tau to a tuple whose first item is the log posterior density
        there (up to a constant; -inf where zero).
    scale : float
        The data's scale (:func:`data_scale`), where the scan is centred.
    support : (float, float), default (-inf, inf)
        The prior's support in log tau.
    prior_range : (float, float), optional
        Where the prior has its mass, in log tau; the scan covers it too.
    extend : bool, default True
        Extend the scan where the density has not yet fallen; False when the caller adds
        the tails itself.
    limits : (float, float), default (-inf, inf)
        How far the scan may be extended, in log tau.

    Returns
    -------
    low, high : float
        The interval of log tau, within ``support``.

    Raises
    ------
    ImproperPosterior
        If the density has not fallen by ``TAIL`` at a limit.
    SitefxInputError
        If the density is zero everywhere scanned.

    Examples
    --------
    >>> normal = lambda log_tau: (-0.5 * ((log_tau - 1.0) / 0.1) ** 2,)  # N(1, 0.1) in log tau
    >>> low, high = mass_bounds(normal, 1.0)
    >>> bool(low < 1.0 - 0.1 * np.sqrt(2 * TAIL) and high > 1.0 + 0.1 * np.sqrt(2 * TAIL))
    True
    """
    centre = np.log(scale)
    low, high = centre - SCAN_BELOW, centre + SCAN_ABOVE
    if prior_range is not None:
        low, high = min(low, prior_range[0]), max(high, prior_range[1])
    low, high = max(low, support[0], limits[0]), min(high, support[1], limits[1])
    if not low < high:  # the prior keeps tau far from the data's scale: scan its support
        span = SCAN_BELOW + SCAN_ABOVE
        low = support[0] if np.isfinite(support[0]) else support[1] - span
        high = support[1] if np.isfinite(support[1]) else support[0] + span
    edges = (max(support[0], limits[0]), min(support[1], limits[1]))
    while True:
        nodes = int(np.clip(np.ceil((high - low) / SCAN_STEP), COARSE_NODES, MAX_SCAN_NODES))
        coarse = np.linspace(low, high, nodes)
        values = log_density(coarse)[0]
        if not np.isfinite(values).any():
            raise SitefxInputError("the posterior of tau is zero everywhere; check the tau prior")
        top = values.max()
        below = values[0] > top - TAIL and low > edges[0]
        above = values[-1] > top - TAIL and high < edges[1]
        if not (extend and (below or above)):
            break
        span = high - low
        low, high = (
            (max(low - span, edges[0]) if below else low),
            (min(high + span, edges[1]) if above else high),
        )
    if extend and values[0] > top - TAIL and low <= limits[0]:
        raise ImproperPosterior("the posterior of tau does not fall off as tau goes to 0")
    if extend and values[-1] > top - TAIL and high >= limits[1]:
        raise ImproperPosterior("the posterior of tau does not fall off as tau goes to infinity")
    spacing = coarse[1] - coarse[0]
    best = int(np.argmax(values))
    # the mode lies between the best point's neighbours where the density is not zero
    lo = coarse[best - 1] if best > 0 and np.isfinite(values[best - 1]) else coarse[best]
    hi = coarse[best + 1] if best < nodes - 1 and np.isfinite(values[best + 1]) else coarse[best]
    mode = coarse[best]
    if lo < hi:
        mode = optimize.minimize_scalar(
            lambda t: -log_density(np.array([t]))[0][0], bounds=(lo, hi), method="bounded"
        ).x
    step = min(1e-3, spacing / 4)
    around = log_density(np.array([mode - step, mode, mode + step]))[0]
    curvature = -(around[0] - 2 * around[1] + around[2]) / step**2
    spread = 1.0 / np.sqrt(curvature) if curvature > 0 and np.isfinite(curvature) else spacing
    inside = np.flatnonzero(values > top - TAIL)
    low = min(coarse[inside[0]] - spacing, mode - 15 * spread)
    high = max(coarse[inside[-1]] + spacing, mode + 15 * spread)
    return max(low, support[0]), min(high, support[1])


def mixture_quantile(
    weight: np.ndarray, means: np.ndarray, sds: np.ndarray, probs: np.ndarray
) -> np.ndarray:
    """Compute quantiles of the normal mixture ``sum_k weight_k N(means_k, sds_k)``.

    Newton steps are kept inside a shrinking bracket (bisection when a step leaves it), so
    even multimodal mixtures converge, to 1e-10 in probability. Components holding less than
    1e-11 of the mass together are left out.

    Parameters
    ----------
    weight : ndarray, shape (n_nodes,)
        Component weights, summing to 1.
    means, sds : ndarray, shape (n_nodes,) or (n_nodes, m)
        Component means and SDs, for one mixture or ``m`` mixtures sharing the weights.
    probs : ndarray, shape (n_probs,)
        Probabilities in (0, 1).

    Returns
    -------
    ndarray, shape (n_probs, m)
        The quantiles (``m = 1`` for 1-D means).

    Raises
    ------
    RuntimeError
        If 200 steps do not converge.

    Examples
    --------
    >>> q = mixture_quantile(np.array([0.5, 0.5]), np.array([-3.0, 3.0]), np.ones(2),
    ...                      np.array([0.5, 0.975]))
    >>> q.round(3).tolist()
    [[0.0], [4.645]]
    """
    # Nodes whose joint mass is below the tolerance cannot move a quantile: leave them out.
    order = np.argsort(weight)
    keep = np.ones(len(weight), dtype=bool)
    keep[order[np.cumsum(weight[order]) < QUANTILE_TOL / 10]] = False
    weight = weight[keep]
    means = means[keep].reshape(len(weight), -1)
    sds = sds[keep].reshape(len(weight), -1)
    center = weight @ means
    spread = np.sqrt(np.maximum(weight @ (sds**2 + means**2) - center**2, 0.0))
    shape = (len(probs), means.shape[1])
    low = np.broadcast_to(np.min(means - 40 * sds, axis=0), shape).copy()
    high = np.broadcast_to(np.max(means + 40 * sds, axis=0), shape).copy()
    x = np.clip(center + spread * special.ndtri(probs)[:, None], low, high)
    inverse_sds = 1.0 / sds
    for _ in range(200):
        z = (x[:, None, :] - means) * inverse_sds
        gap = np.tensordot(special.ndtr(z), weight, axes=([1], [0])) - probs[:, None]
        low = np.where(gap < 0, x, low)
        high = np.where(gap > 0, x, high)
        density = np.tensordot(np.exp(-0.5 * z**2) * inverse_sds, weight, axes=([1], [0]))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = x - gap * np.sqrt(2 * np.pi) / density  # inf/nan: bisect instead
        # within the tolerance, or the next step is below double precision's resolution at x
        # (a narrow mixture far from 0 may never reach the tolerance)
        converged = (np.abs(gap) < QUANTILE_TOL) | (np.abs(newton - x) <= 2 * np.spacing(np.abs(x)))
        if converged.all():
            return x
        inside = (newton >= low) & (newton <= high)
        x = np.where(converged, x, np.where(inside, newton, (low + high) / 2))
    raise RuntimeError("mixture quantiles did not converge")
