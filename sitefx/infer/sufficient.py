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
"""

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from scipy import sparse

from sitefx.data.schema import IndividualRecords


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
    """

    n: np.ndarray
    zz: np.ndarray
    zx: np.ndarray
    zy: np.ndarray
    xx: np.ndarray
    xy: np.ndarray
    yy: float

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
    ) -> "SiteStatistics":
        """Compute the statistics in one vectorized pass over the records.

        Examples
        --------
        >>> import numpy as np
        >>> stats = SiteStatistics.from_arrays(np.array([1.0, 2, 3, 4]), np.array([0, 1, 0, 1]),
        ...                                    np.array([0, 0, 1, 1]), np.zeros((4, 0)), n_sites=2)
        >>> stats.zy.tolist()
        [[3.0, 2.0], [7.0, 4.0]]
        """
        treatment = np.asarray(treatment, dtype=float)
        n_records = len(outcome)
        # One sparse site-indicator product sums every per-row feature by site.
        indicator = sparse.csr_array(
            (np.ones(n_records), (site_index, np.arange(n_records))), shape=(n_sites, n_records)
        )
        sums = indicator @ np.column_stack(
            [np.ones(n_records), treatment, outcome, treatment * outcome]
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
        )

    @classmethod
    def from_records(cls, records: IndividualRecords, covariates: np.ndarray) -> "SiteStatistics":
        """Statistics of ``records`` with the (already centred) ``covariates``."""
        return cls.from_arrays(
            records.outcome,
            records.treatment,
            records.site_index,
            covariates,
            n_sites=records.n_sites,
        )


def _inverse_2x2(a, b, d):
    """Inverse and log-determinant of the symmetric 2x2 matrices [[a, b], [b, d]]."""
    det = a * d - b * b
    return d / det, -b / det, a / det, jnp.log(det)


def collapsed_log_likelihood(
    stats: SiteStatistics,
    *,
    mean: jnp.ndarray,
    scale_tril: jnp.ndarray,
    sigma: jnp.ndarray,
    beta: jnp.ndarray,
) -> jnp.ndarray:
    """``log p(y | m, Sigma, sigma, beta)`` with the site effects integrated out.

    ``mean`` is ``m = (alpha_mean, mu)`` and ``scale_tril`` the Cholesky factor of ``Sigma``.
    """
    variance = sigma**2
    c = stats.zy - stats.zx @ beta  # Z'r per site, r = y - X beta
    q = stats.yy - 2 * beta @ stats.xy + beta @ stats.xx @ beta  # r'r pooled
    s = scale_tril @ scale_tril.T
    inv00, inv01, inv11, log_det_sigma = _inverse_2x2(s[0, 0], s[0, 1], s[1, 1])
    a00, a01, a11 = stats.zz[:, 0, 0], stats.zz[:, 0, 1], stats.zz[:, 1, 1]
    m00, m01, m11 = inv00 + a00 / variance, inv01 + a01 / variance, inv11 + a11 / variance
    w00, w01, w11, log_det_m = _inverse_2x2(m00, m01, m11)
    # Z'e with e = r - Z m, and e'e summed over sites.
    g0 = c[:, 0] - (a00 * mean[0] + a01 * mean[1])
    g1 = c[:, 1] - (a01 * mean[0] + a11 * mean[1])
    m_a_m = a00 * mean[0] ** 2 + 2 * a01 * mean[0] * mean[1] + a11 * mean[1] ** 2
    e_e = q - 2 * jnp.sum(c @ mean) + jnp.sum(m_a_m)
    quadratic = w00 * g0**2 + 2 * w01 * g0 * g1 + w11 * g1**2
    n_sites = stats.n.shape[0]
    return (
        -0.5 * stats.n_records * jnp.log(2 * jnp.pi * variance)
        - 0.5 * n_sites * log_det_sigma
        - 0.5 * jnp.sum(log_det_m)
        - 0.5 * e_e / variance
        + 0.5 * jnp.sum(quadratic) / variance**2
    )


def draw_site_effects(
    stats: SiteStatistics,
    draws: dict[str, np.ndarray],
    *,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact draws of ``(alpha_j, theta_j)`` given each posterior draw of the rest.

    ``draws`` holds ``alpha_mean``, ``mu``, ``alpha_sd``, ``tau``, ``rho``, ``sigma`` and
    (with covariates) ``beta``, each shaped (chains, draws, ...). Returns ``alpha`` and
    ``theta`` shaped (chains, draws, n_sites).
    """
    rng = np.random.default_rng(seed)
    shape = draws["mu"].shape
    flat = {name: np.reshape(value, (-1, *np.shape(value)[2:])) for name, value in draws.items()}
    variance = flat["sigma"] ** 2
    sd_a, sd_t, rho = flat["alpha_sd"], flat["tau"], flat["rho"]
    # Sigma^-1 for each draw.
    det = (sd_a * sd_t) ** 2 * (1 - rho**2)
    inv00, inv01, inv11 = sd_t**2 / det, -rho * sd_a * sd_t / det, sd_a**2 / det
    beta = flat.get("beta", np.zeros((len(variance), 0)))
    c = stats.zy[None] - np.einsum("jkp,dp->djk", stats.zx, beta)  # (draws, sites, 2)
    a00, a01, a11 = stats.zz[:, 0, 0], stats.zz[:, 0, 1], stats.zz[:, 1, 1]
    m00 = inv00[:, None] + a00 / variance[:, None]
    m01 = inv01[:, None] + a01 / variance[:, None]
    m11 = inv11[:, None] + a11 / variance[:, None]
    det_m = m00 * m11 - m01**2
    w00, w01, w11 = m11 / det_m, -m01 / det_m, m00 / det_m  # posterior covariance
    h0 = (inv00 * flat["alpha_mean"] + inv01 * flat["mu"])[:, None] + c[..., 0] / variance[:, None]
    h1 = (inv01 * flat["alpha_mean"] + inv11 * flat["mu"])[:, None] + c[..., 1] / variance[:, None]
    mean0, mean1 = w00 * h0 + w01 * h1, w01 * h0 + w11 * h1
    # Cholesky of the 2x2 posterior covariance.
    l00 = np.sqrt(w00)
    l10 = w01 / l00
    l11 = np.sqrt(np.maximum(w11 - l10**2, 0.0))
    z0, z1 = rng.standard_normal((2, *mean0.shape))
    alpha = mean0 + l00 * z0
    theta = mean1 + l10 * z0 + l11 * z1
    return alpha.reshape(*shape, -1), theta.reshape(*shape, -1)
