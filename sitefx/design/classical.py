"""Minimum detectable effect sizes and power of multisite and cluster-randomized trials.

The closed forms of Dong & Maynard (2013, PowerUp!) and Raudenbush (1997), in effect-size
units (the outcome's SD is 1), for a trial that randomizes students within sites
(``"multisite"``: blocked individual random assignment with site-varying effects, PowerUp's
BIRA2_1r) or whole sites (``"cluster"``: PowerUp's CRA2_2r). With ``J`` sites, ``n`` students
per arm in a site (``2n`` per site; half treated, ``P = 1/2``), intraclass correlation ``icc``
(the share of the outcome's variance between sites), covariate ``r2`` within sites and
``r2_site`` between them, and ``tau`` the SD of the true effects across sites:

- multisite: ``SE^2 = tau^2 / J + (1 - icc)(1 - r2) / (P (1 - P) J 2n)``, ``df = J - 1``;
- cluster (``J`` sites in all, ``J/2`` per arm; ``tau`` adds to the site variance):
  ``SE^2 = (icc (1 - r2_site) + tau^2 / 2) / (P (1 - P) J) + (1 - icc)(1 - r2) / (P (1 - P) J n)``,
  ``df = J - 2``.

The MDES is ``M * SE`` with ``M = t(1 - alpha/2, df) + t(power, df)`` (two-sided), and the
power at an effect ``delta`` is that of the two-sided t test with noncentrality
``delta / SE``, as PowerUp! and the R package PowerUpR compute them.

Examples
--------
>>> round(mdes("multisite", sites=40, per_arm=25, icc=0.2, tau=0.1), 3)
0.124
>>> round(power("multisite", 0.124, sites=40, per_arm=25, icc=0.2, tau=0.1), 2)
0.8
"""

import math

from scipy import stats

from sitefx.errors import SitefxInputError

DESIGNS = ("multisite", "cluster")
P_TREATED = 0.5


def standard_error(
    design: str,
    *,
    sites: int,
    per_arm: int,
    icc: float,
    tau: float = 0.0,
    r2: float = 0.0,
    r2_site: float = 0.0,
) -> tuple[float, int]:
    """Return the standard error of the average effect (effect-size units) and its df.

    Parameters
    ----------
    design : {"multisite", "cluster"}
        Students randomized within sites, or whole sites randomized.
    sites : int
        Sites in the trial (``cluster``: in both arms together).
    per_arm : int
        Students per arm in a site (``cluster``: students per site).
    icc : float
        Share of the outcome's variance between sites, in [0, 1).
    tau : float, default 0
        SD of the true effects across sites, in outcome SDs.
    r2, r2_site : float, default 0
        Share of the within-site (between-site) variance that covariates explain.

    Returns
    -------
    se : float
    df : int

    Raises
    ------
    SitefxInputError
        For a design not known, or values out of range (named).

    Examples
    --------
    >>> se, df = standard_error("cluster", sites=40, per_arm=20, icc=0.2)
    >>> round(se, 4), df
    (0.1549, 38)
    """
    _check(design, sites, per_arm, icc, tau, r2, r2_site)
    within = (1 - icc) * (1 - r2)
    share = P_TREATED * (1 - P_TREATED)
    if design == "multisite":
        variance = tau**2 / sites + within / (share * sites * 2 * per_arm)
        return math.sqrt(variance), sites - 1
    between = icc * (1 - r2_site) + tau**2 / 2
    variance = between / (share * sites) + within / (share * sites * per_arm)
    return math.sqrt(variance), sites - 2


def mdes(design: str, *, alpha: float = 0.05, power: float = 0.8, **trial: float) -> float:
    """Return the minimum detectable effect size of a trial (two-sided test at ``alpha``).

    Parameters
    ----------
    design : {"multisite", "cluster"}
        See :func:`standard_error`.
    alpha : float, default 0.05
        Two-sided significance level.
    power : float, default 0.8
        Power to detect the MDES.
    **trial
        ``sites``, ``per_arm``, ``icc``, ``tau``, ``r2``, ``r2_site`` (:func:`standard_error`).

    Returns
    -------
    float
        In outcome SDs.

    Examples
    --------
    >>> round(mdes("cluster", sites=40, per_arm=20, icc=0.2), 3)
    0.445
    """
    se, df = standard_error(design, **trial)
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * se)


def power(design: str, effect: float, *, alpha: float = 0.05, **trial: float) -> float:
    """Return the power of a trial's two-sided t test at ``alpha`` to detect ``effect``.

    Parameters
    ----------
    design : {"multisite", "cluster"}
        See :func:`standard_error`.
    effect : float
        The true average effect, in outcome SDs.
    alpha : float, default 0.05
        Two-sided significance level.
    **trial
        ``sites``, ``per_arm``, ``icc``, ``tau``, ``r2``, ``r2_site`` (:func:`standard_error`).

    Returns
    -------
    float

    Examples
    --------
    >>> round(power("cluster", 0.445, sites=40, per_arm=20, icc=0.2), 2)
    0.8
    """
    se, df = standard_error(design, **trial)
    critical = stats.t.ppf(1 - alpha / 2, df)
    shift = effect / se
    return float(stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift))


def _check(design, sites, per_arm, icc, tau, r2, r2_site) -> None:
    if design not in DESIGNS:
        raise SitefxInputError(f"design must be one of {', '.join(DESIGNS)}; got '{design}'")
    low = 2 if design == "multisite" else 3
    if not (isinstance(sites, int) and sites >= low):
        raise SitefxInputError(f"sites (--sites) must be a whole number >= {low}; got {sites}")
    if not (isinstance(per_arm, int) and per_arm >= 1):
        raise SitefxInputError(f"per_arm (--per-arm) must be a whole number >= 1; got {per_arm}")
    for name, value, high in (("icc", icc, 1), ("r2", r2, 1), ("r2_site", r2_site, 1)):
        if not 0 <= value < high:
            raise SitefxInputError(
                f"{name} (--{name.replace('_', '-')}) must be in [0, 1); got {value}"
            )
    if not (math.isfinite(tau) and tau >= 0):
        raise SitefxInputError(f"tau must be finite and >= 0; got {tau}")
