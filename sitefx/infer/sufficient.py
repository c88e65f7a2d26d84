"""Per-site sufficient statistics for Gaussian individual records, and the collapsed model.

For ``y_ij = alpha_j + theta_j T_ij + x_ij beta + e_ij`` with ``e ~ N(0, sigma)`` and site
effects ``b_j = (alpha_j, theta_j) ~ N(m, Sigma)``, everything the likelihood needs is, per
site, ``n_j``, ``Z'Z``, ``Z'X`` and ``Z'y`` for ``Z = [1, T]``, plus the pooled ``X'X``, ``X'y``
and ``y'y``. They are computed once in O(N P); afterwards each likelihood evaluation costs
O(J P), whatever the number of students.

The site effects are integrated out analytically (the *collapsed* model): per site,
``r_j = y_j - X_j beta ~ N(Z_j m, sigma^2 I + Z_j Sigma Z_j')``, evaluated with the Woodbury
identity through the 2x2 matrices ``M_j = Sigma^-1 + Z_j'Z_j / sigma^2``. Site effects are then
drawn exactly from ``b_j | rest ~ N(M_j^-1 (Sigma^-1 m + Z_j'r_j / sigma^2), M_j^-1)``
(Lai, Domke & Sheldon 2024 on why collapsing Gaussian effects helps samplers).

Clusters nested in sites (classrooms in schools) add random intercepts ``c_k ~ N(0,
cluster_sd)``. They are integrated out first, cluster by cluster: the records of cluster
``k`` have covariance ``V_k = sigma^2 (I + rho_k 11')`` whose inverse is
``(I - omega_k 11') / sigma^2`` with ``omega_k = cluster_sd^2 / (sigma^2 + n_k cluster_sd^2)``.
So ``Z'V^-1 Z``, ``Z'V^-1 r`` and ``r'V^-1 r`` are the statistics above minus per-cluster
corrections built from each cluster's size, treated count and sums of ``y`` and ``X``; the
site-level algebra is then unchanged.
"""

import functools
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import sparse

from sitefx.data.schema import IndividualRecords


@dataclass(frozen=True)
class ClusterStatistics:
    """Per-cluster sums for random cluster intercepts (clusters nested in sites).

    Attributes
    ----------
    site : ndarray of int (n_clusters,)
        The site of each cluster.
    n, treated, y : ndarray (n_clusters,)
        Records, treated records and the sum of the outcome in each cluster.
    x : ndarray (n_clusters, n_covariates)
        Sums of the covariates in each cluster.
    """

    site: np.ndarray
    n: np.ndarray
    treated: np.ndarray
    y: np.ndarray
    x: np.ndarray

    @classmethod
    def from_arrays(
        cls,
        outcome: np.ndarray,
        treatment: np.ndarray,
        site_index: np.ndarray,
        covariates: np.ndarray,
        cluster: np.ndarray,
    ) -> "ClusterStatistics":
        """Sum the records of each (site, cluster) pair.

        Examples
        --------
        >>> import numpy as np
        >>> stats = ClusterStatistics.from_arrays(
        ...     np.array([1.0, 2, 3, 4]), np.array([0, 1, 1, 1]), np.array([0, 0, 1, 1]),
        ...     np.zeros((4, 0)), np.array(["a", "b", "a", "a"]))
        >>> stats.site.tolist(), stats.n.tolist(), stats.y.tolist()
        ([0, 0, 1], [1.0, 1.0, 2.0], [1.0, 2.0, 7.0])
        """
        keys = pd.MultiIndex.from_arrays([site_index, cluster])
        codes, unique = pd.factorize(keys, sort=True)
        n_clusters = len(unique)
        indicator = _indicator(codes, n_clusters)
        sums = indicator @ np.column_stack([np.ones(len(outcome)), treatment, outcome])
        return cls(
            site=np.asarray(unique.get_level_values(0), dtype=np.int32),
            n=sums[:, 0],
            treated=sums[:, 1],
            y=sums[:, 2],
            x=indicator @ covariates,
        )


def _indicator(index: np.ndarray, n_groups: int) -> sparse.csr_array:
    """The sparse (n_groups, n_records) matrix that sums records by group."""
    n_records = len(index)
    return sparse.csr_array(
        (np.ones(n_records), (index, np.arange(n_records))), shape=(n_groups, n_records)
    )


@dataclass(frozen=True)
class SiteStatistics:
    """Sufficient statistics of Gaussian records for the design ``[1, T]`` + covariates.

    Attributes
    ----------
    n : ndarray (n_sites,)
    zz : ndarray (n_sites, 2, 2)
        ``Z_j'Z_j`` with ``Z = [1, T]``.
    zx : ndarray (n_sites, 2, n_covariates)
    zy : ndarray (n_sites, 2)
    xx : ndarray (n_covariates, n_covariates)
    xy : ndarray (n_covariates,)
    yy : float
    clusters : ClusterStatistics or None
        Per-cluster sums, when records are clustered within sites.
    site_xx, site_xy, site_yy : ndarray or None
        ``X_j'X_j``, ``X_j'y_j`` and ``y_j'y_j`` per site, only when asked for (``per_site``):
        they split the likelihood into one term per site (for leave-one-site-out).
    """

    n: np.ndarray
    zz: np.ndarray
    zx: np.ndarray
    zy: np.ndarray
    xx: np.ndarray
    xy: np.ndarray
    yy: float
    clusters: ClusterStatistics | None = None
    site_xx: np.ndarray | None = None
    site_xy: np.ndarray | None = None
    site_yy: np.ndarray | None = None

    @property
    def n_records(self) -> int:
        return int(self.n.sum())

    @classmethod
    def from_arrays(
        cls,
        outcome: np.ndarray,
        treatment: np.ndarray,
        site_index: np.ndarray,
        covariates: np.ndarray,
        *,
        n_sites: int,
        cluster: np.ndarray | None = None,
        per_site: bool = False,
    ) -> "SiteStatistics":
        """Compute the statistics in one vectorized pass over the records (with
        ``per_site``, also each site's ``X'X``, ``X'y`` and ``y'y``).

        Examples
        --------
        >>> import numpy as np
        >>> stats = SiteStatistics.from_arrays(np.array([1.0, 2, 3, 4]), np.array([0, 1, 0, 1]),
        ...                                    np.array([0, 0, 1, 1]), np.zeros((4, 0)), n_sites=2)
        >>> stats.zy.tolist()
        [[3.0, 2.0], [7.0, 4.0]]
        """
        treatment = np.asarray(treatment, dtype=float)
        # One sparse site-indicator product sums every per-row feature by site.
        indicator = _indicator(site_index, n_sites)
        sums = indicator @ np.column_stack(
            [np.ones(len(outcome)), treatment, outcome, treatment * outcome]
        )
        n, treated = sums[:, 0], sums[:, 1]  # T is 0/1, so sum T = sum T^2
        zx = np.stack([indicator @ covariates, indicator @ (treatment[:, None] * covariates)], 1)
        return cls(
            n=n,
            zz=np.stack([np.stack([n, treated], -1), np.stack([treated, treated], -1)], -2),
            zx=zx,
            zy=sums[:, 2:4],
            xx=covariates.T @ covariates,
            xy=covariates.T @ outcome,
            yy=float(outcome @ outcome),
            clusters=None
            if cluster is None
            else ClusterStatistics.from_arrays(outcome, treatment, site_index, covariates, cluster),
            **(_per_site_products(outcome, covariates, indicator) if per_site else {}),
        )

    @classmethod
    def from_records(
        cls, records: IndividualRecords, covariates: np.ndarray, *, per_site: bool = False
    ) -> "SiteStatistics":
        """Statistics of ``records`` with the (already centred) ``covariates``."""
        return cls.from_arrays(
            records.outcome,
            records.treatment,
            records.site_index,
            covariates,
            n_sites=records.n_sites,
            cluster=records.cluster,
            per_site=per_site,
        )


def _per_site_products(
    outcome: np.ndarray, covariates: np.ndarray, indicator: sparse.csr_array
) -> dict[str, np.ndarray]:
    """Each site's ``X'X``, ``X'y`` and ``y'y``."""
    cross = covariates[:, :, None] * covariates[:, None, :]
    n_covariates = covariates.shape[1]
    site_xx = (indicator @ cross.reshape(len(outcome), -1)).reshape(-1, n_covariates, n_covariates)
    return {
        "site_xx": site_xx,
        "site_xy": indicator @ (covariates * outcome[:, None]),
        "site_yy": indicator @ outcome**2,
    }


def _inverse_2x2(a, b, d):
    """Inverse and log-determinant of the symmetric 2x2 matrices [[a, b], [b, d]]."""
    det = a * d - b * b
    return d / det, -b / det, a / det, jnp.log(det)


class _Residuals(NamedTuple):
    """``sigma^2 Z'V^-1 Z``, ``sigma^2 Z'V^-1 r`` and ``sigma^2 r'V^-1 r`` for ``r = y - X beta``
    (``V``: the records' covariance given the site effects), and ``log det V`` beyond
    ``N log sigma^2``."""

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
    """``rr`` and ``log_det`` summed over the sites, or one per site (``per_site``)."""
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
    u = jnp.stack([clusters.n, clusters.treated], axis=-1)  # Z_k'1 per cluster
    ur = clusters.y - clusters.x @ beta  # 1'r_k per cluster
    by_site = functools.partial(
        jax.ops.segment_sum, segment_ids=clusters.site, num_segments=n_sites
    )
    total = by_site if per_site else jnp.sum
    return _Residuals(
        zz=stats.zz - by_site(omega[:, None, None] * u[:, :, None] * u[:, None, :]),
        zr=zr - by_site(omega[:, None] * u * ur[:, None]),
        rr=rr - total(omega * ur**2),
        log_det=total(jnp.log1p(clusters.n * ratio)),
    )


class _Conditional(NamedTuple):
    """The site effects given everything else: ``b_j ~ N(mean_j, cov_j)``."""

    mean: jnp.ndarray  # (n_sites, 2)
    cov: tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]  # (00, 01, 11) entries, each (n_sites,)
    log_det_precision: jnp.ndarray  # (n_sites,)
    log_det_prior: jnp.ndarray  # log det Sigma (per site when Sigma varies by site)
    residuals: _Residuals


def _conditional(
    stats: SiteStatistics,
    *,
    mean: jnp.ndarray,
    scale_tril: jnp.ndarray,
    sigma: jnp.ndarray,
    beta: jnp.ndarray,
    cluster_sd: jnp.ndarray,
    per_site: bool = False,
) -> _Conditional:
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
    return _Conditional(
        mean=jnp.stack([w00 * h0 + w01 * h1, w01 * h0 + w11 * h1], axis=-1),
        cov=(w00, w01, w11),
        log_det_precision=log_det_precision,
        log_det_prior=log_det_prior,
        residuals=res,
    )


def scale_with_theta(scale_tril: jnp.ndarray, theta_scale: jnp.ndarray) -> jnp.ndarray:
    """Per-site Cholesky factors ``diag(1, theta_scale_j) L``: the site effect ``theta_j``
    (not the intercept) gets its own scale, as in a Student-t scale mixture."""
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
    """``log p(y | m, Sigma, sigma, beta, cluster_sd)`` with site and cluster effects
    integrated out: the total, or with ``per_site`` (statistics computed ``per_site``) each
    site's term ``log p(y_j | ...)``, shape (n_sites,).

    ``mean`` is ``m = (alpha_mean, mu)``, shape (2,), or one such row per site (n_sites, 2)
    with moderators; ``scale_tril`` the Cholesky factor of ``Sigma``, shape (2, 2), or one per
    site (n_sites, 2, 2) for Student-t site effects as scale mixtures.
    """
    variance = sigma**2
    cond = _conditional(
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


def draw_site_effects(
    stats: SiteStatistics,
    draws: dict[str, np.ndarray],
    *,
    rng: np.random.Generator,
    moderators: np.ndarray | None = None,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact draws of ``(alpha_j, theta_j)`` given each posterior draw of the rest.

    ``draws`` holds ``alpha_mean``, ``mu``, ``alpha_sd``, ``tau``, ``rho``, ``sigma`` and,
    when present, ``beta``, ``cluster_sd``, ``gamma_alpha`` and ``gamma`` (with the centred
    site-level ``moderators``), ``site_level_effect`` (upper nesting levels) and
    ``theta_scale`` (Student-t site effects), each shaped (chains, draws, ...). Returns
    ``alpha`` and ``theta`` shaped (chains, draws, n_sites); their noise comes from ``rng``
    (the fit's ``site_effects`` stream, :mod:`sitefx.streams`). Draws are processed
    ``batch_size`` at a time to bound memory.
    """
    shape = draws["mu"].shape
    n_draws = int(np.prod(shape))
    flat = {
        name: np.reshape(value, (n_draws, *np.shape(value)[2:])) for name, value in draws.items()
    }
    moderators = np.zeros((stats.n.shape[0], 0)) if moderators is None else moderators
    flat.setdefault("beta", np.zeros((n_draws, stats.xx.shape[0])))
    flat.setdefault("cluster_sd", np.zeros(n_draws))
    for name in ("gamma_alpha", "gamma"):
        flat.setdefault(name, np.zeros((n_draws, moderators.shape[1])))

    def one_draw(p: dict[str, jnp.ndarray]) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
        sd_a, sd_t, rho = p["alpha_sd"], p["tau"], p["rho"]
        scale_tril = jnp.array([[sd_a, 0.0], [rho * sd_t, sd_t * jnp.sqrt(1 - rho**2)]])
        if "theta_scale" in p:  # Student-t effects: each site's own scale for theta
            scale_tril = scale_with_theta(scale_tril, p["theta_scale"])
        cond = _conditional(
            stats,
            mean=jnp.stack([p["alpha_mean"], p["mu"]])
            + moderators @ jnp.stack([p["gamma_alpha"], p["gamma"]], axis=-1)
            + p.get("site_level_effect", 0.0),
            scale_tril=scale_tril,
            sigma=p["sigma"],
            beta=p["beta"],
            cluster_sd=p["cluster_sd"],
        )
        w00, w01, w11 = cond.cov
        l00 = jnp.sqrt(w00)
        l10 = w01 / l00
        l11 = jnp.sqrt(jnp.maximum(w11 - l10**2, 0.0))
        return cond.mean, jnp.stack([l00, l10], -1), l11

    needed = ["alpha_mean", "mu", "alpha_sd", "tau", "rho", "sigma", "beta", "cluster_sd"]
    needed += ["gamma_alpha", "gamma"]
    needed += [name for name in ("site_level_effect", "theta_scale") if name in flat]
    params = {name: jnp.asarray(flat[name]) for name in needed}
    mean, l0, l11 = jax.jit(lambda p: jax.lax.map(one_draw, p, batch_size=batch_size))(params)
    z0, z1 = rng.standard_normal((2, n_draws, stats.n.shape[0]))
    mean, l0, l11 = np.asarray(mean), np.asarray(l0), np.asarray(l11)
    alpha = mean[..., 0] + l0[..., 0] * z0
    theta = mean[..., 1] + l0[..., 1] * z0 + l11 * z1
    return alpha.reshape(*shape, -1), theta.reshape(*shape, -1)
