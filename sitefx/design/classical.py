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
  + (1 - icc)(1 - r2) / (P (1 - P) J n)``, ``df = J - g - 2``;
- multisite3 (PowerUp's BIRA3_1r: the ``J`` sites within ``K`` districts, ``icc_district``
  of the outcome's variance between districts, ``tau_district`` the SD of the districts'
  average effects, ``r2_tau_district`` and ``g`` for district covariates):
  ``SE^2 = tau_district^2 (1 - r2_tau_district) / K + tau^2 (1 - r2_tau) / J
  + (1 - icc - icc_district)(1 - r2) / (P (1 - P) J 2n)``, ``df = K - g - 1``;
- cluster3 (PowerUp's CRA3_3r: ``C`` classrooms in each site share its ``n`` students,
  ``icc_classroom`` of the outcome's variance between the classrooms of a site, of which
  covariates explain ``r2_classroom``): the cluster ``SE^2`` plus
  ``icc_classroom (1 - r2_classroom) / (P (1 - P) J C)``, with ``1 - icc - icc_classroom``
  in place of ``1 - icc``; ``df = J - g - 2``.

The MDES is ``M * SE`` with ``M = t(1 - alpha/2, df) + t(power, df)`` (one-sided:
``t(1 - alpha, df)``), and the power at an effect ``delta`` is that of the t test with
noncentrality ``delta / SE``, as PowerUp! and the R package PowerUpR compute them. The MDES's
multiplier approximates that noncentral t: the power at the MDES can miss ``power`` by up to a
percentage point in small trials (about 20 sites).

In PowerUpR's terms (``mdes.bira2``/``power.bira2``, ``mdes.cra2``/``power.cra2``):
``rho2 = icc``, ``rho2 * omega2 = tau^2``, ``n`` = students per site (``2 * per_arm`` for
multisite, ``per_arm`` for cluster), ``J = sites``, ``p = p_treated``, ``g2 = site_covariates``,
``r21 = r2``, ``r22 = r2_site``, ``r2t2 = r2_tau``. For ``bira3``: ``K = districts``,
``J = sites / districts``, ``rho3 = icc_district``, ``rho3 * omega3 = tau_district^2``,
``r2t3 = r2_tau_district``, ``g3 = district_covariates``. For ``cra3``: ``K = sites``,
``J = classrooms``, ``n = per_arm / classrooms``, ``rho3 = icc``, ``rho2 = icc_classroom``,
``r23 = r2_site``, ``r22 = r2_classroom``, ``g3 = site_covariates``.
tests/test_design_classical.py checks sitefx against PowerUpR 1.1.0 on its documented examples
(tests/reference/design_powerupr.json). PowerUpR's cluster designs have no ``tau``: with
``tau = 0`` the two agree.

Examples
--------
>>> round(mdes("multisite", sites=40, per_arm=25, icc=0.2, tau=0.1), 3)
0.124
>>> round(power("multisite", 0.124, sites=40, per_arm=25, icc=0.2, tau=0.1), 2)
0.8
"""

import math

from scipy import stats

from sitefx.errors import SitefxInputError, check_choice

DESIGNS = ("multisite", "cluster", "multisite3", "cluster3")
# The keywords of the level each three-level design adds, and their defaults (no such level).
EXTRA_LEVEL = {
    "multisite3": {
        "districts": None,
        "icc_district": 0.0,
        "tau_district": 0.0,
        "r2_tau_district": 0.0,
        "district_covariates": 0,
    },
    "cluster3": {"classrooms": None, "icc_classroom": 0.0, "r2_classroom": 0.0},
}


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
    districts: int | None = None,
    icc_district: float = 0.0,
    tau_district: float = 0.0,
    r2_tau_district: float = 0.0,
    district_covariates: int = 0,
    classrooms: int | None = None,
    icc_classroom: float = 0.0,
    r2_classroom: float = 0.0,
) -> tuple[float, int]:
    """Return the standard error of the average effect (effect-size units) and its df.

    Parameters
    ----------
    design : {"multisite", "cluster", "multisite3", "cluster3"}
        Students randomized within sites, or whole sites randomized; ``multisite3`` has the
        sites within districts, ``cluster3`` has classrooms within the sites.
    sites : int
        Sites in the trial (``cluster``: in both arms together; ``multisite3``: in all the
        districts together).
    per_arm : float
        Students per arm in a site, on average (``multisite``: a site has ``2 * per_arm``;
        ``cluster``: students per site).
    icc : float
        Share of the outcome's variance between sites, in [0, 1) (``multisite3``: between the
        sites of a district).
    tau : float, default 0
        SD of the true effects across sites, in outcome SDs (``multisite3``: within a district).
    r2, r2_site, r2_tau : float, default 0
        Share of the within-site variance, of the between-site variance and of the variance of
        the effects across sites that covariates explain.
    p_treated : float, default 0.5
        Share of the students (``cluster``: of the sites) treated, in (0, 1).
    site_covariates : int, default 0
        Site-level covariates in the analysis; each costs one degree of freedom.
    districts : int, optional
        ``multisite3`` only: districts, each with ``sites / districts`` sites on average.
    icc_district, tau_district : float, default 0
        ``multisite3`` only: share of the outcome's variance between districts, and SD of the
        districts' average effects.
    r2_tau_district : float, default 0
        ``multisite3`` only: share of the variance of the districts' effects that district
        covariates explain.
    district_covariates : int, default 0
        ``multisite3`` only: district-level covariates; each costs one degree of freedom.
    classrooms : int, optional
        ``cluster3`` only: classrooms per site, sharing its ``per_arm`` students.
    icc_classroom, r2_classroom : float, default 0
        ``cluster3`` only: share of the outcome's variance between the classrooms of a site, and
        the share of it that covariates explain.

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
    >>> se, df = standard_error(
    ...     "cluster3", sites=60, per_arm=45, classrooms=3, icc=0.06, icc_classroom=0.17
    ... )
    >>> round(se, 4), df
    (0.0944, 58)
    """
    _check(design, locals())  # the trial's arguments by name
    share = p_treated * (1 - p_treated)
    within = (1 - icc - icc_district - icc_classroom) * (1 - r2)
    effects = tau**2 * (1 - r2_tau)
    if design in ("multisite", "multisite3"):
        blocks, covariates = (
            (districts, district_covariates) if districts else (sites, site_covariates)
        )
        variance = (
            tau_district**2 * (1 - r2_tau_district) / blocks
            + effects / sites
            + within / (share * sites * 2 * per_arm)
        )
        return math.sqrt(variance), blocks - covariates - 1
    between = icc * (1 - r2_site) + (1 - p_treated) * effects
    variance = (
        between / (share * sites)
        + icc_classroom * (1 - r2_classroom) / (share * sites * (classrooms or 1))
        + within / (share * sites * per_arm)
    )
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
    design : {"multisite", "cluster", "multisite3", "cluster3"}
        See :func:`standard_error`.
    alpha : float, default 0.05
        Significance level.
    power : float, default 0.8
        Power to detect the MDES.
    two_sided : bool, default True
        A two-sided test (``False``: one-sided, for a positive effect).
    **trial
        The trial: ``sites``, ``per_arm``, ``icc`` and the optional keywords of
        :func:`standard_error`.

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
    design : {"multisite", "cluster", "multisite3", "cluster3"}
        See :func:`standard_error`.
    effect : float
        The true average effect, in outcome SDs.
    alpha : float, default 0.05
        Significance level.
    two_sided : bool, default True
        A two-sided test (``False``: one-sided, rejecting for a positive estimate).
    **trial
        The trial: ``sites``, ``per_arm``, ``icc`` and the optional keywords of
        :func:`standard_error`.

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
    check_choice(design, "design", DESIGNS)
    for other, level in EXTRA_LEVEL.items():
        for name, default in level.items():
            if other != design and trial[name] != default:
                raise SitefxInputError(f"{name} is for the {other} design only")
    if design == "multisite3":
        _check_count("district_covariates", trial["district_covariates"], 0)
        _check_count("districts", trial["districts"], trial["district_covariates"] + 2)
        _check_count("sites", trial["sites"], trial["districts"], "one per district")
        if trial["site_covariates"]:
            raise SitefxInputError("multisite3 counts district_covariates, not site_covariates")
    else:
        _check_count("site_covariates", trial["site_covariates"], 0)
        low = trial["site_covariates"] + (2 if design == "multisite" else 3)
        _check_count("sites", trial["sites"], low, "df >= 1")
    if design == "cluster3":
        _check_count("classrooms", trial["classrooms"], 1)
    per_arm, low = trial["per_arm"], trial["classrooms"] or 1
    if not (isinstance(per_arm, (int, float)) and per_arm >= low):
        raise SitefxInputError(f"{_label('per_arm')} must be a number >= {low}; got {per_arm}")
    for name in (
        *("icc", "icc_district", "icc_classroom"),
        *("r2", "r2_site", "r2_tau", "r2_tau_district", "r2_classroom"),
    ):
        if not 0 <= trial[name] < 1:
            raise SitefxInputError(f"{_label(name)} must be in [0, 1); got {trial[name]}")
    if trial["icc"] + trial["icc_district"] + trial["icc_classroom"] >= 1:
        raise SitefxInputError("icc, icc_district and icc_classroom must add up to less than 1")
    if not 0 < trial["p_treated"] < 1:
        raise SitefxInputError(f"p_treated must be in (0, 1); got {trial['p_treated']}")
    for name in ("tau", "tau_district"):
        if not (math.isfinite(trial[name]) and trial[name] >= 0):
            raise SitefxInputError(f"{name} must be finite and >= 0; got {trial[name]}")


def _check_count(name: str, value, low: int, why: str = "") -> None:
    if not (isinstance(value, int) and value >= low):
        reason = f" ({why})" if why else ""
        raise SitefxInputError(
            f"{_label(name)} must be a whole number >= {low}{reason}; got {value}"
        )


def _label(name: str) -> str:
    """Return the keyword, with the command-line flag of the two-level trial's keywords."""
    if name in ("sites", "per_arm", "icc", "r2", "r2_site"):
        return f"{name} (--{name.replace('_', '-')})"
    return name
