"""The long-format growth model, with each person's level and growth integrated out.

Person ``i`` in site ``j`` and arm ``T_i`` has scores ``y_i`` at centred times ``t``; with
``Z_i = [1, t]``,

    y_i ~ N(Z_i c_i, Z_i Sigma Z_i' + sigma^2 I),
    c_i = (alpha_j + level_effect T_i + x_i beta,  growth_j + theta_j T_i),

where ``Sigma`` is the covariance of persons' levels and growth (SDs ``person_sd``,
``person_growth_sd``, correlation ``person_rho``). The sites' control levels
``alpha_j ~ N(alpha_mean, alpha_sd)``, control growth ``growth_j ~ N(growth_mean, growth_sd)``
and effects on growth ``theta_j ~ N(mu, tau)`` are independent. The effect on the level is
one ``level_effect`` for all sites or, asked for (``--level-effect varying``), site-varying
``level_effect_site_j ~ N(level_effect_mean, level_effect_sd)``, independent of the others;
``level_effect T_i`` above is then ``level_effect_site_j T_i``. The person's baseline
covariates ``x_i`` (centred) shift their level by ``x_i beta``.

A comparative interrupted time series adds a break to each line: with ``a`` 1 for the scores
at or after the person's interruption, the mean is ``X_i c_i`` with ``X_i = [1, t, a]`` and

    c_i = (alpha_j + level_difference T_i + x_i beta,
           growth_j + trend_difference T_i,
           shift_j + theta_j T_i):

the comparison persons' scores step by ``shift_j ~ N(shift_mean, shift_sd)`` off their
trend at the interruption (what happened to everyone then), the treated persons' by
``theta_j`` more (the effect, ``theta_j ~ N(mu, tau)``), and before it the arms differ in
level and trend (``level_difference``, ``trend_difference``), as they may without
randomization.

The likelihood of a person depends on the data only through ``n_i``, ``X_i'X_i``,
``X_i'y_i`` and ``y_i'y_i`` (:meth:`~sitefx.data.panel.GrowthPanel.person_statistics`): by
the Woodbury identity and the matrix determinant lemma, with ``L`` the Cholesky factor of
``Sigma``, ``r = y_i - X_i c_i`` and ``A_i = I + L'Z_i'Z_i L / sigma^2`` (2 x 2),

    log det V_i = n_i log sigma^2 + log det A_i,
    r'V_i^{-1} r = (r'r - w' A_i^{-1} w / sigma^2) / sigma^2,  w = L'Z_i'r,

so the sampler sees site-level parameters only, whatever the number of persons, and a
person with one score contributes as exactly as the others.
"""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from sitefx.models.priors import Priors


def person_log_likelihood(
    stats: dict[str, np.ndarray],
    coefficients: jnp.ndarray,
    scale_tril: jnp.ndarray,
    sigma: jnp.ndarray,
) -> jnp.ndarray:
    """Return each person's marginal log-likelihood, their level and growth integrated out.

    Person ``i``'s scores have mean ``X_i c_i`` and covariance ``Z_i Sigma Z_i' + sigma^2 I``,
    ``Z_i = [1, t]`` the first two columns of ``X_i``.

    Parameters
    ----------
    stats : dict of str to ndarray
        :meth:`~sitefx.data.panel.GrowthPanel.person_statistics`: ``n``, ``xx``, ``xy``,
        ``yy``.
    coefficients : ndarray, shape (n_persons, k)
        Each person's mean level (at the centre time), growth and, for an interrupted
        series, change at the interruption: ``c_i``.
    scale_tril : ndarray, shape (2, 2)
        Cholesky factor of the covariance of persons' levels and growth.
    sigma : float
        Residual SD.

    Returns
    -------
    ndarray, shape (n_persons,)

    Examples
    --------
    One person scored once: the normal density of the score with variance
    ``person_sd^2 + sigma^2``.

    >>> stats = {"n": np.array([1.0]), "xx": np.array([[[1.0, 0.0], [0.0, 0.0]]]),
    ...          "xy": np.array([[2.0, 0.0]]), "yy": np.array([4.0])}
    >>> value = person_log_likelihood(stats, jnp.zeros((1, 2)), jnp.eye(2), 1.0)
    >>> round(float(value[0]), 4), round(float(-np.log(2 * np.pi * 2) / 2 - 4 / 4), 4)
    (-2.2655, -2.2655)
    """
    variance = sigma**2
    xx, xy = stats["xx"], stats["xy"]
    xx_c = jnp.einsum("pab,pb->pa", xx, coefficients)  # X'X c
    residual_ss = (
        stats["yy"] - 2 * jnp.sum(coefficients * xy, -1) + jnp.sum(coefficients * xx_c, -1)
    )
    w = (xy[:, :2] - xx_c[:, :2]) @ scale_tril  # L' Z'r, one row per person
    zz = xx[:, :2, :2]
    a = jnp.eye(2) + jnp.einsum("ba,pbc,cd->pad", scale_tril, zz, scale_tril) / variance
    det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] ** 2
    inside = (
        a[:, 1, 1] * w[:, 0] ** 2 - 2 * a[:, 0, 1] * w[:, 0] * w[:, 1] + a[:, 0, 0] * w[:, 1] ** 2
    ) / det
    quadratic = (residual_ss - inside / variance) / variance
    log_det = stats["n"] * jnp.log(variance) + jnp.log(det)
    return -0.5 * (stats["n"] * jnp.log(2 * jnp.pi) + log_det + quadratic)


def long_growth(
    stats: dict[str, np.ndarray],
    treatment: np.ndarray,
    site_index: np.ndarray,
    n_sites: int,
    priors: Priors,
    covariates: np.ndarray,
) -> None:
    """Sample the long-format growth model (see the module docstring).

    Site effects are non-centred (``alpha_j = alpha_mean + alpha_sd z_j``, ...); persons'
    levels and growth are integrated out (:func:`person_log_likelihood`). The effect on the
    level varies across sites when ``priors`` has ``level_effect_sd``. When ``priors`` has
    ``shift_mean`` the persons' lines are interrupted (a comparative interrupted time
    series, ``stats`` with a third column for the scores after the interruption): the
    effects ``theta_j`` are then the treated persons' change at the interruption, net of the
    comparison persons' ``shift_j``, and the arms differ before it by ``level_difference``
    and ``trend_difference``.

    Parameters
    ----------
    stats : dict of str to ndarray
        Each person's sufficient statistics, time centred.
    treatment : ndarray, shape (n_persons,)
        1 for treated persons.
    site_index : ndarray of int, shape (n_persons,)
        Each person's site.
    n_sites : int
        Number of sites.
    priors : Priors
        With ``mu``, ``tau``, ``alpha_mean``, ``alpha_sd``, ``growth_mean``, ``growth_sd``,
        ``person_sd``, ``person_growth_sd``, ``person_rho``, ``sigma``, with covariates
        ``beta``, and ``level_effect`` (or ``level_effect_mean`` and ``level_effect_sd``) or,
        interrupted, ``shift_mean``, ``shift_sd``, ``level_difference`` and
        ``trend_difference``.
    covariates : ndarray, shape (n_persons, n_covariates)
        Each person's baseline covariates, centred (``n_covariates`` may be 0).

    Examples
    --------
    >>> import sitefx
    >>> from numpyro.infer import Predictive
    >>> from jax import random
    >>> from sitefx.families.growth import LongGrowth
    >>> from sitefx.testing import simulate_growth_frame
    >>> frame, _ = simulate_growth_frame(3, 20, seed=0)
    >>> panel = sitefx.load(frame, site="school", outcome="score", treatment="treated",
    ...                     wave="year", person="pupil").data
    >>> priors = LongGrowth().default_priors(panel, robust=False)
    >>> draws = Predictive(long_growth, num_samples=2)(
    ...     random.PRNGKey(0), panel.person_statistics(), panel.treatment, panel.site_index, 3,
    ...     priors, panel.covariates)
    >>> draws["theta"].shape
    (2, 3)
    """
    interrupted = priors.shift_mean is not None
    varying = priors.level_effect_sd is not None
    # Each site effect: its mean and SD.
    site_effects = {"alpha": ("alpha_mean", "alpha_sd"), "growth": ("growth_mean", "growth_sd")}
    site_effects |= {"shift": ("shift_mean", "shift_sd")} if interrupted else {}
    site_effects |= {"theta": ("mu", "tau")}
    if varying:
        site_effects["level_effect_site"] = ("level_effect_mean", "level_effect_sd")
    names = [name for pair in site_effects.values() for name in pair]
    if interrupted:
        names += ["level_difference", "trend_difference"]
    elif not varying:
        names += ["level_effect"]
    sample = {name: numpyro.sample(name, getattr(priors, name).distribution()) for name in names}
    sigma = numpyro.sample("sigma", priors.sigma.distribution())
    person_sds = jnp.stack(
        [
            numpyro.sample("person_sd", priors.person_sd.distribution()),
            numpyro.sample("person_growth_sd", priors.person_growth_sd.distribution()),
        ]
    )
    corr_cholesky = numpyro.sample("person_corr_cholesky", priors.person_rho.distribution())
    numpyro.deterministic("person_rho", corr_cholesky[1, 0])
    with numpyro.plate("sites", n_sites):
        z = numpyro.sample("site_z", dist.Normal(0.0, 1.0).expand([len(site_effects)]).to_event(1))
    effect = {
        name: numpyro.deterministic(name, sample[mean] + sample[sd] * z[:, k])[site_index]
        for k, (name, (mean, sd)) in enumerate(site_effects.items())
    }
    if interrupted:
        level_effect = sample["level_difference"]
        coefficients = [
            effect["growth"] + sample["trend_difference"] * treatment,
            effect["shift"] + effect["theta"] * treatment,
        ]
    else:
        level_effect = effect["level_effect_site"] if varying else sample["level_effect"]
        coefficients = [effect["growth"] + effect["theta"] * treatment]
    level = effect["alpha"] + level_effect * treatment
    if covariates.shape[1]:
        with numpyro.plate("covariate", covariates.shape[1]):
            level = level + covariates @ numpyro.sample("beta", priors.beta.distribution())
    scale_tril = person_sds[:, None] * corr_cholesky
    likelihood = person_log_likelihood(
        stats, jnp.stack([level, *coefficients], -1), scale_tril, sigma
    )
    numpyro.factor("outcome", likelihood.sum())
