"""Minimum detectable effect sizes and power of multisite and cluster-randomized trials.

The closed forms of Dong & Maynard (2013, PowerUp!) and Raudenbush (1997), in effect-size
units (the outcome's SD is 1), for a trial that randomizes students within sites
(``"multisite"``: blocked individual random assignment with site-varying effects, PowerUp's
BIRA2_1r) or whole sites (``"cluster"``: PowerUp's CRA2_2r). With ``J`` sites, ``n`` students
per arm in a site on average (``2n`` per site, a share ``P`` of them treated; ``cluster``:
``n`` students per site and a share ``P`` of the sites treated), intraclass correlation ``icc``
(the share of the outcome's variance between sites), covariates explaining a share ``r2`` of
the variance within sites, ``r2_site`` of the variance between sites and ``r2_tau`` of the
variance of the effects across sites, ``g`` site-level covariates, and ``tau`` the SD of the
true effects across sites:

- multisite: ``SE^2 = tau^2 (1 - r2_tau) / J + (1 - icc)(1 - r2) / (P (1 - P) J 2n)``,
  ``df = J - g - 1``;
- cluster (the treated sites' means vary by ``tau`` more than the control sites'):
  ``SE^2 = (icc (1 - r2_site) + (1 - P) tau^2 (1 - r2_tau)) / (P (1 - P) J)
  + (1 - icc)(1 - r2) / (P (1 - P) J n)``, ``df = J - g - 2``.

The MDES is ``M * SE`` with ``M = t(1 - alpha/2, df) + t(power, df)`` (one-sided:
``t(1 - alpha, df)``), and the power at an effect ``delta`` is that of the t test with
noncentrality ``delta / SE``, as PowerUp! and the R package PowerUpR compute them. The MDES's
multiplier approximates that noncentral t: the power at the MDES can miss ``power`` by up to a
percentage point in small trials (about 20 sites).

In PowerUpR's terms (``mdes.bira2``/``power.bira2``, ``mdes.cra2``/``power.cra2``):
``rho2 = icc``, ``rho2 * omega2 = tau^2``, ``n`` = students per site (``2 * per_arm`` for
multisite, ``per_arm`` for cluster), ``J = sites``, ``p = p_treated``, ``g2 = site_covariates``,
``r21 = r2``, ``r22 = r2_site``, ``r2t2 = r2_tau``. tests/test_design_classical.py checks
sitefx against PowerUpR 1.1.0 on its help pages' examples (tests/reference/design_powerupr.json).
PowerUpR's cluster design has no ``tau``: with ``tau = 0`` the two agree.

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


def standard_error(
    design: str,
    *,
    sites: int,
    per_arm: float,
    icc: float,
    tau: float = 0.0,
    r2: float = 0.0,
    r2_site: float = 0.0,
    r2_tau: float = 0.0,
    p_treated: float = 0.5,
    site_covariates: int = 0,
) -> tuple[float, int]:
    """Return the standard error of the average effect (effect-size units) and its df.

    Parameters
    ----------
    design : {"multisite", "cluster"}
        Students randomized within sites, or whole sites randomized.
    sites : int
        Sites in the trial (``cluster``: in both arms together).
    per_arm : float
        Students per arm in a site, on average (``multisite``: a site has ``2 * per_arm``;
        ``cluster``: students per site).
    icc : float
        Share of the outcome's variance between sites, in [0, 1).
    tau : float, default 0
        SD of the true effects across sites, in outcome SDs.
    r2, r2_site, r2_tau : float, default 0
        Share of the within-site variance, of the between-site variance and of the variance of
        the effects across sites that covariates explain.
    p_treated : float, default 0.5
        Share of the students (``cluster``: of the sites) treated, in (0, 1).
    site_covariates : int, default 0
        Site-level covariates in the analysis; each costs one degree of freedom.

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
    >>> se, df = standard_error("multisite", sites=20, per_arm=7.5, icc=0.17, tau=0.085**0.5)
    >>> round(se, 4), df
    (0.1238, 19)
    """
    _check(design, locals())  # the trial's arguments by name
    share = p_treated * (1 - p_treated)
    within = (1 - icc) * (1 - r2)
    effects = tau**2 * (1 - r2_tau)
    if design == "multisite":
        variance = effects / sites + within / (share * sites * 2 * per_arm)
        return math.sqrt(variance), sites - site_covariates - 1
    between = icc * (1 - r2_site) + (1 - p_treated) * effects
    variance = between / (share * sites) + within / (share * sites * per_arm)
    return math.sqrt(variance), sites - site_covariates - 2


def mdes(
    design: str,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    two_sided: bool = True,
    **trial: float,
) -> float:
    """Return the minimum detectable effect size of a trial (t test at ``alpha``).

    Parameters
    ----------
    design : {"multisite", "cluster"}
        See :func:`standard_error`.
    alpha : float, default 0.05
        Significance level.
    power : float, default 0.8
        Power to detect the MDES.
    two_sided : bool, default True
        A two-sided test (``False``: one-sided, for a positive effect).
    **trial
        ``sites``, ``per_arm``, ``icc``, ``tau``, ``r2``, ``r2_site``, ``r2_tau``,
        ``p_treated``, ``site_covariates`` (:func:`standard_error`).

    Returns
    -------
    float
        In outcome SDs.

    Examples
    --------
    >>> round(mdes("cluster", sites=40, per_arm=20, icc=0.2), 3)
    0.445
    >>> round(mdes("cluster", two_sided=False, sites=40, per_arm=20, icc=0.2), 3)
    0.393
    """
    se, df = standard_error(design, **trial)
    return float((_critical_t(alpha, df, two_sided) + stats.t.ppf(power, df)) * se)


def power(
    design: str,
    effect: float,
    *,
    alpha: float = 0.05,
    two_sided: bool = True,
    **trial: float,
) -> float:
    """Return the power of a trial's t test at ``alpha`` to detect ``effect``.

    Parameters
    ----------
    design : {"multisite", "cluster"}
        See :func:`standard_error`.
    effect : float
        The true average effect, in outcome SDs.
    alpha : float, default 0.05
        Significance level.
    two_sided : bool, default True
        A two-sided test (``False``: one-sided, rejecting for a positive estimate).
    **trial
        ``sites``, ``per_arm``, ``icc``, ``tau``, ``r2``, ``r2_site``, ``r2_tau``,
        ``p_treated``, ``site_covariates`` (:func:`standard_error`).

    Returns
    -------
    float

    Examples
    --------
    >>> round(power("cluster", 0.445, sites=40, per_arm=20, icc=0.2), 2)
    0.8
    >>> round(power("cluster", 0.393, two_sided=False, sites=40, per_arm=20, icc=0.2), 2)
    0.8
    """
    se, df = standard_error(design, **trial)
    shift = effect / se
    critical = _critical_t(alpha, df, two_sided)
    above = stats.nct.sf(critical, df, shift)
    return float(above + stats.nct.cdf(-critical, df, shift) if two_sided else above)


def _critical_t(alpha: float, df: int, two_sided: bool) -> float:
    return stats.t.ppf(1 - alpha / 2 if two_sided else 1 - alpha, df)


def _check(design: str, trial: dict) -> None:
    if design not in DESIGNS:
        raise SitefxInputError(f"design must be one of {', '.join(DESIGNS)}; got '{design}'")
    sites, per_arm = trial["sites"], trial["per_arm"]
    covariates = trial["site_covariates"]
    if not (isinstance(covariates, int) and covariates >= 0):
        raise SitefxInputError(f"site_covariates must be a whole number >= 0; got {covariates}")
    low = covariates + (2 if design == "multisite" else 3)
    if not (isinstance(sites, int) and sites >= low):
        raise SitefxInputError(
            f"sites (--sites) must be a whole number >= {low} (df >= 1); got {sites}"
        )
    if not (isinstance(per_arm, (int, float)) and per_arm >= 1):
        raise SitefxInputError(f"per_arm (--per-arm) must be a number >= 1; got {per_arm}")
    for name in ("icc", "r2", "r2_site", "r2_tau"):
        if not 0 <= trial[name] < 1:
            raise SitefxInputError(
                f"{name} (--{name.replace('_', '-')}) must be in [0, 1); got {trial[name]}"
            )
    if not 0 < trial["p_treated"] < 1:
        raise SitefxInputError(f"p_treated must be in (0, 1); got {trial['p_treated']}")
    if not (math.isfinite(trial["tau"]) and trial["tau"] >= 0):
        raise SitefxInputError(f"tau must be finite and >= 0; got {trial['tau']}")
