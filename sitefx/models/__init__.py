"""Model functions (numpyro) and prior specifications."""

from sitefx.models.hierarchical import normal_normal, varying_intercepts_and_effects
from sitefx.models.priors import Prior, Priors, default_priors, resolve_priors

__all__ = [
    "Prior",
    "Priors",
    "default_priors",
    "normal_normal",
    "resolve_priors",
    "varying_intercepts_and_effects",
]
