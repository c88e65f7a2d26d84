"""Independent reference for the normal-normal model: posterior moments by 1-D quadrature.

With ``mu ~ N(m0, s0)`` the mean ``mu`` integrates out analytically given ``tau``; ``tau`` is
integrated numerically with :func:`scipy.integrate.quad`. Written for the tests only, from
Gelman et al. (BDA3, section 5.4), without any sitefx code.
"""

import itertools

import numpy as np
from scipy import integrate


def posterior_moments(y, se, *, m0, s0, log_prior_tau, upper=np.inf):
    """Posterior mean and SD of ``mu``, ``tau`` and each ``theta_j``."""
    y, se = np.asarray(y, float), np.asarray(se, float)

    def conditional(tau):
        v = se**2 + tau**2
        precision = 1 / s0**2 + np.sum(1 / v)
        var_mu = 1 / precision
        mu_hat = var_mu * (m0 / s0**2 + np.sum(y / v))
        log_marginal = (
            -0.5 * np.sum(np.log(v))
            - np.log(s0)
            + 0.5 * np.log(var_mu)
            - 0.5 * (np.sum(y**2 / v) + m0**2 / s0**2 - mu_hat**2 / var_mu)
        )
        return mu_hat, var_mu, log_marginal

    # Shift the log density by its value at a central point to avoid underflow.
    shift = conditional(np.std(y))[2] + log_prior_tau(np.std(y))

    def density(tau):
        return np.exp(conditional(tau)[2] + log_prior_tau(tau) - shift)

    # quad over (0, inf) in one piece misjudges this integrand; split where the mass is.
    scale = float(np.max(se) + np.std(y))
    cuts = [0.0, scale, 10 * scale, upper] if upper > 10 * scale else [0.0, upper]

    def expect(f):
        return sum(
            integrate.quad(lambda t: f(t) * density(t), a, b, limit=400, epsabs=0, epsrel=1e-11)[0]
            for a, b in itertools.pairwise(cuts)
        )

    norm = expect(lambda t: 1.0)
    moments = {}
    e_mu = expect(lambda t: conditional(t)[0]) / norm
    e_mu2 = expect(lambda t: conditional(t)[1] + conditional(t)[0] ** 2) / norm
    moments["mu"] = (e_mu, np.sqrt(e_mu2 - e_mu**2))
    e_tau = expect(lambda t: t) / norm
    e_tau2 = expect(lambda t: t**2) / norm
    moments["tau"] = (e_tau, np.sqrt(e_tau2 - e_tau**2))
    for j in range(len(y)):

        def theta_moments(t, j=j):
            mu_hat, var_mu, _ = conditional(t)
            shrink = se[j] ** 2 / (se[j] ** 2 + t**2)
            mean = shrink * mu_hat + (1 - shrink) * y[j]
            var = (1 - shrink) * se[j] ** 2 + shrink**2 * var_mu
            return mean, var

        e_theta = expect(lambda t: theta_moments(t)[0]) / norm
        e_theta2 = expect(lambda t: theta_moments(t)[1] + theta_moments(t)[0] ** 2) / norm
        moments[f"theta_{j}"] = (e_theta, np.sqrt(e_theta2 - e_theta**2))
    return moments
