"""The collapsed likelihood of Gaussian records: site and cluster effects integrated out.

Given the sufficient statistics of :mod:`sitefx.data.statistics`, the site effects are
integrated out analytically: per site, ``r_j = y_j - X_j beta ~ N(Z_j m, sigma^2 I + Z_j Sigma
Z_j')``, evaluated with the Woodbury identity through the 2x2 matrices ``M_j = Sigma^-1 +
Z_j'Z_j / sigma^2``. Site effects can then be drawn exactly from ``b_j | rest ~ N(M_j^-1
(Sigma^-1 m + Z_j'r_j / sigma^2), M_j^-1)`` (:func:`conditional_site_effects`; Lai, Domke &
Sheldon 2024 on why collapsing Gaussian effects helps samplers).

Clusters nested in sites (classrooms in schools) add random intercepts ``c_k ~ N(0,
cluster_sd)``. They are integrated out first, cluster by cluster: the records of cluster
``k`` have covariance ``V_k = sigma^2 (I + rho_k 11')`` whose inverse is
``(I - omega_k 11') / sigma^2`` with ``omega_k = cluster_sd^2 / (sigma^2 + n_k cluster_sd^2)``.
So ``Z'V^-1 Z``, ``Z'V^-1 r`` and ``r'V^-1 r`` are the statistics minus per-cluster
corrections built from each cluster's size, treated count and sums of ``y`` and ``X``; the
site-level algebra is then unchanged.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from sitefx.data.statistics import ClusterStatistics, SiteStatistics

# The statistics are pytrees of arrays: compiled functions take them as arguments, so they
# compile once per shape rather than once per data set with the data as constants.
jax.tree_util.register_dataclass(ClusterStatistics)
jax.tree_util.register_dataclass(SiteStatistics)


def _inverse_2x2(a, b, d):
    """Return the inverse and log-determinant of the symmetric 2x2 matrices [[a, b], [b, d]]."""
    det = a * d - b * b
    return d / det, -b / det, a / det, jnp.log(det)


class _Residuals(NamedTuple):
    """Hold the residual terms of the collapsed likelihood.

    ``sigma^2 Z'V^-1 Z``, ``sigma^2 Z'V^-1 r`` and ``sigma^2 r'V^-1 r`` for ``r = y - X beta``
    (``V``: the records' covariance given the site effects), and ``log det V`` beyond
    ``N log sigma^2``.
    """

    zz: jnp.ndarray  # (n_sites, 2, 2)
    zr: jnp.ndarray  # (n_sites, 2)
    rr: jnp.ndarray
    log_det: jnp.ndarray


def _residuals(
    stats: SiteStatistics,
    beta: jnp.ndarray,
    variance: jnp.ndarray,
    cluster_sd: jnp.ndarray,
    *,
    per_site: bool = False,
) -> _Residuals:
    """Compute the residual terms: ``rr`` and ``log_det`` summed, or one per site (``per_site``)."""
    zr = stats.zy - stats.zx @ beta
    if per_site:
        rr = (
            stats.site_yy
            - 2 * stats.site_xy @ beta
            + jnp.einsum("p,jpq,q->j", beta, stats.site_xx, beta)
        )
    else:
        rr = stats.yy - 2 * beta @ stats.xy + beta @ stats.xx @ beta
    if stats.clusters is None:
        return _Residuals(jnp.asarray(stats.zz), zr, rr, jnp.zeros(rr.shape))
    clusters, n_sites = stats.clusters, stats.n.shape[0]
    ratio = cluster_sd**2 / variance
    omega = ratio / (1 + clusters.n * ratio)
    ur = clusters.y - clusters.x @ beta  # 1'r_k per cluster
    n, treated = clusters.n, clusters.treated  # Z_k'1 = (n_k, treated_k) per cluster

    def by_site(values: jnp.ndarray) -> jnp.ndarray:
        # Clusters come sorted by site; one segment sum per 1-D term (XLA's CPU scatter-add
        # of rows is several times slower).
        return jax.ops.segment_sum(values, clusters.site, n_sites, indices_are_sorted=True)

    total = by_site if per_site else jnp.sum
    pairs = ((n, n), (n, treated), (treated, treated))
    n_n, n_t, t_t = (by_site(omega * a * b) for a, b in pairs)  # Z_k'1 1'Z_k, weighted
    return _Residuals(
        zz=stats.zz - jnp.stack([jnp.stack([n_n, n_t], -1), jnp.stack([n_t, t_t], -1)], -2),
        zr=zr - jnp.stack([by_site(omega * n * ur), by_site(omega * treated * ur)], -1),
        rr=rr - total(omega * ur**2),
        log_det=total(jnp.log1p(n * ratio)),
    )


class Conditional(NamedTuple):
    """The site effects given everything else: ``b_j ~ N(mean_j, cov_j)``.

    ``b_j = (alpha_j, theta_j)``: site ``j``'s intercept and treatment effect.

    Attributes
    ----------
    mean : array, shape (n_sites, 2)
        Conditional mean of each site's (intercept, effect).
    cov : tuple of 3 arrays, each shape (n_sites,)
        Entries (00, 01, 11) of each site's 2x2 conditional covariance ``M_j^-1``.
    log_det_precision : array, shape (n_sites,)
        ``log det M_j^-1`` (the log-determinant of the conditional covariance).
    log_det_prior : array
        ``log det Sigma``, one value, or one per site when ``Sigma`` varies by site.
    residuals : _Residuals
        The residual terms the likelihood is built from (internal).

    Examples
    --------
    >>> import jax, numpy as np
    >>> from sitefx.data.statistics import SiteStatistics
    >>> stats = SiteStatistics.from_arrays(np.array([1.0, 2, 3, 4]), np.array([0, 1, 0, 1]),
    ...                                    np.array([0, 0, 1, 1]), np.zeros((4, 0)), n_sites=2)
    >>> with jax.enable_x64(True):
    ...     cond = conditional_site_effects(stats, mean=np.zeros(2), scale_tril=np.eye(2),
    ...                                     sigma=1.0, beta=np.zeros(0), cluster_sd=0.0)
    >>> cond.mean.shape, len(cond.cov)
    ((2, 2), 3)
    """

    mean: jnp.ndarray  # (n_sites, 2)
    cov: tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]  # (00, 01, 11) entries, each (n_sites,)
    log_det_precision: jnp.ndarray  # (n_sites,)
    log_det_prior: jnp.ndarray  # log det Sigma (per site when Sigma varies by site)
    residuals: _Residuals


def conditional_site_effects(
    stats: SiteStatistics,
    *,
    mean: jnp.ndarray,
    scale_tril: jnp.ndarray,
    sigma: jnp.ndarray,
    beta: jnp.ndarray,
    cluster_sd: jnp.ndarray,
    per_site: bool = False,
) -> Conditional:
    """Compute the site effects' normal distribution given the population parameters.

    ``b_j | rest ~ N(M_j^-1 (Sigma^-1 m + Z_j'r_j / sigma^2), M_j^-1)`` with ``M_j = Sigma^-1 +
    Z_j'V_j^-1 Z_j`` (``V_j = sigma^2 I`` without clusters), from the records' statistics.

    Parameters
    ----------
    stats : SiteStatistics
        The records' sufficient statistics (computed ``per_site`` if ``per_site``).
    mean : array, shape (2,) or (n_sites, 2)
        ``m = (alpha_mean, mu)``, or one such row per site (moderators, nesting levels).
    scale_tril : array, shape (2, 2) or (n_sites, 2, 2)
        Cholesky factor of the site effects' covariance ``Sigma`` (one per site for
        Student-t site effects as scale mixtures).
    sigma, beta, cluster_sd : array
        Residual SD, covariate coefficients and the SD of cluster intercepts (0 without).
    per_site : bool, default False
        Keep the residual terms per site rather than summed.

    Returns
    -------
    Conditional
        ``b_j ~ N(mean_j, cov_j)`` per site, the log-determinants and the residual terms.

    Examples
    --------
    >>> import jax, numpy as np
    >>> from sitefx.data.statistics import SiteStatistics
    >>> stats = SiteStatistics.from_arrays(np.array([1.0, 2, 3, 4]), np.array([0, 1, 0, 1]),
    ...                                    np.array([0, 0, 1, 1]), np.zeros((4, 0)), n_sites=2)
    >>> with jax.enable_x64(True):  # a wide prior: the effects are the sites' own estimates
    ...     cond = conditional_site_effects(stats, mean=np.zeros(2), scale_tril=100 * np.eye(2),
    ...                                     sigma=1.0, beta=np.zeros(0), cluster_sd=0.0)
    >>> np.round(cond.mean, 2).tolist()  # (control mean, treated minus control) per site
    [[1.0, 1.0], [3.0, 1.0]]
    """
    variance = sigma**2
    res = _residuals(stats, beta, variance, cluster_sd, per_site=per_site)
    s = scale_tril @ jnp.swapaxes(scale_tril, -1, -2)  # one Sigma, or one per site
    inv00, inv01, inv11, log_det_prior = _inverse_2x2(s[..., 0, 0], s[..., 0, 1], s[..., 1, 1])
    zz = res.zz / variance
    w00, w01, w11, log_det_precision = _inverse_2x2(
        inv00 + zz[:, 0, 0], inv01 + zz[:, 0, 1], inv11 + zz[:, 1, 1]
    )
    h0 = inv00 * mean[..., 0] + inv01 * mean[..., 1] + res.zr[:, 0] / variance
    h1 = inv01 * mean[..., 0] + inv11 * mean[..., 1] + res.zr[:, 1] / variance
    return Conditional(
        mean=jnp.stack([w00 * h0 + w01 * h1, w01 * h0 + w11 * h1], axis=-1),
        cov=(w00, w01, w11),
        log_det_precision=log_det_precision,
        log_det_prior=log_det_prior,
        residuals=res,
    )


def scale_with_theta(scale_tril: jnp.ndarray, theta_scale: jnp.ndarray) -> jnp.ndarray:
    """Give each site's effect its own scale: Cholesky factors ``diag(1, theta_scale_j) L``.

    The site effect ``theta_j`` (not the intercept) gets its own scale, as in a Student-t
    scale mixture.

    Parameters
    ----------
    scale_tril : array, shape (2, 2)
        ``L``, the Cholesky factor of the covariance of (intercept, effect).
    theta_scale : array, shape (n_sites,)
        Each site's multiplier of the effect's row.

    Returns
    -------
    array, shape (n_sites, 2, 2)
        One Cholesky factor per site.

    Examples
    --------
    >>> import numpy as np
    >>> scale_with_theta(np.eye(2), np.array([1.0, 3.0]))[1].tolist()
    [[1.0, 0.0], [0.0, 3.0]]
    """
    rows = jnp.stack([jnp.ones_like(theta_scale), theta_scale], axis=-1)
    return rows[..., :, None] * scale_tril


def collapsed_log_likelihood(
    stats: SiteStatistics,
    *,
    mean: jnp.ndarray,
    scale_tril: jnp.ndarray,
    sigma: jnp.ndarray,
    beta: jnp.ndarray,
    cluster_sd: jnp.ndarray | float = 0.0,
    per_site: bool = False,
) -> jnp.ndarray:
    """Compute the log likelihood of the records with site and cluster effects integrated out.

    That is ``log p(y | m, Sigma, sigma, beta, cluster_sd)``. Per site, ``y_j - X_j beta ~
    N(Z_j m, V_j + Z_j Sigma Z_j')``, evaluated through the sufficient statistics (see the
    module docstring), at O(sites + clusters) cost.

    Parameters
    ----------
    stats : SiteStatistics
        The records' sufficient statistics (computed ``per_site`` if ``per_site``).
    mean : array, shape (2,) or (n_sites, 2)
        ``m = (alpha_mean, mu)``, or one such row per site with moderators or nesting levels.
    scale_tril : array, shape (2, 2) or (n_sites, 2, 2)
        The Cholesky factor of ``Sigma``, or one per site for Student-t site effects as
        scale mixtures.
    sigma : array
        The residual SD.
    beta : array, shape (n_covariates,)
        The covariate coefficients (empty without covariates).
    cluster_sd : array or float, default 0.0
        The SD of cluster intercepts (0: no clusters, or none in ``stats``).
    per_site : bool, default False
        Return each site's term instead of the total.

    Returns
    -------
    array
        The total log likelihood (a scalar), or with ``per_site`` each site's term ``log
        p(y_j | ...)``, shape (n_sites,).

    Examples
    --------
    >>> import jax, numpy as np
    >>> from scipy import stats as scipy_stats
    >>> from sitefx.data.statistics import SiteStatistics
    >>> y, x = np.array([1.0, 2, 3, 4]), np.array([1.0, -1, 2, -2])
    >>> treatment = np.array([0, 1, 0, 1])
    >>> stats = SiteStatistics.from_arrays(y, treatment, np.array([0, 0, 1, 1]), x[:, None],
    ...                                    n_sites=2, per_site=True)
    >>> given = dict(mean=np.array([2.0, 1.0]), scale_tril=np.eye(2), sigma=1.0,
    ...              beta=np.array([0.5]))
    >>> with jax.enable_x64(True):
    ...     total = float(collapsed_log_likelihood(stats, **given))
    ...     sites = np.asarray(collapsed_log_likelihood(stats, **given, per_site=True))
    >>> z = np.array([[1.0, 0.0], [1.0, 1.0]])  # each site's design [1, T]
    >>> direct = scipy_stats.multivariate_normal(z @ [2.0, 1.0], np.eye(2) + z @ z.T)
    >>> residuals = (y - 0.5 * x).reshape(2, 2)  # y_j - X_j beta, one row per site
    >>> bool(np.isclose(total, direct.logpdf(residuals).sum()))
    True
    >>> bool(np.isclose(sites.sum(), total))
    True
    """
    variance = sigma**2
    cond = conditional_site_effects(
        stats,
        mean=mean,
        scale_tril=scale_tril,
        sigma=sigma,
        beta=beta,
        cluster_sd=cluster_sd,
        per_site=per_site,
    )
    res = cond.residuals
    m = jnp.broadcast_to(mean, res.zr.shape)
    # With e = r - Z m: sigma^2 Z'V^-1 e per site, and sigma^2 e'V^-1 e = rr + these terms.
    g = res.zr - jnp.einsum("jab,jb->ja", res.zz, m)
    e_e = -2 * jnp.sum(res.zr * m, axis=-1) + jnp.einsum("ja,jab,jb->j", m, res.zz, m)
    w00, w01, w11 = cond.cov
    quadratic = w00 * g[:, 0] ** 2 + 2 * w01 * g[:, 0] * g[:, 1] + w11 * g[:, 1] ** 2
    sites = (
        -0.5 * stats.n * jnp.log(2 * jnp.pi * variance)
        - 0.5 * jnp.broadcast_to(cond.log_det_prior, stats.n.shape)
        - 0.5 * cond.log_det_precision
        - 0.5 * e_e / variance
        + 0.5 * quadratic / variance**2
    )
    # rr and log_det come per site, or (from pooled statistics) summed over the sites
    pooled = -0.5 * res.log_det - 0.5 * res.rr / variance
    return sites + pooled if per_site else jnp.sum(sites) + pooled
