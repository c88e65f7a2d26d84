"""Site summaries: Rubin's normal-normal model (meta-analysis, or a trial reported by site).

One estimate and standard error per site; site effects normal or Student-t around ``mu``
plus moderators and upper nesting levels (:func:`sitefx.models.hierarchical.normal_normal`).
The exact method applies with normal site effects, no nesting levels and normal or flat
priors on ``mu`` and ``gamma``.
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from sitefx.data.schema import SiteSummaries
from sitefx.families.registry import Model, Shrinkage, register
from sitefx.infer.exact import supports_exact
from sitefx.models.hierarchical import normal_normal
from sitefx.models.priors import Prior, Priors, level_priors, round_scale, slope_prior


class Summaries:
    """The normal-normal family of site summaries (see the module docstring)."""

    name = "summaries"
    description = "site summaries"

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
        return Shrinkage("gamma", data.moderators, data.n_sites, self.data_scale(data))

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


register(Summaries())
