r"""Posterior statistics with their Monte-Carlo standard errors, from draws or exact.

Every number sitefx prints or writes about a posterior quantity comes from here: its mean,
SD, 2.5/50/97.5% quantiles and ``P(value > c)``, each with a Monte-Carlo standard error
(MCSE, ``mcse_<statistic>``). Numbers computed exactly (from the quadrature posterior of
:mod:`sitefx.infer.exact`) have an MCSE of exactly 0; numbers from draws have ArviZ's MCSE
(Vehtari et al. 2021), which accounts for autocorrelation within chains, or a blank (NaN)
where none can be estimated (draws that are constant, or discrete quantiles such as ranks).

A decision about a probability (is a site's effect above the threshold with at least 95%
probability?) is :func:`classify`\ ed as ``borderline`` when the probability is within two
MCSEs of the line, so a conclusion never rests on Monte-Carlo noise.
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sitefx.backend import arviz_stats
from sitefx.infer.quadrature import Mixture

array_stats = arviz_stats.base.array_stats  # ArviZ on plain arrays (chain, draw axes)

QUANTILES = (0.025, 0.5, 0.975)
STATISTICS = ("mean", "sd", "q2.5", "q50", "q97.5")
CONFIDENT = 0.95  # a conclusion: P(effect > threshold) at least this, or at most 1 - this
BORDERLINE_MCSE = 2.0  # within this many MCSEs of the line: borderline


def mcse_name(statistic: str) -> str:
    """Return the name of the column holding a statistic's Monte-Carlo standard error.

    Parameters
    ----------
    statistic : str
        A statistic's column, e.g. ``"mean"`` or ``"q97.5"``.

    Returns
    -------
    str
        ``"mcse_<statistic>"``.

    Examples
    --------
    >>> mcse_name("q97.5")
    'mcse_q97.5'
    """
    return f"mcse_{statistic}"


def from_draws(
    draws: np.ndarray, *, independent: bool = False, discrete: bool = False
) -> pd.DataFrame:
    """Return the mean, SD and quantiles of draws, with their MCSEs.

    Parameters
    ----------
    draws : numpy.ndarray
        Draws shaped ``(chain, draw, n)``: ``n`` elements (e.g. sites).
    independent : bool, default False
        The draws are independent (the exact method's): use the same formulas as ArviZ with
        the effective sample size equal to the number of draws, computed for all elements at
        once, instead of ArviZ's estimate of autocorrelation.
    discrete : bool, default False
        The draws are discrete (ranks): their quantiles have no MCSE (NaN).

    Returns
    -------
    pandas.DataFrame
        One row per element; columns ``mean, sd, q2.5, q50, q97.5`` then their
        ``mcse_<statistic>`` columns, NaN where no MCSE can be estimated (constant draws,
        fewer than 4 draws per chain).

    Examples
    --------
    >>> import numpy as np
    >>> draws = np.random.default_rng(0).normal(size=(4, 1000, 2))
    >>> table = from_draws(draws)
    >>> table.columns.tolist()[:5], bool((table["mcse_mean"] < 0.03).all())
    (['mean', 'sd', 'q2.5', 'q50', 'q97.5'], True)
    >>> iid = from_draws(draws, independent=True)
    >>> bool(np.allclose(iid["mcse_mean"], table["mcse_mean"], rtol=0.2))
    True
    """
    draws = np.asarray(draws, dtype=float)
    flat = draws.reshape(-1, draws.shape[2])
    table = {
        "mean": flat.mean(axis=0),
        "sd": flat.std(axis=0, ddof=1),
        **dict(zip(STATISTICS[2:], np.quantile(flat, QUANTILES, axis=0), strict=True)),
    }
    if independent:
        table |= _independent_mcse(flat, table, discrete=discrete)
        return pd.DataFrame(table)
    table |= {
        mcse_name(name): _mcse(draws, method) for name, method in (("mean", "mean"), ("sd", "sd"))
    }
    for name, prob in zip(STATISTICS[2:], QUANTILES, strict=True):
        table[mcse_name(name)] = (
            np.full(flat.shape[1], np.nan) if discrete else _mcse(draws, "quantile", prob=prob)
        )
    return pd.DataFrame(table)


def _independent_mcse(flat: np.ndarray, table: dict, *, discrete: bool) -> dict:
    """Return the MCSEs of independent draws (n rows).

    ``sd / sqrt(n)`` for the mean, the delta method with the fourth moment for the SD, and for
    a quantile half the spread of the quantiles at ``p -+ sqrt(p (1 - p) / n)`` (ArviZ's rule
    with ESS = n); 0 becomes NaN as there.
    """
    n = flat.shape[0]
    centred = flat - table["mean"]
    variance = table["sd"] ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        fourth = np.mean(centred**4, axis=0)
        mcse = {
            mcse_name("mean"): table["sd"] / np.sqrt(n),
            mcse_name("sd"): np.sqrt(np.maximum(fourth - variance**2, 0.0) / (4 * variance * n)),
        }
    for name, prob in zip(STATISTICS[2:], QUANTILES, strict=True):
        if discrete:
            mcse[mcse_name(name)] = np.full(flat.shape[1], np.nan)
            continue
        step = np.sqrt(prob * (1 - prob) / n)
        low, high = np.quantile(flat, [max(prob - step, 0.0), min(prob + step, 1.0)], axis=0)
        mcse[mcse_name(name)] = (high - low) / 2
    return {key: np.where(value > 0, value, np.nan) for key, value in mcse.items()}


def from_mixture(mixture: Mixture) -> pd.DataFrame:
    """Return the statistics of :func:`from_draws` computed exactly from a normal mixture.

    Parameters
    ----------
    mixture : Mixture
        A mixture of normals per element (the exact posterior of, e.g., each site's effect).

    Returns
    -------
    pandas.DataFrame
        One row per element of the mixture: ``mean, sd, q2.5, q50, q97.5`` and their MCSE
        columns, all 0.

    Examples
    --------
    >>> mixture = Mixture(np.array([0.5, 0.5]), np.array([-1.0, 1.0]), np.array([1.0, 1.0]))
    >>> from_mixture(mixture)[["mean", "sd", "q97.5", "mcse_mean"]].round(3)
       mean     sd  q97.5  mcse_mean
    0   0.0  1.414  2.646        0.0
    """
    quantiles = np.asarray(mixture.quantile(QUANTILES)).reshape(len(QUANTILES), -1)
    values = {
        "mean": np.atleast_1d(mixture.expectation()),
        "sd": np.atleast_1d(mixture.sd()),
        **dict(zip(STATISTICS[2:], quantiles, strict=True)),
    }
    return exact_values(values)


def exact_values(values: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Return exact statistics as a table with MCSE columns of 0.

    Parameters
    ----------
    values : mapping of str to numpy.ndarray
        Each statistic's name and its values, one per element (scalars count as one).

    Returns
    -------
    pandas.DataFrame
        One row per element: the statistics' columns, then ``mcse_<statistic>`` columns of 0.

    Examples
    --------
    >>> exact_values({"mean": np.array([1.5, 2.0])})
       mean  mcse_mean
    0   1.5        0.0
    1   2.0        0.0
    """
    table = pd.DataFrame({name: np.atleast_1d(value) for name, value in values.items()})
    for name in values:
        table[mcse_name(name)] = 0.0
    return table


def probability_above(
    draws: np.ndarray, threshold: float, *, independent: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``P(value > threshold)`` per element of draws, and its MCSE.

    Parameters
    ----------
    draws : numpy.ndarray
        Draws shaped ``(chain, draw, n)``.
    threshold : float
        The line, in the draws' units.
    independent : bool, default False
        The draws are independent (the exact method's): binomial MCSE instead of ArviZ's
        MCSE of the mean of the indicator.

    Returns
    -------
    prob : numpy.ndarray
        The share of draws above ``threshold``, shape ``(n,)``.
    mcse : numpy.ndarray
        Its MCSE, shape ``(n,)``; at least ``1 / (2 n_draws)``, the resolution of a
        proportion of draws, so an estimate of 0 or 1 never looks exact.

    Examples
    --------
    >>> import numpy as np
    >>> draws = np.random.default_rng(1).normal(size=(4, 1000, 1))
    >>> prob, mcse = probability_above(draws, 0.0)
    >>> bool(abs(prob[0] - 0.5) < 3 * mcse[0]), bool(0 < mcse[0] < 0.02)
    (True, True)
    """
    above = (np.asarray(draws) > threshold).astype(float)
    prob = above.mean(axis=(0, 1))
    n_draws = above.shape[0] * above.shape[1]
    if independent:
        mcse = np.sqrt(prob * (1 - prob) / n_draws)
    else:
        mcse = array_stats.mcse(above, chain_axis=0, draw_axis=1, method="mean")
    return prob, np.maximum(np.nan_to_num(mcse), 0.5 / n_draws)


def batch_mcse(statistic, draws: np.ndarray, *, batches: int = 20) -> np.ndarray:
    """Return the MCSE of a statistic of all the draws by batch means.

    The statistic is computed on consecutive blocks of each chain's draws; the SD of these
    block values divided by the square root of their number is the MCSE. For statistics of
    the draws as a whole that ArviZ has no MCSE for (a triple-goal estimate, a pooling factor
    of all sites).

    Parameters
    ----------
    statistic : callable
        Maps draws shaped ``(chain, draw, ...)`` to an array (or a number).
    draws : numpy.ndarray
        Draws shaped ``(chain, draw, ...)``.
    batches : int, default 20
        About how many blocks in all: ``max(1, batches // chain)`` per chain.

    Returns
    -------
    numpy.ndarray
        The MCSE, shaped like ``statistic``'s value.

    Examples
    --------
    >>> draws = np.random.default_rng(2).normal(size=(4, 1000))
    >>> mcse = batch_mcse(lambda d: d.mean(), draws)
    >>> bool(0.005 < mcse < 0.03)
    True
    """
    per_chain = max(1, batches // draws.shape[0])
    blocks = np.array_split(np.arange(draws.shape[1]), per_chain)
    values = np.array([statistic(chain[None, block]) for chain in draws for block in blocks])
    return values.std(axis=0, ddof=1) / np.sqrt(len(values))


def classify(prob: float, mcse: float = 0.0, *, level: float = CONFIDENT) -> str:
    """Return a conclusion from ``P(effect > threshold)``.

    Parameters
    ----------
    prob : float
        The probability that the effect is above the threshold.
    mcse : float, default 0.0
        Its Monte-Carlo standard error (0 or NaN: exact).
    level : float, default 0.95
        The probability needed for a conclusion either way.

    Returns
    -------
    str
        ``"above"`` (at least ``level``), ``"below"`` (at most ``1 - level``),
        ``"uncertain"`` (in between), or ``"borderline"`` when the probability is within two
        MCSEs of either line (more draws would decide).

    Examples
    --------
    >>> classify(0.9496), classify(0.9496, 0.003), classify(0.97, 0.003)
    ('uncertain', 'borderline', 'above')
    """
    mcse = 0.0 if not np.isfinite(mcse) else float(mcse)
    for line in (level, 1 - level):
        if mcse > 0 and abs(prob - line) < BORDERLINE_MCSE * mcse:
            return "borderline"
    if prob >= level:
        return "above"
    if prob <= 1 - level:
        return "below"
    return "uncertain"


def _mcse(draws: np.ndarray, method: str, prob: float | None = None) -> np.ndarray:
    """Return ArviZ's MCSE per element; NaN where it cannot be estimated.

    ArviZ returns 0 for constant draws and for quantiles of discrete draws.
    """
    if draws.shape[1] < 4:  # too few draws per chain to estimate autocorrelation
        return np.full(draws.shape[2], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        mcse = np.asarray(
            array_stats.mcse(draws, chain_axis=0, draw_axis=1, method=method, prob=prob),
            dtype=float,
        )
    return np.where(mcse > 0, mcse, np.nan)
