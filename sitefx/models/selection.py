"""The step-function selection model of Vevea and Hedges (1995) for study summaries.

Publication bias as selection: a study with estimate ``y_i`` and standard error ``s_i`` is
published with a probability that depends only on its one-sided p-value
``p_i = 1 - Phi(y_i / s_i)``, constant between cut points ``a_1 < ... < a_{K-1}`` of p. The
weight of the interval holding the most significant p-values (``p <= a_1``) is 1; the others,
``omega_2 .. omega_K``, are relative to it (so ``omega_j < 1`` means less likely to be
published than a significant study). With ``theta_i`` integrated out,
``y_i ~ N(mu, sigma_i)``, ``sigma_i^2 = tau^2 + s_i^2``, and the published ``y_i`` has density

    f(y_i) = omega_{j(p_i)} N(y_i; mu, sigma_i) / A_i,   A_i = sum_j omega_j P_ij,

where ``P_ij`` is the probability under ``N(mu, sigma_i)`` of the ``j``-th interval, whose
ends in ``y`` are ``s_i Phi^-1(1 - a)``. This is the likelihood of R metafor's
``selmodel(..., type = "stepfun")``.

The interval probabilities are differences of normal CDFs, computed from the tail nearer the
interval (log CDFs with ``log1mexp``), so an interval 30 SDs out keeps its relative accuracy
instead of cancelling to 0.
"""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import log_ndtr, logsumexp, ndtri

from sitefx.models.priors import Priors


def log1mexp(x: jnp.ndarray) -> jnp.ndarray:
    """Return ``log(1 - exp(x))`` for ``x < 0``, accurately near 0 and far below it.

    Parameters
    ----------
    x : array
        Negative numbers.

    Returns
    -------
    array

    Examples
    --------
    >>> round(float(log1mexp(jnp.log(0.25))), 6) == round(float(np.log(0.75)), 6)
    True
    """
    return jnp.where(x > -np.log(2.0), jnp.log(-jnp.expm1(x)), jnp.log1p(-jnp.exp(x)))


def log_interval_probabilities(upper: jnp.ndarray, lower: jnp.ndarray) -> jnp.ndarray:
    """Return ``log(Phi(upper) - Phi(lower))`` for ``upper > lower``, without cancellation.

    An interval right of 0 is mirrored to the left (``Phi(u) - Phi(l) = Phi(-l) - Phi(-u)``),
    where the CDF is a small number known to full relative precision; then
    ``log Phi(u) + log1mexp(log Phi(l) - log Phi(u))``. Infinite ends are allowed.

    Parameters
    ----------
    upper, lower : array
        Standardized ends of the intervals (broadcast together).

    Returns
    -------
    array
        The log probabilities.

    Examples
    --------
    >>> value = log_interval_probabilities(jnp.array(31.0), jnp.array(30.0))
    >>> bool(jnp.isfinite(value)), round(float(value), 2)  # log Phi(-30), near -454.32
    (True, -454.32)
    """
    mirrored = upper + lower > 0
    high = jnp.where(mirrored, -lower, upper)
    low = jnp.where(mirrored, -upper, lower)
    log_high = log_ndtr(high)
    return log_high + log1mexp(log_ndtr(low) - log_high)


def step_log_likelihood(
    estimate: jnp.ndarray,
    se: jnp.ndarray,
    mu: jnp.ndarray,
    tau: jnp.ndarray,
    log_omega: jnp.ndarray,
    cuts: jnp.ndarray,
) -> jnp.ndarray:
    """Return each study's log density under the step-function selection model.

    See the module docstring: ``log omega_{j(p_i)} + log N(y_i; mu, sigma_i) - log A_i``.

    Parameters
    ----------
    estimate, se : array, shape (n_studies,)
        The studies' estimates and standard errors.
    mu, tau : array, shape (...)
        Average effect and between-study SD (any batch shape, e.g. (chain, draw)).
    log_omega : array, shape (..., n_cuts)
        Log weights of the intervals after the first (whose weight is 1).
    cuts : array, shape (n_cuts,)
        Increasing one-sided p-value cut points in (0, 1).

    Returns
    -------
    array, shape (..., n_studies)

    Examples
    --------
    >>> y, s = jnp.array([0.3, -0.1]), jnp.array([0.1, 0.2])
    >>> flat = step_log_likelihood(y, s, 0.0, 0.1, jnp.zeros(3), jnp.array([0.025, 0.05, 0.5]))
    >>> from scipy import stats
    >>> sd = np.sqrt(0.1**2 + np.array([0.1, 0.2]) ** 2)
    >>> bool(np.allclose(flat, stats.norm.logpdf([0.3, -0.1], 0.0, sd)))  # equal weights
    True
    """
    mu, tau = jnp.asarray(mu)[..., None], jnp.asarray(tau)[..., None]
    sd = jnp.sqrt(tau**2 + se**2)
    # the inner ends of the intervals in y, top down: (..., n_studies, n_cuts)
    z = (se[:, None] * -ndtri(cuts) - mu[..., None]) / sd[..., None]
    log_p = jnp.concatenate(
        [
            log_ndtr(-z[..., :1]),  # p <= a_1: y above the first end
            log_interval_probabilities(z[..., :-1], z[..., 1:]),
            log_ndtr(z[..., -1:]),  # p > a_last
        ],
        axis=-1,
    )
    log_weights = jnp.concatenate([jnp.zeros_like(log_omega[..., :1]), log_omega], axis=-1)
    log_normalizer = logsumexp(log_weights[..., None, :] + log_p, axis=-1)
    own_weight = jnp.take(log_weights, study_intervals(estimate, se, cuts), axis=-1)
    log_density = -0.5 * ((estimate - mu) / sd) ** 2 - jnp.log(sd) - 0.5 * jnp.log(2 * jnp.pi)
    return own_weight + log_density - log_normalizer


def study_intervals(estimate: jnp.ndarray, se: jnp.ndarray, cuts: jnp.ndarray) -> jnp.ndarray:
    """Return the interval of each study's one-sided p-value ``1 - Phi(y / s)``.

    0 for ``p <= a_1``, ``j`` for ``a_j < p <= a_{j+1}``, ``n_cuts`` for ``p > a_last``.

    Parameters
    ----------
    estimate, se : array, shape (n_studies,)
        The studies' estimates and standard errors.
    cuts : array, shape (n_cuts,)
        Increasing one-sided p-value cut points in (0, 1).

    Returns
    -------
    array of int, shape (n_studies,)

    Examples
    --------
    >>> study_intervals(jnp.array([0.3, 0.17, 0.1, -0.1]), jnp.full(4, 0.1),
    ...                 jnp.array([0.025, 0.05, 0.5])).tolist()
    [0, 1, 2, 3]
    """
    z = jnp.asarray(estimate) / jnp.asarray(se)
    return jnp.sum(z[:, None] < -ndtri(jnp.asarray(cuts))[None, :], axis=1)


def step_selection(
    estimate: jnp.ndarray, se: jnp.ndarray, *, priors: Priors, cuts: jnp.ndarray
) -> None:
    """Define the Bayesian step-function selection model (numpyro).

    ``mu ~ priors.mu``, ``tau ~ priors.tau``, ``log omega_j ~ N(0, 1)`` independently for the
    intervals after the first: no order is imposed on the weights, and a weight of 1 (no
    selection) sits at the prior's centre, with ``exp(+-1.96)`` (0.14 to 7.1) as its 95%
    range. The studies' likelihood is :func:`step_log_likelihood`.

    Sample sites: ``mu``, ``tau``, ``log_omega``; deterministic ``omega`` (every interval's
    weight, the first 1).

    Parameters
    ----------
    estimate, se : array, shape (n_studies,)
        The studies' estimates and standard errors.
    priors : Priors
        Priors of ``mu`` and ``tau``.
    cuts : array, shape (n_cuts,)
        Increasing one-sided p-value cut points in (0, 1).

    Examples
    --------
    >>> import jax
    >>> from numpyro.infer import Predictive
    >>> from sitefx.models.priors import Prior
    >>> priors = Priors(mu=Prior("normal", (0, 1)), tau=Prior("half-normal", (1,)))
    >>> draws = Predictive(step_selection, num_samples=2)(
    ...     jax.random.key(0), jnp.zeros(3), jnp.ones(3), priors=priors, cuts=jnp.array([0.5]))
    >>> draws["omega"].shape
    (2, 2)
    """
    mu = numpyro.sample("mu", priors.mu.distribution())
    tau = numpyro.sample("tau", priors.tau.distribution())
    log_omega = numpyro.sample("log_omega", dist.Normal(0.0, 1.0).expand([cuts.shape[0]]))
    numpyro.deterministic("omega", jnp.exp(jnp.concatenate([jnp.zeros(1), log_omega])))
    numpyro.factor("published", step_log_likelihood(estimate, se, mu, tau, log_omega, cuts).sum())
