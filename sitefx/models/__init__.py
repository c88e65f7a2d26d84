"""Model functions (numpyro) and prior specifications.

Default priors are chosen per model family: see :func:`sitefx.families.default_priors`.
"""

from sitefx.models.hierarchical import normal_normal, varying_intercepts_and_effects
from sitefx.models.priors import Prior, Priors

__all__ = ["Prior", "Priors", "normal_normal", "varying_intercepts_and_effects"]
