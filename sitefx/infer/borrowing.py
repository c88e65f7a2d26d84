"""Borrowing from historical studies: robust MAP priors and power priors for ``mu``.

Historical summaries (an estimate ``y_h`` and standard error ``s_h`` per earlier study or
site) can inform the average effect ``mu`` of the current multi-site study in two ways.

**Meta-analytic-predictive (MAP) prior** (Neuenschwander et al. 2010, Clinical Trials 7:5;
robust version: Schmidli et al. 2014, Biometrics 70:1023). The historical studies and the
current one are exchangeable, so the prior for the current ``mu`` is the predictive
distribution of the effect in a *new* study given the historical ones: ``theta_new`` of the
normal-normal model fitted to them. :func:`map_prior` computes it exactly: the quadrature of
:func:`sitefx.infer.exact.normal_normal_exact` makes it a mixture of normals over the grid of
``tau`` values (RBesT fits such a mixture to MCMC draws by EM; here no approximation beyond
the quadrature is made). :meth:`NormalMixture.robustify` adds a vague component, which lets
the current data discount the historical prior when the two conflict, and
:meth:`NormalMixture.update` gives the conjugate posterior given one normal estimate.

The prior's effective sample size (:meth:`NormalMixture.ess`) counts people whose outcome has
unit-information SD ``sigma``:

* ``"moment"``: ``sigma^2 / Var(mu)``, from the mixture's variance alone;
* ``"elir"``: the expected local information ratio (Neuenschwander, Weber, Schmidli &
  O'Hagan 2020, Biometrics 76:578), ``sigma^2 E_p[-d^2/dmu^2 log p(mu)]`` under the prior
  itself; it is the only predictively consistent one (``sigma^2 / s^2`` for ``N(m, s)``);
* ``"morita"``: Morita, Thall & Müller (2008, Biometrics 64:595) as RBesT computes it for
  normal mixtures: the curvature at the mode minus that of a flattened prior whose variance is
  ``flattening`` (RBesT's ``s``, default 100) times the largest component variance. It
  tends to be liberal, and is ill-defined for multimodal mixtures.

**Power prior** (Ibrahim & Chen 2000, Statistical Science 15:46). The historical studies are
sites of the same population ``(mu, tau)`` as the current ones, but their likelihood
``L_h(mu, tau) = sum_h log N(y_h | mu, sqrt(s_h^2 + tau^2))`` (:func:`historical_log_likelihood`)
is discounted by a power ``a0`` in (0, 1]: ``p(mu, tau | a0) ∝ exp(a0 L_h) pi0(mu) pi0(tau)``.
With ``a0`` fixed the normalizer does not matter. With ``a0`` learned, the prior must be
normalized for each ``a0`` (Duan, Ye & Smith 2006, Environmetrics 17:95; the unnormalized
version does not learn ``a0`` sensibly: Neuenschwander, Branson & Spiegelhalter 2009, Stat Med
28:3562): ``c(a0) = ∫∫ exp(a0 L_h) pi0(mu) pi0(tau) dmu dtau``. :class:`PowerPrior` tabulates
``log c`` on a grid of ``a0``, for use in a numpyro model as::

    numpyro.factor("historical", a0 * historical_log_likelihood(mu, tau, y_h, s_h)
                   - power.log_normalizer_at(a0))

with the same ``pi0(mu)``, ``pi0(tau)`` as the model's own priors on ``mu`` and ``tau``.

How ``c(a0)`` is computed: given ``tau``, ``exp(a0 L_h) pi0(mu)`` is Gaussian in ``mu`` times
a normal (or flat) prior, so ``mu`` is integrated in closed form; ``log tau`` is integrated by
Gauss-Legendre on the interval found by :func:`sitefx.infer.quadrature.mass_bounds`, doubling the
nodes until ``log c`` and the mean and SD of ``mu`` change by less than 1e-9 (in SDs). The
interval reaches at least ``e^12`` times the data's scale above and ``e^-25`` times it below;
beyond it the log integrand is linear in ``log tau`` up to small corrections (the likelihood
and the tau priors have power-law or lighter tails; the corrections are of order
``(scale / tau)^2``, or ``b / tau`` for ``inv-gamma(a, b)``), so the two tails are added in
closed form. This matters for heavy-tailed tau priors at small ``a0``, above all with a flat
``mu`` prior, where most of the mass of ``tau`` can lie far out; a power prior that is
improper there is reported as an error.
"""

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from scipy import interpolate

from sitefx.errors import SitefxInputError
from sitefx.infer.exact import TauPrior, normal_normal_exact
from sitefx.infer.quadrature import (
    MAX_NODES,
    RTOL,
    START_NODES,
    TAIL,
    data_scale,
    gauss_legendre,
    log_sum_exp,
    mass_bounds,
    mixture_quantile,
)
from sitefx.models.priors import Prior, Priors

if TYPE_CHECKING:
    import jax
    from numpyro.distributions import MixtureSameFamily

ESS_METHODS = ("elir", "moment", "morita")
PANEL_REACH = 10.0  # the ELIR integral covers every component's mean +- 10 SDs ...
PANEL_STEP = 0.5  # ... in panels no wider than ~0.75 SD of the narrowest component there
PANEL_NODES = 10  # Gauss-Legendre nodes per panel
CHUNK_ELEMENTS = 2**20  # points x components evaluated at once
MODE_ITERATIONS = 10_000
# a0 grid of the power prior's normalizer: geometric (see PowerPrior).
A0_MIN = 1e-6
A0_NODES = 401
SLOPE_STEP = 1e-4  # log tau step of the tails' slopes


@dataclass(frozen=True, eq=False)
class NormalMixture:
    """A mixture of normal distributions, ``sum_k weight_k N(mean_k, sd_k)``.

    Attributes
    ----------
    weight, mean, sd : ndarray, shape (n_components,)
        Positive weights (normalized to sum to 1), component means and SDs.

    Examples
    --------
    >>> import numpy as np
    >>> prior = NormalMixture([0.8, 0.2], [1.0, 0.0], [0.5, 5.0])  # informative + vague
    >>> round(prior.mean_value(), 3), round(prior.sd_value(), 3)
    (0.8, 2.315)
    >>> {method: round(prior.ess(10.0, method=method), 1) for method in ESS_METHODS}
    {'elir': 276.1, 'moment': 18.7, 'morita': 390.5}
    >>> posterior = prior.update(1.4, 0.5)  # the estimate agrees with the informative part
    >>> np.round(posterior.weight, 3), round(posterior.mean_value(), 3)
    (array([0.962, 0.038]), 1.207)
    """

    weight: np.ndarray
    mean: np.ndarray
    sd: np.ndarray

    def __post_init__(self) -> None:
        """Check the components and normalize the weights.

        Raises
        ------
        SitefxInputError
            Unless weight, mean and sd are 1-D of one length, weights positive and summing
            to 1 (within 1e-6), means finite and SDs finite and positive.
        """
        weight, mean, sd = (
            np.atleast_1d(np.asarray(v, dtype=float)) for v in (self.weight, self.mean, self.sd)
        )
        if weight.ndim != 1 or not weight.size or not mean.shape == weight.shape == sd.shape:
            raise SitefxInputError("a normal mixture needs 1-D weight, mean and sd of one length")
        if not (np.all(weight > 0) and abs(weight.sum() - 1) < 1e-6):
            raise SitefxInputError(f"mixture weights must be positive and sum to 1; got {weight}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(sd) & (sd > 0))):
            raise SitefxInputError("mixture means must be finite and SDs finite and positive")
        object.__setattr__(self, "weight", weight / weight.sum())
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "sd", sd)

    def mean_value(self) -> float:
        """Compute the mixture's mean.

        Returns
        -------
        float
            ``sum_k weight_k mean_k``.
        """
        return float(self.weight @ self.mean)

    def sd_value(self) -> float:
        """Compute the mixture's standard deviation.

        Returns
        -------
        float
            The SD, within- and between-component variance together.
        """
        return float(np.sqrt(self.weight @ (self.sd**2 + (self.mean - self.mean_value()) ** 2)))

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """Compute the log density, summed over components stably (logsumexp).

        Parameters
        ----------
        x : ndarray
            Points, any shape.

        Returns
        -------
        ndarray
            The log density at each point, shape of ``x``.
        """
        return log_sum_exp(self._log_joint(np.asarray(x, dtype=float)), axis=-1)

    def quantile(self, probs: np.ndarray) -> np.ndarray:
        """Compute quantiles of the mixture.

        Parameters
        ----------
        probs : array_like
            Probabilities in (0, 1).

        Returns
        -------
        ndarray, shape (len(probs),)
            The quantiles.
        """
        probs = np.atleast_1d(np.asarray(probs, dtype=float))
        return mixture_quantile(self.weight, self.mean, self.sd, probs)[:, 0]

    def update(self, estimate: float, se: float) -> "NormalMixture":
        """Update the mixture, as a prior, with one estimate ``~ N(mu, se)`` (conjugate).

        Component ``k`` keeps its normal form, with weight proportional to ``weight_k
        N(estimate | mean_k, sqrt(sd_k^2 + se^2))``; components whose weight underflows to 0
        are dropped.

        Parameters
        ----------
        estimate : float
            The current estimate of ``mu``.
        se : float
            Its standard error (> 0), taken as known.

        Returns
        -------
        NormalMixture
            The posterior of ``mu``.

        Raises
        ------
        SitefxInputError
            Unless the estimate is finite and ``se`` finite and > 0.
        """
        if not (math.isfinite(estimate) and math.isfinite(se) and se > 0):
            raise SitefxInputError(f"need a finite estimate and se > 0; got {estimate}, {se}")
        variance = self.sd**2 + se**2
        log_weight = np.log(self.weight) - 0.5 * (
            np.log(2 * np.pi * variance) + (estimate - self.mean) ** 2 / variance
        )
        weight = np.exp(log_weight - log_sum_exp(log_weight))
        shrink = self.sd**2 / variance  # the weight of the estimate in each component
        keep = weight > 0
        return NormalMixture(
            weight[keep],
            (self.mean + shrink * (estimate - self.mean))[keep],
            (np.sqrt(shrink) * se)[keep],
        )

    def robustify(self, weight: float, mean: float, sd: float) -> "NormalMixture":
        """Add a vague component ``N(mean, sd)`` with prior weight ``weight``.

        The other components' weights are scaled by ``1 - weight`` (Schmidli et al. 2014).

        Parameters
        ----------
        weight : float
            The vague component's prior weight, in (0, 1), e.g. 0.2.
        mean, sd : float
            The vague component's mean and SD: usually the prior ``mu`` would have without
            the history.

        Returns
        -------
        NormalMixture
            The robust mixture, the vague component last.

        Raises
        ------
        SitefxInputError
            If ``weight`` is not in (0, 1).
        """
        if not 0 < weight < 1:
            raise SitefxInputError(f"the robust component's weight must be in (0, 1); got {weight}")
        return NormalMixture(
            np.append((1 - weight) * self.weight, weight),
            np.append(self.mean, mean),
            np.append(self.sd, sd),
        )

    def prune(self, tol: float) -> "NormalMixture":
        """Drop the components with weight below ``tol`` (never the heaviest) and renormalize.

        Parameters
        ----------
        tol : float
            The smallest weight kept.

        Returns
        -------
        NormalMixture
            The kept components, weights summing to 1.
        """
        keep = self.weight >= min(tol, self.weight.max())
        weight = self.weight[keep]
        return NormalMixture(weight / weight.sum(), self.mean[keep], self.sd[keep])

    def distribution(self) -> "MixtureSameFamily":
        """Build the mixture as a numpyro distribution (e.g. the prior of ``mu`` in a model).

        Returns
        -------
        numpyro.distributions.MixtureSameFamily
            A categorical mixture of normals.
        """
        import jax.numpy as jnp  # JAX and numpyro only when a model samples
        import numpyro.distributions as dist

        return dist.MixtureSameFamily(
            dist.Categorical(probs=jnp.asarray(self.weight)),
            dist.Normal(jnp.asarray(self.mean), jnp.asarray(self.sd)),
        )

    def ess(self, sigma: float, *, method: str = "elir", flattening: float = 100.0) -> float:
        """Compute the effective sample size in people with unit-information SD ``sigma``.

        Parameters
        ----------
        sigma : float
            The SD of one person's contribution to an effect estimate (in the effect's units).
        method : {"elir", "moment", "morita"}, default "elir"
            Expected local information ratio, the mixture's variance, or Morita et al.'s
            curvature at the mode; see the module docstring.
        flattening : float, default 100.0
            ``morita`` only: RBesT's ``s``, the flattened prior's variance over the largest
            component variance.

        Returns
        -------
        float
            The number of people the prior is worth.

        Raises
        ------
        SitefxInputError
            For an unknown ``method``.
        """
        if method == "moment":
            information = 1.0 / self.sd_value() ** 2
        elif method == "elir":
            information = self._expected_information()
        elif method == "morita":
            precision, spread = self._curvature_terms(np.array([self._mode()]))
            information = precision[0] - spread[0] - 1.0 / (flattening * np.max(self.sd**2))
        else:
            raise SitefxInputError(f"ess method must be one of {ESS_METHODS}; got '{method}'")
        return float(sigma**2 * information)

    def _log_joint(self, x: np.ndarray) -> np.ndarray:
        """``log weight_k + log N(x | mean_k, sd_k)``, shape ``x.shape + (n_components,)``."""
        z = (x[..., None] - self.mean) / self.sd
        return np.log(self.weight / self.sd) - 0.5 * (z**2 + np.log(2 * np.pi))

    def _scores(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return each component's score and posterior responsibility at ``x``.

        The score is ``d/dx log N(x | mean_k, sd_k)``, the responsibility ``r_k(x)``; shapes
        (len(x), n_components).
        """
        log_joint = self._log_joint(x)
        responsibility = np.exp(log_joint - log_sum_exp(log_joint, axis=1, keepdims=True))
        return -(x[:, None] - self.mean) / self.sd**2, responsibility

    def _curvature_terms(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``E_r[1 / sd^2]`` and ``Var_r[score]`` at ``x`` (r: the responsibilities).

        Their difference is ``-d^2/dx^2 log p(x)``.
        """
        score, responsibility = self._scores(x)
        mean_score = np.sum(responsibility * score, axis=1, keepdims=True)
        spread = np.sum(responsibility * (score - mean_score) ** 2, axis=1)
        return responsibility @ self.sd**-2, spread

    def _expected_information(self) -> float:
        """``E_p[-d^2/dx^2 log p] = sum_k weight_k / sd_k^2 - ∫ p Var_r[score] dx``.

        The first term is exact; the second is zero for one component, and otherwise
        integrated by composite Gauss-Legendre on :meth:`_panels`, in chunks of points.
        """
        x, w = self._panels()
        chunk = max(1, CHUNK_ELEMENTS // len(self.weight))
        spread = 0.0
        for start in range(0, len(x), chunk):
            points = x[start : start + chunk]
            density = np.exp(self.log_pdf(points))
            spread += w[start : start + chunk] @ (self._curvature_terms(points)[1] * density)
        return float(self.weight @ self.sd**-2 - spread)

    def _panels(self) -> tuple[np.ndarray, np.ndarray]:
        """Return quadrature nodes and weights resolving every component.

        Panel edges every half SD over each component's mean +- 10 SDs, snapped to a grid of
        spacing ``sd/8`` to ``sd/4`` (a power of 2) so that components of similar mean and SD
        share edges.
        """
        offsets = np.arange(-PANEL_REACH, PANEL_REACH + PANEL_STEP / 2, PANEL_STEP)
        spacing = (2.0 ** np.floor(np.log2(self.sd)) / 4)[:, None]
        edges = self.mean[:, None] + self.sd[:, None] * offsets
        edges = np.unique(np.round(edges / spacing) * spacing)
        unit, unit_weight = gauss_legendre(PANEL_NODES)
        width = np.diff(edges)[:, None]
        return (edges[:-1, None] + width * unit).ravel(), (width * unit_weight).ravel()

    def _mode(self) -> float:
        """Find the mode by mean-shift (a monotone ascent of the density).

        It starts from the component mean where the density is highest.
        """
        precision = self.sd**-2
        x = self.mean[np.argmax(self.log_pdf(self.mean))]
        for _ in range(MODE_ITERATIONS):
            responsibility = self._scores(np.array([x]))[1][0] * precision
            step = responsibility @ self.mean / responsibility.sum() - x
            x += step
            if abs(step) <= 1e-12 * self.sd.min():
                return float(x)
        raise RuntimeError("the mode of the mixture was not found")


def map_prior(
    estimate: np.ndarray, se: np.ndarray, priors: Priors, *, prune: float = 1e-10
) -> NormalMixture:
    """Compute the meta-analytic-predictive prior: a new study's effect given earlier ones.

    The exact predictive distribution of ``theta_new`` of the normal-normal model fitted to
    the historical summaries: a mixture over the quadrature grid of ``tau``, with components
    of weight below ``prune`` dropped.

    Parameters
    ----------
    estimate, se : array_like, shape (n_studies,)
        Historical estimates and their standard errors.
    priors : Priors
        Priors of the meta-analysis of the historical studies (normal or flat ``mu``, any
        ``tau``); the ``tau`` prior matters most when there are few studies.
    prune : float, default 1e-10
        Weight below which grid components are dropped.

    Returns
    -------
    NormalMixture
        The MAP prior (not yet robustified: see :meth:`NormalMixture.robustify`).

    Examples
    --------
    >>> import numpy as np
    >>> from sitefx.models.priors import Prior, Priors
    >>> priors = Priors(mu=Prior.parse("normal(0, 50)"), tau=Prior.parse("half-cauchy(5)"))
    >>> y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])
    >>> se = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])
    >>> prior = map_prior(y, se, priors)
    >>> round(prior.mean_value(), 2), round(prior.sd_value(), 2), round(prior.ess(100.0), 1)
    (7.74, 6.6, 297.0)
    >>> robust = prior.robustify(0.2, 0.0, 100.0)  # 20% on a vague component
    >>> conflict = robust.update(40.0, 10.0)  # a current estimate far from the historical ones
    >>> round(float(conflict.weight[-1]), 3)  # the vague component's weight has grown
    0.499
    """
    posterior = normal_normal_exact(estimate, se, priors=priors)
    means, variances = posterior.components("theta_new")
    keep = posterior.weight > 0
    mixture = NormalMixture(posterior.weight[keep], means[keep], np.sqrt(variances[keep]))
    return mixture.prune(prune)


def historical_log_likelihood(
    mu: "jax.Array", tau: "jax.Array", estimate: "jax.Array", se: "jax.Array"
) -> "jax.Array":
    """Compute the marginal log likelihood of the historical summaries (JAX).

    ``L_h(mu, tau) = sum_h log N(estimate_h | mu, sqrt(se_h^2 + tau^2))``, jit-able and
    differentiable.

    Parameters
    ----------
    mu, tau : jax.Array or float
        The average effect and the cross-site SD (scalars).
    estimate, se : jax.Array, shape (n_studies,)
        Historical estimates and standard errors.

    Returns
    -------
    jax.Array
        The log likelihood, a scalar.

    Examples
    --------
    >>> import jax
    >>> with jax.enable_x64(True):
    ...     y, se = jax.numpy.array([1.0, 2.0]), jax.numpy.array([1.0, 0.5])
    ...     value = float(historical_log_likelihood(1.5, 0.3, y, se))
    ...     slope = float(jax.grad(historical_log_likelihood)(1.5, 0.3, y, se))  # d/dmu
    >>> round(value, 4), round(slope, 4)
    (-1.8239, 1.0119)
    """
    import jax.numpy as jnp  # inside a numpyro model

    variance = jnp.square(se) + jnp.square(tau)
    return -0.5 * jnp.sum(jnp.log(2 * jnp.pi * variance) + jnp.square(estimate - mu) / variance)


@dataclass(frozen=True, kw_only=True, eq=False)
class PowerPrior:
    """The normalized power prior of ``(mu, tau)`` from historical summaries.

    Build it with :meth:`build`. ``log_normalizer`` holds ``log c(a0)`` on ``a0_grid``: 401
    points spaced geometrically from 1e-6 to 1. Where the historical data outweigh the
    priors, ``log c`` is close to linear in ``log a0`` (it falls by about half a unit per
    parameter for each unit of ``log a0``), so :meth:`log_normalizer_at` interpolates with a
    not-a-knot cubic spline in ``log a0``: error ~1e-6 near ``a0 = 1``, less below. Below
    1e-6 it returns the value at 1e-6. With proper priors ``c(0) = 1``, and ``log c(1e-6)``
    is about ``1e-6 E_prior[L_h]``, close to 0. With a flat ``mu`` prior (density 1),
    ``c(a0)`` is defined relative to that density, a constant factor that does not depend on
    ``a0``, and grows without bound as ``a0 -> 0``.

    Attributes
    ----------
    estimate, se : ndarray, shape (n_studies,)
        Historical estimates and standard errors.
    priors : Priors
        ``pi0``: normal or flat ``mu``, any ``tau`` prior (also the model's priors).
    a0_grid, log_normalizer : ndarray, shape (401,)
    error_estimate : float
        Largest change of ``log c`` (and of the moments of ``mu``, in SDs) between the last two
        quadrature rules, over the grid.

    Examples
    --------
    >>> import numpy as np
    >>> from sitefx.models.priors import Prior, Priors
    >>> priors = Priors(mu=Prior.parse("normal(0, 1)"), tau=Prior.parse("half-normal(0.5)"))
    >>> power = PowerPrior.build(np.array([0.3, 0.1, 0.25]), np.array([0.1, 0.15, 0.1]), priors)
    >>> [round(float(power.log_normalizer_at(a0)), 4) for a0 in (0.1, 0.5, 1.0)]
    [-0.6667, -1.1866, -0.8194]
    >>> mean, variance = power.mu_moments(0.5)  # the prior of mu is normal(0, 1)
    >>> round(mean, 3), round(float(np.sqrt(variance)), 3)
    (0.206, 0.303)
    """

    estimate: np.ndarray
    se: np.ndarray
    priors: Priors
    a0_grid: np.ndarray
    log_normalizer: np.ndarray
    error_estimate: float

    @classmethod
    def build(cls, estimate: np.ndarray, se: np.ndarray, priors: Priors) -> "PowerPrior":
        """Tabulate ``log c(a0)`` for historical summaries and priors ``pi0``.

        401 integrals, each to 1e-9 (numpy and scipy: no JAX).

        Parameters
        ----------
        estimate, se : ndarray, shape (n_studies,)
            Historical estimates and standard errors (finite, ``se > 0``).
        priors : Priors
            ``pi0``: a normal or flat ``mu`` prior and a positive ``tau`` prior (the model's
            own).

        Returns
        -------
        PowerPrior
            The table and its error estimate.

        Raises
        ------
        SitefxInputError
            For invalid summaries or priors, or a power prior improper at some ``a0``.
        """
        estimate, se = np.asarray(estimate, dtype=float), np.asarray(se, dtype=float)
        _check_power_inputs(estimate, se, priors)
        a0_grid = np.geomspace(A0_MIN, 1.0, A0_NODES)
        integrals = [_integrate_power_prior(a0, estimate, se, priors) for a0 in a0_grid]
        return cls(
            estimate=estimate,
            se=se,
            priors=priors,
            a0_grid=a0_grid,
            log_normalizer=np.array([integral.log_normalizer for integral in integrals]),
            error_estimate=max(integral.error for integral in integrals),
        )

    def log_normalizer_at(self, a0: "jax.Array") -> "jax.Array":
        """Evaluate ``log c(a0)`` as a JAX function (jit-able, differentiable in ``a0``).

        Parameters
        ----------
        a0 : jax.Array or float
            The power; clamped to the grid's range, [1e-6, 1].

        Returns
        -------
        jax.Array
            ``log c(a0)`` by the cubic spline, shape of ``a0``.
        """
        import jax.numpy as jnp  # inside a numpyro model

        knots, coefficients = (jnp.asarray(array) for array in self._spline)
        x = jnp.clip(jnp.log(a0), knots[0], knots[-1])
        i = jnp.clip(jnp.searchsorted(knots, x, side="right") - 1, 0, len(knots) - 2)
        dx = x - knots[i]
        c = coefficients[:, i]
        return ((c[0] * dx + c[1]) * dx + c[2]) * dx + c[3]

    def mu_moments(self, a0: float) -> tuple[float, float]:
        """Compute the mean and variance of ``mu`` under the normalized power prior at ``a0``.

        ``sigma^2 / variance`` is its effective sample size; the variance is infinite when a
        flat ``mu`` prior and heavy-tailed ``tau`` prior leave too little information.

        Parameters
        ----------
        a0 : float
            The power, in (0, 1].

        Returns
        -------
        mean, variance : float
            The moments of ``mu`` (see :func:`power_prior_mu_moments`).
        """
        return power_prior_mu_moments(a0, self.estimate, self.se, self.priors)

    @cached_property
    def _spline(self) -> tuple[np.ndarray, np.ndarray]:
        """Knots (log a0) and piecewise-cubic coefficients of the not-a-knot spline."""
        spline = interpolate.CubicSpline(np.log(self.a0_grid), self.log_normalizer)
        return spline.x, spline.c


def power_prior_mu_moments(
    a0: float, estimate: np.ndarray, se: np.ndarray, priors: Priors
) -> tuple[float, float]:
    """Compute the mean and variance of ``mu`` under the normalized power prior at ``a0``.

    No table of ``log c`` is needed: one integral over ``log tau``.

    Parameters
    ----------
    a0 : float
        The power, in (0, 1].
    estimate, se : ndarray, shape (n_studies,)
        Historical estimates and standard errors.
    priors : Priors
        ``pi0``: a normal or flat ``mu`` prior and a positive ``tau`` prior.

    Returns
    -------
    mean, variance : float
        The moments of ``mu``; ``sigma^2 / variance`` is the prior's effective sample size.

    Raises
    ------
    SitefxInputError
        If ``a0`` is not in (0, 1], or for invalid summaries or priors.

    Examples
    --------
    >>> from sitefx.models.priors import Prior, Priors
    >>> priors = Priors(mu=Prior.parse("normal(0, 1)"), tau=Prior.parse("half-normal(0.5)"))
    >>> mean, variance = power_prior_mu_moments(
    ...     0.5, np.array([0.3, 0.1, 0.25]), np.array([0.1, 0.15, 0.1]), priors)
    >>> round(mean, 3), round(float(np.sqrt(variance)), 3)
    (0.206, 0.303)
    """
    if not 0 < a0 <= 1:
        raise SitefxInputError(f"a0 must be in (0, 1]; got {a0}")
    estimate, se = np.asarray(estimate, dtype=float), np.asarray(se, dtype=float)
    _check_power_inputs(estimate, se, priors)
    integral = _integrate_power_prior(a0, estimate, se, priors)
    return integral.mu_mean, integral.mu_variance


def _check_power_inputs(estimate: np.ndarray, se: np.ndarray, priors: Priors) -> None:
    if estimate.ndim != 1 or estimate.shape != se.shape or not estimate.size:
        raise SitefxInputError("historical estimate and se must be 1-D arrays of one length")
    if not (np.all(np.isfinite(estimate)) and np.all(np.isfinite(se) & (se > 0))):
        raise SitefxInputError("historical estimates must be finite and SEs finite and > 0")
    if priors.mu.family not in ("normal", "flat"):
        raise SitefxInputError(f"the power prior needs a normal or flat mu prior; got {priors.mu}")
    if priors.tau.support != "positive":
        raise SitefxInputError(f"the prior of tau must have positive support; got {priors.tau}")


class _PowerIntegral(NamedTuple):
    log_normalizer: float
    mu_mean: float
    mu_variance: float
    error: float


def _integrate_power_prior(
    a0: float, estimate: np.ndarray, se: np.ndarray, priors: Priors
) -> _PowerIntegral:
    """Integrate the power prior at ``a0``: ``log c(a0)`` and the moments of ``mu``.

    Gauss-Legendre over ``log tau`` on the interval holding the mass, doubling the nodes
    until converged, plus the two tails.
    """
    options = {"mu_prior": priors.mu, "tau_prior": TauPrior(priors.tau)}

    def integrand(log_tau: np.ndarray) -> np.ndarray:
        return _log_tau_integrand(a0, log_tau, estimate, se, **options)

    scale = data_scale(estimate, se)
    low, high = mass_bounds(integrand, scale, extend=False)  # tails in closed form below
    # A nearly flat integrand (flat mu prior, small a0) can stretch the interval without end;
    # 40 e-folds from the data's scale, the tails below are exact to ~e^-80.
    low, high = max(low, np.log(scale) - TAIL), min(high, np.log(scale) + TAIL)
    outward = {-1.0: True, 1.0: True}  # whether the prior of tau reaches beyond each edge
    if priors.tau.family == "uniform":
        lower, upper = priors.tau.params
        high, outward[1.0] = min(high, np.log(upper)), False
        if lower > 0:
            low, outward[-1.0] = max(low, np.log(lower)), False
    edges = np.array([low, high])
    values, slopes = _log_tau_integrand_slopes(a0, edges, estimate, se, **options)
    tails = [
        _tail(values[:, side], slopes[:, side], direction, a0=a0)
        for side, direction in enumerate((-1.0, 1.0))
        if outward[direction]
    ]
    nodes, previous = START_NODES, None
    while True:
        unit_nodes, unit_weights = gauss_legendre(nodes)
        log_g, mean, variance = integrand(low + (high - low) * unit_nodes)
        log_weight = log_g + np.log(unit_weights * (high - low))
        shift = max(log_weight.max(), *(log_scale for log_scale, _ in tails))
        weight = np.exp(log_weight - shift)
        sums = np.array([weight.sum(), weight @ mean, weight @ (variance + mean**2)])
        moments = _moments(sums) + np.array([shift, 0.0, 0.0])
        if previous is not None:
            change = np.abs(moments - previous) / np.array([1.0, moments[2], moments[2]])
            if change.max() < RTOL or nodes >= MAX_NODES:
                break
        previous = moments
        nodes *= 2
    for log_scale, integrals in tails:
        sums += np.exp(log_scale - shift) * integrals
    log_normalizer, mu_mean, mu_sd = _moments(sums)
    return _PowerIntegral(
        float(log_normalizer + shift), float(mu_mean), float(mu_sd**2), float(change.max())
    )


def _moments(sums: np.ndarray) -> np.ndarray:
    """``(log mass, mean, sd)`` from the integrals of ``1``, ``mu`` and ``mu^2``."""
    mean = sums[1] / sums[0]
    sd = np.sqrt(sums[2] / sums[0] - mean**2) if np.isfinite(sums[2]) else np.inf
    return np.array([np.log(sums[0]), mean, sd])


def _tail(
    value: np.ndarray, slope: np.ndarray, direction: float, *, a0: float
) -> tuple[float, np.ndarray]:
    """Integrate ``1``, ``mu``, ``mu^2`` beyond an edge of the interval, in closed form.

    Direction -1: below it, +1: above; returned as ``log g`` at the edge and multipliers of
    ``g``. There ``log g`` is
    linear in ``log tau``, the mean of ``mu`` given ``tau`` constant and its variance
    exponential (it grows like ``tau^2`` with a flat ``mu`` prior).
    """
    log_g, mean, variance = value
    decay = -direction * slope[0]  # log g falls by this much per unit of log tau outwards
    growth = direction * slope[2] / variance  # outward log-slope of the variance of mu
    if not decay > 0:
        where = "infinity" if direction > 0 else "0"
        raise SitefxInputError(
            f"the power prior is improper at a0 = {a0:g}: its density does not fall as tau "
            f"goes to {where} (use a proper mu prior, a lighter-tailed tau prior or a larger a0)"
        )
    second = mean**2 / decay + (variance / (decay - growth) if decay > growth else np.inf)
    return float(log_g), np.array([1.0 / decay, mean / decay, second])


def _log_tau_integrand(
    a0: float,
    log_tau: np.ndarray,
    estimate: np.ndarray,
    se: np.ndarray,
    *,
    mu_prior: Prior,
    tau_prior: TauPrior,
) -> np.ndarray:
    """Evaluate the power prior's integrand over ``log tau``, and ``mu`` given ``tau``.

    At each ``t = log tau``: ``log g(t)`` with ``g(t) = ∫ exp(a0 L_h(mu, tau)) pi0(mu) dmu
    pi0(tau) tau`` (``tau``: the Jacobian), and the mean and variance of ``mu`` given ``tau``
    under the power prior, stacked: shape ``(3, *log_tau.shape)``.

    ``L_h(mu, tau) = peak(tau) - W(tau) (mu - centre(tau))^2 / 2`` with ``W = sum_h 1/v_h``,
    ``v_h = se_h^2 + tau^2`` and ``centre`` the precision-weighted mean, so ``mu`` is normal
    given ``tau`` with prior precision ``1/s0^2`` plus data precision ``a0 W``.
    """
    log_tau = np.asarray(log_tau, dtype=float)
    variance = np.square(se) + np.exp(2 * log_tau)[..., None]
    total = np.sum(1.0 / variance, axis=-1)
    centre = np.sum(estimate / variance, axis=-1) / total
    spread = np.sum(np.square(estimate - centre[..., None]) / variance, axis=-1)
    peak = -0.5 * (np.sum(np.log(2 * np.pi * variance), axis=-1) + spread)
    data_precision = a0 * total
    if mu_prior.family == "flat":
        log_mu_integral = 0.5 * np.log(2 * np.pi / data_precision)
        mu_mean, mu_variance = centre, 1.0 / data_precision
    else:
        prior_mean, prior_sd = mu_prior.params
        ratio = data_precision * prior_sd**2  # data precision over prior precision
        log_mu_integral = -0.5 * (
            np.log1p(ratio) + data_precision * np.square(centre - prior_mean) / (1 + ratio)
        )
        mu_mean = prior_mean + ratio / (1 + ratio) * (centre - prior_mean)
        mu_variance = np.broadcast_to(prior_sd**2 / (1 + ratio), centre.shape)
    log_g = a0 * peak + log_mu_integral + tau_prior.log_prob(log_tau) + log_tau
    return np.stack([np.where(np.isnan(log_g), -np.inf, log_g), mu_mean, mu_variance])


def _log_tau_integrand_slopes(
    a0: float,
    log_tau: np.ndarray,
    estimate: np.ndarray,
    se: np.ndarray,
    *,
    mu_prior: Prior,
    tau_prior: TauPrior,
) -> tuple[np.ndarray, np.ndarray]:
    """Return :func:`_log_tau_integrand` and its ``log tau`` derivatives (central differences).

    The step ``SLOPE_STEP`` in ``log tau`` leaves errors near 1e-9 relative: the slopes only
    set the decay of the closed-form tails, which hold a tiny share of the mass.
    """
    options = {"mu_prior": mu_prior, "tau_prior": tau_prior}
    values = _log_tau_integrand(a0, log_tau, estimate, se, **options)
    above = _log_tau_integrand(a0, log_tau + SLOPE_STEP, estimate, se, **options)
    below = _log_tau_integrand(a0, log_tau - SLOPE_STEP, estimate, se, **options)
    return values, (above - below) / (2 * SLOPE_STEP)
