"""Site summaries: Rubin's normal-normal model (meta-analysis, or a trial reported by site).

One estimate and standard error per site; site effects normal or Student-t around ``mu``
plus moderators and upper nesting levels (:func:`sitefx.models.hierarchical.normal_normal`).
The exact method applies with normal site effects, no nesting levels and normal or flat
priors on ``mu`` and ``gamma``.
"""

import dataclasses
from collections.abc import Callable

import numpy as np
import xarray as xr
from scipy import stats

from sitefx.data.schema import SiteSummaries
from sitefx.estimands import predicted_site_means
from sitefx.families.predictive import predictive_groups
from sitefx.families.registry import Family, Model, Shrinkage, register
from sitefx.infer.exact import supports_exact
from sitefx.infer.quadrature import gauss_legendre, log_sum_exp
from sitefx.models.priors import Prior, Priors, level_priors, round_scale, slope_prior


class Summaries(Family):
    """The normal-normal family of site summaries (see the module docstring).

    Examples
    --------
    >>> import sitefx
    >>> data = sitefx.load("studies/eight_schools").data
    >>> Summaries().data_scale(data)  # the median SE exceeds the estimates' spread
    11.0
    """

    name = "summaries"
    description = "site summaries"
    data_kind = "summaries"
    shrinkable = "gamma"
    compares_site_distributions = True
    effect_sizes = True

    def matches(self, data: object) -> bool:
        """Return whether ``data`` is :class:`SiteSummaries`."""
        return isinstance(data, SiteSummaries)

    def check(self, data: SiteSummaries, *, robust: bool, horseshoe: bool) -> None:
        """Allow every option: Student-t site effects and the horseshoe on moderators."""

    def data_scale(self, data: SiteSummaries) -> float:
        """Return ``S = max(sd(estimates), median(se))``, the spread a raw estimate shows."""
        return max(float(np.std(data.estimate, ddof=1)), float(np.median(data.se)))

    def default_priors(self, data: SiteSummaries, *, robust: bool) -> Priors:
        """Return ``mu ~ normal(0, 2.5 S)``, ``tau ~ half-normal(S)`` and slope priors."""
        scale = self.data_scale(data)
        return Priors(
            mu=Prior("normal", (0.0, round_scale(2.5 * scale))),
            tau=Prior("half-normal", (round_scale(scale),)),
            gamma=slope_prior(scale, data.moderators),
            nu=Prior("gamma", (2.0, 0.1)) if robust else None,
            levels=level_priors(data.levels, scale),
        )

    def shrinkage(self, data: SiteSummaries) -> Shrinkage:
        """Return the moderators, which the horseshoe may shrink."""
        return Shrinkage(data.moderators.shape[1], data.n_sites, self.data_scale(data))

    def exact_obstacle(self, data: SiteSummaries, priors: Priors, *, robust: bool) -> str | None:
        """Return what keeps the exact method away, or None."""
        if robust:
            return "Student-t site effects"
        if data.levels:
            return f"nesting levels {', '.join(level.name for level in data.levels)}"
        if not supports_exact(priors):
            return f"mu ~ {priors.mu}, gamma ~ {priors.gamma}"
        return None

    def model(
        self, data: SiteSummaries, priors: Priors, *, collapse: bool, site_df: float | None
    ) -> Model:
        """Return :func:`~sitefx.models.hierarchical.normal_normal` with centred moderators."""
        # numpyro only to sample: the exact method runs without it
        from sitefx.models.hierarchical import normal_normal

        robust = priors.nu is not None or site_df is not None
        arguments = {
            "estimate": data.estimate,
            "se": data.se,
            "moderators": data.moderators - data.moderators.mean(axis=0),
            "priors": priors,
            "site_df": site_df,
            "levels": data.levels,
        }
        return Model(normal_normal, arguments, "student_t" if robust else "normal_normal")

    def data_groups(self, data: SiteSummaries) -> tuple[dict, dict, dict]:
        """Return the estimates as observed, the SEs (and sizes) as constant data."""
        constant = {"se": data.se, "raw_estimate": data.estimate, "raw_se": data.se}
        if data.n is not None:
            constant["n"] = data.n
        return {"estimate": data.estimate}, constant, {}

    def simulation_obstacle(self, data: SiteSummaries, *, robust: bool) -> str | None:
        """Return None: every summaries design can be simulated."""
        return None

    def simulate(
        self,
        data: SiteSummaries,
        priors: Priors,
        draw: Callable[..., np.ndarray | float],
        rng: np.random.Generator,
        *,
        site_df: float | None,
        robust: bool,
    ) -> tuple[SiteSummaries, dict[str, np.ndarray]]:
        """Return estimates drawn around site effects drawn from the priors, and the truth."""
        truth = {"mu": draw(priors.mu), "tau": draw(priors.tau)}
        mean = np.full(data.n_sites, truth["mu"])
        if data.moderators.shape[1]:
            truth["gamma"] = draw(priors.gamma, data.moderators.shape[1])
            mean += (data.moderators - data.moderators.mean(axis=0)) @ truth["gamma"]
        for level in data.levels:
            name = f"tau_{level.name}"
            truth[name] = draw(priors.levels[name])
            mean += (truth[name] * rng.standard_normal(len(level.groups)))[level.index]
        deviation = rng.standard_normal(data.n_sites)
        if robust:
            if priors.nu is not None:
                truth["nu"] = draw(priors.nu)
            deviation = rng.standard_t(truth.get("nu", site_df), data.n_sites)
        truth["theta"] = mean + truth["tau"] * deviation
        estimate = rng.normal(truth["theta"], data.se)
        return dataclasses.replace(data, estimate=estimate), truth

    def per_site_obstacle(self, tree: xr.DataTree, data: SiteSummaries | None) -> None:
        """Return None: every site has its marginal likelihood, from the fit alone."""
        return None

    def site_log_likelihood(self, tree: xr.DataTree, data: SiteSummaries | None) -> np.ndarray:
        """Return each site's marginal log-likelihood per draw, shape (chain, draw, site).

        ``p(y_j | mu, tau, ...) = N(y_j | m_j, sqrt(tau^2 + se_j^2))`` for normal site effects
        (``m_j`` the site's predicted mean: ``mu`` plus moderators and upper-level group
        effects); for Student-t site effects, :func:`student_t_marginal`.
        """
        posterior, constant = tree["posterior"], tree["constant_data"]
        estimate, se = constant["raw_estimate"].values, constant["se"].values
        mean = predicted_site_means(tree)
        tau = posterior["tau"].transpose("chain", "draw").values[..., None]
        if "nu" in posterior or "site_df" in tree.attrs:
            df = posterior["nu"].values[..., None] if "nu" in posterior else tree.attrs["site_df"]
            return student_t_marginal(estimate, se, mean, tau, df)
        return stats.norm.logpdf(estimate, mean, np.sqrt(tau**2 + se**2))

    def predictive_groups(
        self, tree: xr.DataTree, data: SiteSummaries, priors: Priors, seed: int
    ) -> dict[str, xr.Dataset]:
        """Return the groups ArviZ's LOO, predictive checks and prior plots read.

        - ``log_likelihood``: ``site_marginal``, each site's marginal log-likelihood per draw
          (:meth:`site_log_likelihood`, ``theta_j`` integrated out), so that
          :func:`arviz_stats.loo` is leave-one-site-out, as sitefx's own comparison;
          not for historical borrowing.
        - ``posterior_predictive``: ``estimate``, a replicated estimate per site and draw,
          ``N(theta_j, se_j)``.
        - ``prior`` (``mu``, ``tau``, ``gamma``, ``theta``) and ``prior_predictive``
          (``estimate``): as many draws from the priors, when every prior can be drawn
          (not flat) and the model has no nesting levels, Student-t effects or borrowing.
        """
        se = tree["constant_data"]["se"].values

        def replicate(draws: dict[str, np.ndarray], rng: np.random.Generator) -> dict:
            return {"estimate": draws["theta"] + se * rng.standard_normal(draws["theta"].shape)}

        used = [priors.mu, priors.tau] + ([priors.gamma] if "gamma" in tree["posterior"] else [])
        return predictive_groups(
            tree,
            replicate,
            likelihood=lambda: self.site_log_likelihood(tree, data),
            priors=priors,
            used=used,
            seed=seed,
            intercepts=False,
        )


MIXTURE_NODES = 64


def student_t_marginal(
    estimate: np.ndarray, se: np.ndarray, mean: np.ndarray, tau: np.ndarray, df: np.ndarray
) -> np.ndarray:
    """Return ``log int N(y | theta, se) t_df(theta | mean, tau) dtheta``.

    The Student-t is a scale mixture, ``theta ~ N(mean, tau / sqrt(w))`` with
    ``w ~ gamma(df / 2, rate df / 2)``, so the marginal is ``E_w N(y | mean, sqrt(tau^2 / w +
    se^2))``: Gauss-Legendre quadrature over the quantiles of ``w``, where the integrand is
    smooth whatever the ratio of ``tau`` to ``se``.

    Parameters
    ----------
    estimate, se : ndarray, shape (n_sites,)
        Site estimates and their standard errors.
    mean, tau, df : ndarray
        Predicted site means (chain, draw, site), cross-site SD and degrees of freedom
        (chain, draw, 1), or a number for fixed ``df``.

    Returns
    -------
    ndarray, shape (chain, draw, site)

    Examples
    --------
    >>> import numpy as np
    >>> value = student_t_marginal(np.array([1.0]), np.array([1.0]), np.zeros((1, 1, 1)),
    ...                            np.ones((1, 1, 1)), 1e6)
    >>> round(float(value[0, 0, 0]), 4)  # a normal marginal: N(1 | 0, sqrt(2))
    -1.5155
    """
    nodes, weights = gauss_legendre(MIXTURE_NODES)
    df = np.broadcast_to(df, np.shape(tau))[..., None]
    w = stats.gamma.ppf(nodes, df / 2, scale=2 / df)  # (chain, draw, 1, node)
    sd = np.sqrt(tau[..., None] ** 2 / w + se[..., None] ** 2)
    log_normal = stats.norm.logpdf(estimate[..., None], mean[..., None], sd)
    return log_sum_exp(log_normal, axis=-1, weights=weights)


register(Summaries())
