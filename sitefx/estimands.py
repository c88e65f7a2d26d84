"""Quantities evaluators report, computed from posterior draws."""

import numpy as np


def new_site_effect(mu: np.ndarray, tau: np.ndarray, *, seed: int) -> np.ndarray:
    """Draws of the effect in a new site from the same population: ``N(mu, tau)``.

    Examples
    --------
    >>> import numpy as np
    >>> new_site_effect(np.zeros((2, 3)), np.ones((2, 3)), seed=0).shape
    (2, 3)
    """
    rng = np.random.default_rng(seed)
    return mu + tau * rng.standard_normal(np.shape(mu))
