"""Quantities evaluators report, computed from posterior draws."""

from collections.abc import Sequence

import numpy as np


def variance_explained(gamma: np.ndarray, moderators: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Share of the cross-site variance of true effects that the moderators explain, per draw.

    ``var_j(w_j gamma) / (var_j(w_j gamma) + tau^2)``: the variance of the effects' predicted
    part across these sites over that plus the residual variance.

    Examples
    --------
    >>> import numpy as np
    >>> share = variance_explained(np.ones((1, 1, 1)), np.array([[0.0], [2.0]]), np.ones((1, 1)))
    >>> share.round(2).tolist()
    [[0.67]]
    """
    predicted = np.einsum("cdm,jm->cdj", gamma, moderators - moderators.mean(axis=0))
    explained = predicted.var(axis=-1, ddof=1)
    return explained / (explained + tau**2)


def new_site_effect(
    mu: np.ndarray,
    tau: np.ndarray,
    *,
    seed: int,
    df: np.ndarray | float | None = None,
    upper_tau: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """Draws of the effect in a new site from the same population: ``N(mu, tau)``, or
    Student-t with ``df`` degrees of freedom (per draw or fixed) for robust models.

    With upper nesting levels (``upper_tau``: the SDs ``tau_<level>``), the new site is in
    new groups at every level, so each level adds its own normal variation.

    Examples
    --------
    >>> import numpy as np
    >>> new_site_effect(np.zeros((2, 3)), np.ones((2, 3)), seed=0).shape
    (2, 3)
    """
    rng = np.random.default_rng(seed)
    location = mu + sum(sd * rng.standard_normal(np.shape(mu)) for sd in upper_tau)
    if df is None:
        return location + tau * rng.standard_normal(np.shape(mu))
    return location + tau * rng.standard_t(np.broadcast_to(df, np.shape(mu)))
