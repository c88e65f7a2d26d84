"""Simulated studies with known truth, for tests, benchmarks and calibration checks."""

import numpy as np
import pandas as pd

from sitefx.data.schema import DataAccounting, IndividualRecords, SiteSummaries


def simulate_site_summaries(
    n_sites: int,
    *,
    mu: float = 0.2,
    tau: float = 0.1,
    se_range: tuple[float, float] = (0.05, 0.3),
    seed: int = 0,
) -> tuple[SiteSummaries, dict[str, np.ndarray]]:
    """Simulate site summaries from ``theta_j ~ N(mu, tau)``, ``estimate_j ~ N(theta_j, se_j)``.

    Normal distributions are written ``N(mean, sd)``.

    Parameters
    ----------
    n_sites : int
        Number of sites, named ``"site 1"``, ``"site 2"``, ...
    mu : float, default 0.2
        The average effect.
    tau : float, default 0.1
        The SD of the site effects across sites.
    se_range : tuple of (float, float), default (0.05, 0.3)
        Each site's standard error is drawn uniformly from this range.
    seed : int, default 0
        Seed of the numpy generator.

    Returns
    -------
    data : SiteSummaries
        The simulated estimates and standard errors.
    truth : dict of str to numpy.ndarray
        ``mu``, ``tau`` and each site's true effect ``theta``, shape ``(n_sites,)``.

    Examples
    --------
    >>> data, truth = simulate_site_summaries(5, seed=1)
    >>> data.n_sites, truth["theta"].shape
    (5, (5,))
    """
    rng = np.random.default_rng(seed)
    theta = mu + tau * rng.standard_normal(n_sites)
    se = rng.uniform(*se_range, size=n_sites)
    data = SiteSummaries(
        site=tuple(f"site {j + 1}" for j in range(n_sites)),
        estimate=theta + se * rng.standard_normal(n_sites),
        se=se,
        accounting=DataAccounting(rows_read=n_sites),
    )
    return data, {"mu": np.float64(mu), "tau": np.float64(tau), "theta": theta}


def simulate_records(
    n_sites: int,
    n_records: int,
    *,
    n_covariates: int = 0,
    mu: float = 0.2,
    tau: float = 0.15,
    alpha_mean: float = 0.0,
    alpha_sd: float = 0.3,
    rho: float = 0.3,
    sigma: float = 1.0,
    n_moderators: int = 0,
    clusters_per_site: int = 0,
    cluster_sd: float = 0.3,
    seed: int = 0,
) -> tuple[IndividualRecords, dict[str, np.ndarray]]:
    """Individual records from the varying-intercepts-and-effects model.

    Records are spread evenly over sites and half are treated in each site; covariates are
    standard normal with coefficients drawn from ``N(0, 0.3)``. Site-level moderators are
    standard normal, with slopes ``gamma ~ N(0, 0.2)`` on the effects and
    ``gamma_alpha ~ N(0, 0.3)`` on the intercepts, centred so that ``mu`` is the effect at
    the average moderator values. With ``clusters_per_site``, records are split into clusters
    (e.g. classrooms) with intercepts ``N(0, cluster_sd)``, and treatment is assigned to
    every other cluster (a cluster-randomized trial with sites as blocks). Normal
    distributions are written ``N(mean, sd)``.

    Parameters
    ----------
    n_sites : int
        Number of sites, named ``"site 1"``, ``"site 2"``, ...
    n_records : int
        Number of records in all. Sites get ``ceil(n_records / n_sites)`` consecutive records
        each, so the last sites get fewer (or none) when that does not divide evenly;
        treatment alternates record by record (by cluster with ``clusters_per_site``).
    n_covariates : int, default 0
        Person-level covariates ``x1, x2, ...``.
    mu : float, default 0.2
        The average treatment effect.
    tau : float, default 0.15
        The SD of the site effects ``theta_j``.
    alpha_mean, alpha_sd : float, default 0.0 and 0.3
        Mean and SD of the site intercepts ``alpha_j`` (the control-group means).
    rho : float, default 0.3
        Correlation of each site's intercept and effect.
    sigma : float, default 1.0
        The SD of the outcome within a site and arm (the residual SD).
    n_moderators : int, default 0
        Site-level moderators ``w1, w2, ...``.
    clusters_per_site : int, default 0
        Clusters within each site (0: none).
    cluster_sd : float, default 0.3
        The SD of the cluster intercepts.
    seed : int, default 0
        Seed of the numpy generator.

    Returns
    -------
    data : IndividualRecords
        The simulated records (gaussian family).
    truth : dict of str to numpy.ndarray
        The true values: ``mu``, ``tau``, ``alpha_mean``, ``alpha_sd``, ``rho``,
        ``sigma``, the covariate coefficients ``beta``, each site's ``alpha`` and
        ``theta``, the moderators' slopes ``gamma_alpha`` and ``gamma``, and
        ``cluster_sd`` with clusters.

    Examples
    --------
    >>> data, truth = simulate_records(10, 400, n_covariates=2, seed=3)
    >>> data.n_records, data.covariates.shape, sorted(truth)[:3]
    (400, (400, 2), ['alpha', 'alpha_mean', 'alpha_sd'])
    """
    rng = np.random.default_rng(seed)
    covariance = np.array([[alpha_sd**2, rho * alpha_sd * tau], [rho * alpha_sd * tau, tau**2]])
    effects = rng.multivariate_normal([alpha_mean, mu], covariance, size=n_sites)
    site_index = np.repeat(np.arange(n_sites, dtype=np.int32), -(-n_records // n_sites))[:n_records]
    moderators = rng.standard_normal((n_sites, n_moderators))
    gamma = np.column_stack(
        [rng.normal(0.0, 0.3, n_moderators), rng.normal(0.0, 0.2, n_moderators)]
    )
    effects += (moderators - moderators.mean(axis=0)) @ gamma
    treatment = (np.arange(n_records) % 2).astype(np.int8)
    cluster = None
    cluster_effect = np.zeros(n_records)
    if clusters_per_site:
        position = np.arange(n_records) - np.searchsorted(site_index, site_index)
        within = position * clusters_per_site // np.bincount(site_index)[site_index]
        treatment = (within % 2).astype(np.int8)
        cluster = within.astype(str)
        codes = site_index * clusters_per_site + within
        cluster_effect = rng.normal(0.0, cluster_sd, n_sites * clusters_per_site)[codes]
    covariates = rng.standard_normal((n_records, n_covariates))
    beta = rng.normal(0.0, 0.3, size=n_covariates)
    outcome = (
        effects[site_index, 0]
        + effects[site_index, 1] * treatment
        + covariates @ beta
        + cluster_effect
        + sigma * rng.standard_normal(n_records)
    )
    data = IndividualRecords(
        outcome=outcome,
        treatment=treatment,
        site_index=site_index,
        site=tuple(f"site {j + 1}" for j in range(n_sites)),
        covariates=covariates,
        covariate_names=tuple(f"x{k + 1}" for k in range(n_covariates)),
        moderators=moderators,
        moderator_names=tuple(f"w{k + 1}" for k in range(n_moderators)),
        cluster=cluster,
        accounting=DataAccounting(rows_read=n_records),
    )
    truth = {
        "mu": np.float64(mu),
        "tau": np.float64(tau),
        "alpha_mean": np.float64(alpha_mean),
        "alpha_sd": np.float64(alpha_sd),
        "rho": np.float64(rho),
        "sigma": np.float64(sigma),
        "beta": beta,
        "alpha": effects[:, 0],
        "theta": effects[:, 1],
        "gamma_alpha": gamma[:, 0],
        "gamma": gamma[:, 1],
    }
    if clusters_per_site:
        truth["cluster_sd"] = np.float64(cluster_sd)
    return data, truth


def simulate_binary_records(
    n_sites: int,
    n_records: int,
    *,
    n_covariates: int = 0,
    mu: float = 0.4,
    tau: float = 0.3,
    alpha_mean: float = -0.5,
    alpha_sd: float = 0.6,
    seed: int = 0,
) -> tuple[IndividualRecords, dict[str, np.ndarray]]:
    """Simulate binary (0/1) individual records from the logit model.

    The site intercepts ``alpha_j ~ N(alpha_mean, alpha_sd)`` and log odds ratios
    ``theta_j ~ N(mu, tau)`` are independent. Records are spread over sites as in
    :func:`simulate_records`, treatment alternating; covariates are standard normal with
    coefficients drawn from ``N(0, 0.5)`` (normal distributions written ``N(mean, sd)``).

    Parameters
    ----------
    n_sites : int
        Number of sites, named ``"site 1"``, ``"site 2"``, ...
    n_records : int
        Number of records in all.
    n_covariates : int, default 0
        Person-level covariates ``x1, x2, ...``.
    mu : float, default 0.4
        The average log odds ratio.
    tau : float, default 0.3
        The SD of the sites' log odds ratios.
    alpha_mean, alpha_sd : float, default -0.5 and 0.6
        Mean and SD of the site intercepts (control-group log odds).
    seed : int, default 0
        Seed of the numpy generator.

    Returns
    -------
    data : IndividualRecords
        The simulated records (binomial family, units ``"log odds ratio"``).
    truth : dict of str to numpy.ndarray
        ``mu``, ``tau``, ``alpha_mean``, ``alpha_sd``, the covariate coefficients ``beta``,
        and each site's ``alpha`` and ``theta``.

    Examples
    --------
    >>> data, truth = simulate_binary_records(4, 200, n_covariates=1, seed=2)
    >>> data.family, sorted(set(data.outcome.tolist())), truth["theta"].shape
    ('binomial', [0.0, 1.0], (4,))
    """
    rng = np.random.default_rng(seed)
    alpha = rng.normal(alpha_mean, alpha_sd, n_sites)
    theta = rng.normal(mu, tau, n_sites)
    site_index = np.repeat(np.arange(n_sites, dtype=np.int32), -(-n_records // n_sites))[:n_records]
    treatment = (np.arange(n_records) % 2).astype(np.int8)
    covariates = rng.standard_normal((n_records, n_covariates))
    beta = rng.normal(0.0, 0.5, n_covariates)
    logit = alpha[site_index] + theta[site_index] * treatment + covariates @ beta
    outcome = (rng.random(n_records) < 1 / (1 + np.exp(-logit))).astype(float)
    data = IndividualRecords(
        outcome=outcome,
        treatment=treatment,
        site_index=site_index,
        site=tuple(f"site {j + 1}" for j in range(n_sites)),
        covariates=covariates,
        covariate_names=tuple(f"x{k + 1}" for k in range(n_covariates)),
        family="binomial",
        accounting=DataAccounting(rows_read=n_records),
        units="log odds ratio",
    )
    truth = {
        "mu": np.float64(mu),
        "tau": np.float64(tau),
        "alpha_mean": np.float64(alpha_mean),
        "alpha_sd": np.float64(alpha_sd),
        "beta": beta,
        "alpha": alpha,
        "theta": theta,
    }
    return data, truth


def simulate_growth_frame(
    n_sites: int,
    per_site: int,
    *,
    mu: float = 2.0,
    tau: float = 1.0,
    level: tuple[float, float] = (50.0, 3.0),
    growth: tuple[float, float] = (5.0, 1.0),
    person_sd: tuple[float, float] = (8.0, 1.0),
    person_rho: float = 0.3,
    sigma: float = 3.0,
    missing: float = 0.25,
    leave: float = 0.0,
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Scores of persons at irregular, partly missing waves, from the long growth model.

    In each site half the persons are treated; each is scored at waves 0 to 3 at times
    ``wave + uniform(-0.3, 0.3)`` (two decimals), missing each later wave with probability
    ``missing``, or every later wave with probability ``leave``. Sites' levels (at time 0)
    and control growth are normal, their effects on growth ``theta_j ~ N(mu, tau)``; persons'
    levels and growth are normal around them, correlated ``person_rho``; scores have residual
    SD ``sigma`` (two decimals).

    Parameters
    ----------
    n_sites, per_site : int
        Sites (``"s0"``, ``"s1"``, ...) and persons per site (``"s0-0"``, ...).
    mu, tau : float, default 2 and 1
        Mean and SD of the sites' effects on growth.
    level, growth : tuple of float, default (50, 3) and (5, 1)
        Mean and SD of the sites' levels and control growth.
    person_sd : tuple of float, default (8, 1)
        SDs of persons' levels and growth within a site and arm.
    person_rho : float, default 0.3
        Correlation of persons' levels and growth.
    sigma : float, default 3
        Residual SD of the scores.
    missing, leave : float, default 0.25 and 0
        Probabilities that a person misses a wave after the first, and all of them.
    seed : int, default 0
        Seed of the numpy generator.

    Returns
    -------
    frame : pandas.DataFrame
        Columns ``school``, ``pupil``, ``treated``, ``year``, ``score``; rows numbered from 1.
    theta : ndarray, shape (n_sites,)
        The sites' true effects on growth.

    Examples
    --------
    >>> frame, theta = simulate_growth_frame(3, 10, seed=1)
    >>> list(frame.columns), len(theta)
    (['school', 'pupil', 'treated', 'year', 'score'], 3)
    """
    rng = np.random.default_rng(seed)
    theta = rng.normal(mu, tau, n_sites)
    levels, control_growth = rng.normal(*level, n_sites), rng.normal(*growth, n_sites)
    covariance = np.outer(person_sd, person_sd) * np.array([[1, person_rho], [person_rho, 1]])
    rows = []
    for j in range(n_sites):
        for i in range(per_site):
            treated = i % 2
            start, slope = rng.multivariate_normal([levels[j], control_growth[j]], covariance)
            slope += treated * theta[j]
            leaves = rng.random() < leave
            for wave in range(4):
                if wave and (leaves or rng.random() < missing):
                    continue
                time = round(wave + rng.uniform(-0.3, 0.3), 2)
                score = round(start + slope * time + rng.normal(0, sigma), 2)
                rows.append((f"s{j}", f"s{j}-{i}", treated, time, score))
    frame = pd.DataFrame(rows, columns=["school", "pupil", "treated", "year", "score"])
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame, theta


def simulate_interrupted_frame(
    n_sites: int,
    per_site: int,
    *,
    mu: float = 3.0,
    tau: float = 1.5,
    years: tuple[int, int] = (2012, 2019),
    starts: tuple[int, ...] = (2015, 2016, 2017),
    level: tuple[float, float] = (250.0, 5.0),
    growth: tuple[float, float] = (1.5, 0.5),
    shift: tuple[float, float] = (0.5, 1.0),
    level_difference: float = -4.0,
    trend_difference: float = 0.3,
    person_sd: tuple[float, float] = (10.0, 0.5),
    person_rho: float = 0.2,
    sigma: float = 2.0,
    adopting: float = 1 / 3,
    missing: float = 0.1,
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Yearly scores of units in sites that adopt a programme in different years.

    A comparative interrupted time series as education data bring it: districts (sites)
    whose adopting schools began a programme in the district's start year (``starts[j %
    len(starts)]``), beside comparison schools of the same district, every school's mean
    score recorded yearly, some years missing. A district's schools share its level, trend
    (per year since ``years[0]``) and step at the start year (``shift``, what happened to
    every school then); adopting schools start ``level_difference`` apart with trends
    ``trend_difference`` apart, and step by ``theta_j ~ N(mu, tau)`` more. Schools' levels
    and trends vary around their district's (SDs ``person_sd``, correlation
    ``person_rho``); scores have residual SD ``sigma`` (two decimals).

    Parameters
    ----------
    n_sites, per_site : int
        Districts (``"d0"``, ...) and schools per district (``"d0-0"``, ...).
    mu, tau : float, default 3 and 1.5
        Mean and SD of the districts' effects (steps beyond the comparison schools').
    years : tuple of int, default (2012, 2019)
        First and last year scored.
    starts : tuple of int, default (2015, 2016, 2017)
        The districts' start years, in turn.
    level, growth, shift : tuple of float
        Mean and SD of the districts' levels, trends and steps at the start.
    level_difference, trend_difference : float, default -4 and 0.3
        How adopting schools differ before the start.
    person_sd : tuple of float, default (10, 0.5)
        SDs of schools' levels and trends within a district and arm.
    person_rho : float, default 0.2
        Correlation of schools' levels and trends.
    sigma : float, default 2
        Residual SD of the scores.
    adopting : float, default 1/3
        Share of each district's schools that adopt.
    missing : float, default 0.1
        Probability that a school's score is missing in a year.
    seed : int, default 0
        Seed of the numpy generator.

    Returns
    -------
    frame : pandas.DataFrame
        Columns ``district``, ``school``, ``adopted``, ``start``, ``year``, ``score``; rows
        numbered from 1.
    theta : ndarray, shape (n_sites,)
        The districts' true effects.

    Examples
    --------
    >>> frame, theta = simulate_interrupted_frame(3, 9, seed=1)
    >>> list(frame.columns), len(theta), frame.groupby("adopted")["school"].nunique().tolist()
    (['district', 'school', 'adopted', 'start', 'year', 'score'], 3, [18, 9])
    """
    rng = np.random.default_rng(seed)
    theta = rng.normal(mu, tau, n_sites)
    levels, trends = rng.normal(*level, n_sites), rng.normal(*growth, n_sites)
    shifts = rng.normal(*shift, n_sites)
    covariance = np.outer(person_sd, person_sd) * np.array([[1, person_rho], [person_rho, 1]])
    n_adopting = round(adopting * per_site)
    rows = []
    for j in range(n_sites):
        start = starts[j % len(starts)]
        for i in range(per_site):
            adopted = int(i < n_adopting)
            school_level, school_trend = rng.multivariate_normal([levels[j], trends[j]], covariance)
            school_level += adopted * level_difference
            school_trend += adopted * trend_difference
            step = shifts[j] + adopted * theta[j]
            for year in range(years[0], years[1] + 1):
                if rng.random() < missing:
                    continue
                mean = school_level + school_trend * (year - years[0]) + step * (year >= start)
                score = round(mean + rng.normal(0, sigma), 2)
                rows.append((f"d{j}", f"d{j}-{i}", adopted, start, year, score))
    columns = ["district", "school", "adopted", "start", "year", "score"]
    frame = pd.DataFrame(rows, columns=columns)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame, theta
