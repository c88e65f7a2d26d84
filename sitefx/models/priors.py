"""Prior specifications: parse spec strings such as ``"half-normal(5)"``, choose defaults.

A :class:`Prior` is a family name and its numeric parameters. It prints back as the spec
string it came from, builds the numpyro distribution, and knows its support, so a prior for
a standard deviation cannot be given a family that allows negative values. Strings are parsed
with a regular expression and :func:`float`; nothing is evaluated.

Default priors (:func:`sitefx.families.default_priors`, one recipe per family) are weakly
informative on the data's own scale ``S``:

* site summaries: ``S = max(sd(estimates), median(se))``, the spread a raw estimate shows;
* individual records: ``S = sd(outcome)``.

Then ``mu ~ normal(0, 2.5 S)`` (centred on no effect; effects beyond a few ``S`` get little
mass, as rstanarm's autoscaled priors), ``tau ~ half-normal(S)`` (a cross-site SD is rarely
larger than the raw spread; 95% of the mass lies below ``2 S``, and the mass near 0 lets the
data favour full pooling, unlike inverse-gamma priors that push away from 0). Regression
slopes (moderators ``gamma``, covariates ``beta``) get ``normal(0, 2.5 S / smallest SD of
their columns)``: a one-SD change in a column rarely moves the effect by more than ``2.5 S``.
Binary outcomes (arm counts, or records of family binomial) work on the log-odds scale:
``mu ~ normal(0, 2.5)``, ``tau ~ half-normal(1)``, control log-odds
``alpha_mean ~ normal(0, 2.5)``, ``alpha_sd ~ half-normal(2.5)``, slopes as below with
``S = 1``; site intercepts and effects are independent (no ``rho``). For records,
the site intercepts' mean and SD, the covariate coefficients and the residual SD follow the
same recipe, with ``rho ~ lkj(2)`` mildly favouring small intercept-effect correlations; the
SD of cluster (e.g. classroom) intercepts ``cluster_sd ~ half-normal(S)``, and moderator
slopes of the site intercepts ``gamma_alpha`` as those of the effects.
The long-format growth model (unbalanced repeated measures) uses ``S`` = the scores' SD and
``G = S / sd(times)`` for growth: ``mu``, ``growth_mean ~ normal(0, 2.5 G)``; ``tau``,
``growth_sd``, ``person_growth_sd ~ half-normal(G)``; levels as the records' intercepts,
``level_effect ~ normal(0, 2.5 S)``, ``person_sd ~ half-normal(S)``, ``person_rho ~ lkj(2)``;
with site-varying effects on the level, ``level_effect_mean`` as ``level_effect`` and
``level_effect_sd ~ half-normal(S)``. A comparative interrupted time series has its effects
on the scores' scale: ``mu``, ``shift_mean``, ``level_difference ~ normal(0, 2.5 S)``,
``tau``, ``shift_sd ~ half-normal(S)``, ``trend_difference ~ normal(0, 2.5 G)``.
Upper nesting levels (districts above schools) get ``tau_<level> ~ half-normal(S)`` like ``tau``
(and, for records, ``alpha_sd_<level>`` like ``alpha_sd``).
Scales are rounded to two significant digits so the printed spec is exactly what was used.
"""

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np

from sitefx.data.schema import Level
from sitefx.errors import PriorSpecError

if TYPE_CHECKING:
    from numpyro.distributions import Distribution
    from scipy.stats._distn_infrastructure import rv_continuous_frozen


@dataclass(frozen=True)
class _Family:
    parameters: tuple[str, ...]
    support: str  # "real", "positive" or "correlation"
    positive: tuple[str, ...]  # parameters that must be > 0
    numpyro: str = ""  # the numpyro distribution taking the parameters as they are


FAMILIES: dict[str, _Family] = {
    "normal": _Family(("mean", "sd"), "real", ("sd",), "Normal"),
    "flat": _Family((), "real", ()),
    "student-t": _Family(("df", "mean", "scale"), "real", ("df", "scale"), "StudentT"),
    "half-normal": _Family(("scale",), "positive", ("scale",), "HalfNormal"),
    "half-cauchy": _Family(("scale",), "positive", ("scale",), "HalfCauchy"),
    "half-t": _Family(("df", "scale"), "positive", ("df", "scale")),
    "exponential": _Family(("rate",), "positive", ("rate",), "Exponential"),
    "uniform": _Family(("lower", "upper"), "positive", ("upper",), "Uniform"),
    "inv-gamma": _Family(("shape", "scale"), "positive", ("shape", "scale"), "InverseGamma"),
    "gamma": _Family(("shape", "rate"), "positive", ("shape", "rate"), "Gamma"),
    "lkj": _Family(("eta",), "correlation", ("eta",)),
    "horseshoe": _Family(
        ("scale_global", "slab_scale", "slab_df"), "real", ("scale_global", "slab_scale", "slab_df")
    ),
}
# Priors on a whole vector of coefficients, not one value (see sitefx.models.hierarchical).
VECTOR_FAMILIES = {"horseshoe"}
HORSESHOE_SLAB_DF = 4.0
ALIASES = {
    "halfnormal": "half-normal",
    "halfcauchy": "half-cauchy",
    "half-student-t": "half-t",
    "halft": "half-t",
    "student": "student-t",
    "t": "student-t",
    "invgamma": "inv-gamma",
    "inverse-gamma": "inv-gamma",
}
# A prior the user gives with a parameter beyond 1e100 (or a positive one below 1e-100) is
# refused: its square leaves the range of floating-point numbers.
ABSURD = 1e100
_SPEC = re.compile(r"^\s*([A-Za-z][A-Za-z_-]*)\s*\(([^()]*)\)\s*$")


@dataclass(frozen=True)
class Prior:
    """A prior distribution given by family and parameters.

    Checked when made: the family must be known, the number of parameters right, every
    parameter finite, and scales, rates, degrees of freedom and shapes > 0.

    Attributes
    ----------
    family : str
        The family's canonical name: ``normal``, ``flat``, ``student-t``, ``half-normal``,
        ``half-cauchy``, ``half-t``, ``exponential``, ``uniform``, ``inv-gamma``, ``gamma``,
        ``lkj`` or ``horseshoe`` (:meth:`parse` also reads aliases such as ``halfnormal``).
    params : tuple of float
        The family's parameters in order, e.g. ``(mean, sd)`` for ``normal``, ``(scale,)``
        for ``half-normal``, ``(df, mean, scale)`` for ``student-t``, ``(lower, upper)`` for
        ``uniform`` (a prior for an SD: ``0 <= lower < upper``), ``(shape, rate)`` for
        ``gamma``, ``(eta,)`` for ``lkj``.

    Raises
    ------
    PriorSpecError
        For an unknown family, a wrong number of parameters, or a parameter out of range.

    Examples
    --------
    >>> prior = Prior.parse("half-cauchy(5)")
    >>> str(prior), prior.support
    ('half-cauchy(5)', 'positive')
    >>> Prior("normal", (0.0, 2.5))
    Prior(family='normal', params=(0.0, 2.5))
    """

    family: str
    params: tuple[float, ...]

    def __post_init__(self) -> None:
        """Check the family and its parameters (see the class docstring)."""
        family = FAMILIES.get(self.family)
        if family is None:
            raise PriorSpecError(
                f"unknown prior family '{self.family}'; known: {', '.join(FAMILIES)}"
            )
        if len(self.params) != len(family.parameters):
            raise PriorSpecError(
                f"{self.family} takes {len(family.parameters)} parameter(s) "
                f"({', '.join(family.parameters)}); got {len(self.params)} in {self}"
            )
        values = dict(zip(family.parameters, self.params, strict=True))
        if not all(math.isfinite(value) for value in self.params):
            raise PriorSpecError(f"prior {self} has a non-finite parameter")
        for name in family.positive:
            if values[name] <= 0:
                raise PriorSpecError(f"prior {self}: {name} must be > 0")
        if self.family == "uniform" and not 0 <= values["lower"] < values["upper"]:
            raise PriorSpecError(f"prior {self}: need 0 <= lower < upper (it bounds an SD)")

    @classmethod
    def parse(cls, spec: "str | Prior") -> "Prior":
        """Read a spec string such as ``"normal(0, 1)"`` (or pass a Prior through).

        The family name is case-insensitive, ``_`` reads as ``-`` and aliases are resolved
        (``halfnormal``, ``t``, ``inverse-gamma``, ...). Parameters are read with
        :func:`float`; nothing is evaluated.

        Parameters
        ----------
        spec : str or Prior
            ``family(parameters)``, e.g. ``"half-normal(5)"`` or ``"flat()"``.

        Returns
        -------
        Prior
            The prior (``spec`` itself if it is one).

        Raises
        ------
        PriorSpecError
            If the string is not ``family(parameters)``, a parameter is not a number, or
            the family or its parameters are invalid.
        """
        if isinstance(spec, Prior):
            return spec
        match = _SPEC.match(str(spec))
        if match is None:
            raise PriorSpecError(
                f"cannot read prior '{spec}'; write it as family(parameters), e.g. 'half-normal(5)'"
            )
        name = match.group(1).lower().replace("_", "-")
        arguments = [part.strip() for part in match.group(2).split(",") if part.strip()]
        try:
            params = tuple(float(argument) for argument in arguments)
        except ValueError as error:
            raise PriorSpecError(f"prior '{spec}': parameters must be numbers") from error
        return cls(ALIASES.get(name, name), params)

    @property
    def support(self) -> str:
        """Where the prior puts mass: ``"real"``, ``"positive"`` or ``"correlation"``."""
        return FAMILIES[self.family].support

    def distribution(self) -> "Distribution":
        """Build the numpyro distribution for this prior.

        Returns
        -------
        numpyro.distributions.Distribution
            E.g. ``HalfNormal(scale)``; ``half-t`` is a folded Student-t, ``flat`` an
            improper uniform on the real line and ``lkj`` the Cholesky factor of a 2x2
            correlation matrix.

        Raises
        ------
        PriorSpecError
            For the horseshoe, a prior for coefficient vectors, not one value.
        """
        # numpyro only here: parsing priors and the exact method (scipy) run without it
        import numpyro.distributions as dist

        match self.family:
            case "flat":
                return dist.ImproperUniform(dist.constraints.real, (), ())
            case "half-t":
                df, scale = self.params
                return dist.FoldedDistribution(dist.StudentT(df, 0.0, scale))
            case "lkj":
                return dist.LKJCholesky(2, *self.params)
            case "horseshoe":
                raise PriorSpecError("horseshoe is a prior for coefficient vectors (beta, gamma)")
        return getattr(dist, FAMILIES[self.family].numpyro)(*self.params)

    def scipy_distribution(self) -> tuple["rv_continuous_frozen", bool]:
        """Build the prior as a frozen :mod:`scipy.stats` distribution, for quadrature and plots.

        The same densities as :meth:`distribution`, without JAX or numpyro.

        Returns
        -------
        distribution : scipy.stats frozen distribution
            E.g. ``halfnorm(scale=s)``.
        folded : bool
            True for ``half-t``: the distribution is a Student-t to be folded at 0 (density
            doubled on the positive half), as scipy has no half-t.

        Raises
        ------
        PriorSpecError
            For flat, LKJ and horseshoe priors, which have no scipy counterpart.

        Examples
        --------
        >>> distribution, folded = Prior.parse("half-normal(2)").scipy_distribution()
        >>> round(float(distribution.ppf(0.5)), 4), folded
        (1.349, False)
        """
        from scipy import stats  # scipy only here: parsing priors needs none

        params = self.params
        match self.family:
            case "normal":
                return stats.norm(*params), False
            case "student-t":
                return stats.t(*params), False
            case "half-normal":
                return stats.halfnorm(scale=params[0]), False
            case "half-cauchy":
                return stats.halfcauchy(scale=params[0]), False
            case "half-t":
                return stats.t(params[0], scale=params[1]), True
            case "exponential":
                return stats.expon(scale=1 / params[0]), False
            case "uniform":
                return stats.uniform(params[0], params[1] - params[0]), False
            case "inv-gamma":
                return stats.invgamma(params[0], scale=params[1]), False
            case "gamma":
                return stats.gamma(params[0], scale=1 / params[1]), False
        raise PriorSpecError(f"a {self.family} prior has no scipy distribution")

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Draw from the prior, by scipy (no JAX).

        Parameters
        ----------
        rng : numpy.random.Generator
            The random stream.
        shape : tuple of int
            The shape of the draws.

        Returns
        -------
        ndarray
            Draws of that shape (a half-t's are folded at 0).

        Raises
        ------
        PriorSpecError
            For flat, LKJ and horseshoe priors (see :meth:`scipy_distribution`).

        Examples
        --------
        >>> draws = Prior.parse("half-t(3, 2)").sample(np.random.default_rng(0), (1000,))
        >>> draws.shape, bool((draws > 0).all())
        ((1000,), True)
        """
        distribution, folded = self.scipy_distribution()
        draws = distribution.rvs(size=shape, random_state=rng)
        return np.abs(draws) if folded else draws

    def log_density(self, values: np.ndarray) -> np.ndarray:
        """Evaluate the prior's log density, by scipy (no JAX).

        Parameters
        ----------
        values : array_like
            Where to evaluate it.

        Returns
        -------
        ndarray
            The log density, ``-inf`` outside the support; 0 everywhere for a flat prior.

        Raises
        ------
        PriorSpecError
            For LKJ and horseshoe priors (see :meth:`scipy_distribution`).

        Examples
        --------
        >>> float(Prior.parse("half-t(3, 1)").log_density(-1.0))
        -inf
        >>> round(float(Prior.parse("normal(0, 1)").log_density(0.0)), 4)  # -log sqrt(2 pi)
        -0.9189
        """
        values = np.asarray(values, dtype=float)
        if self.family == "flat":
            return np.zeros(values.shape)
        distribution, folded = self.scipy_distribution()
        with np.errstate(divide="ignore"):
            log_density = distribution.logpdf(values)
        return np.where(values >= 0, log_density + np.log(2), -np.inf) if folded else log_density

    def power(self, alpha: float) -> "Prior":
        """Return the prior whose density is proportional to this one's raised to ``alpha``.

        This is the power-scaled prior of :mod:`sitefx.sensitivity.power`: every scalar
        family here is closed under powers, e.g. ``normal(m, s)`` becomes ``normal(m, s /
        sqrt(alpha))`` and ``student-t(df, m, s)`` becomes ``student-t(alpha (df + 1) - 1, m,
        ...)``; a half-Cauchy becomes a half-t. Parameters are kept to ten significant digits.

        Parameters
        ----------
        alpha : float
            The power (> 0): below 1 widens the prior, above 1 narrows it.

        Returns
        -------
        Prior
            The power-scaled prior (a uniform prior is its own power).

        Raises
        ------
        PriorSpecError
            Where the power is improper (a Cauchy prior at ``alpha <= 1/2``) and for flat,
            LKJ and horseshoe priors.

        Examples
        --------
        >>> str(Prior.parse("half-normal(2)").power(4)), str(Prior.parse("half-cauchy(1)").power(2))
        ('half-normal(1)', 'half-t(3, 0.5773502692)')
        """
        values = self.params
        match self.family:
            case "normal":
                params = (values[0], values[1] / math.sqrt(alpha))
            case "half-normal":
                params = (values[0] / math.sqrt(alpha),)
            case "student-t" | "half-t" | "half-cauchy":
                df, *location, scale = (1.0, *values) if self.family == "half-cauchy" else values
                powered_df = alpha * (df + 1) - 1  # (1 + x²/(df s²))^(-(df+1)/2) to the alpha
                params = (powered_df, *location, scale * math.sqrt(df / max(powered_df, 1e-300)))
            case "exponential":
                params = (alpha * values[0],)
            case "uniform":
                params = values
            case "gamma":
                params = (alpha * (values[0] - 1) + 1, alpha * values[1])
            case "inv-gamma":
                params = (alpha * (values[0] + 1) - 1, alpha * values[1])
            case _:
                raise PriorSpecError(f"a {self.family} prior has no power-scaled form")
        family = "half-t" if self.family == "half-cauchy" else self.family
        try:
            return Prior(family, tuple(_significant(value) for value in params))
        except PriorSpecError as error:
            raise PriorSpecError(f"{self} raised to the power {alpha:g} is improper") from error

    def __str__(self) -> str:
        """Return the spec string, e.g. ``half-normal(5)``, that parses back to this prior."""
        return f"{self.family}({', '.join(_format_number(p) for p in self.params)})"


def given_prior(spec: "str | Prior") -> Prior:
    """Read a prior the user gave, refusing absurd parameters.

    Read as :meth:`Prior.parse` does, then refused when a parameter is absurd: beyond 1e100,
    or a positive one below 1e-100, whose square overflows or underflows. Default priors are
    not held to this: data on such a scale get their own message.

    Parameters
    ----------
    spec : str or Prior
        ``family(parameters)``, e.g. ``"half-normal(2.5)"``, or a Prior.

    Returns
    -------
    Prior
        The prior.

    Raises
    ------
    PriorSpecError
        If the spec cannot be read or a parameter is absurd.

    Examples
    --------
    >>> str(given_prior("half-normal(2.5)"))
    'half-normal(2.5)'
    >>> given_prior("half-normal(1e-120)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sitefx.errors.PriorSpecError: prior half-normal(1e-120): scale below 1e-100 is absurd ...
    """
    prior = Prior.parse(spec)
    family = FAMILIES[prior.family]
    for name, value in zip(family.parameters, prior.params, strict=True):
        if abs(value) > ABSURD:
            raise PriorSpecError(
                f"prior {prior}: {name} beyond 1e100 is absurd (its square overflows)"
            )
        if name in family.positive and value < 1 / ABSURD:
            raise PriorSpecError(
                f"prior {prior}: {name} below 1e-100 is absurd (its square underflows)"
            )
    return prior


def _format_number(value: float) -> str:
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def _significant(value: float) -> float:
    """Round to ten significant digits: a computed parameter that prints short and as used."""
    return float(f"{value:.10g}")


def round_scale(value: float) -> float:
    """Round a scale to two significant digits, so the printed default is exact.

    Parameters
    ----------
    value : float
        A scale computed from the data, e.g. ``2.5 S``.

    Returns
    -------
    float
        ``value`` to two significant digits.

    Examples
    --------
    >>> round_scale(12.3456), round_scale(0.0004567)
    (12.0, 0.00046)
    """
    return float(f"{value:.2g}")


@dataclass(frozen=True, kw_only=True)
class Priors:
    """The priors of one model; ``None`` marks a parameter the model does not have.

    Attributes
    ----------
    mu : Prior
        Average effect (a :class:`~sitefx.historical.MixturePrior` when borrowing with a
        robust MAP prior).
    tau : Prior
        Cross-site SD of the effects.
    gamma : Prior, optional
        Moderator slopes of the effects (meta-regression); may be a horseshoe.
    nu : Prior, optional
        Degrees of freedom of Student-t site effects, when learned.
    alpha_mean, alpha_sd : Prior, optional
        Mean and SD of the site intercepts (individual records and arm counts; the control
        log-odds for binary outcomes).
    beta : Prior, optional
        Covariate coefficients (individual records); may be a horseshoe.
    sigma : Prior, optional
        Residual SD (Gaussian records).
    rho : Prior, optional
        Correlation of site intercepts and effects, an ``lkj`` prior (Gaussian records).
    gamma_alpha : Prior, optional
        Moderator slopes of the site intercepts (individual records).
    cluster_sd : Prior, optional
        SD of cluster (e.g. classroom) intercepts.
    growth_mean, growth_sd : Prior, optional
        Mean and SD of the sites' control-arm growth (long-format growth).
    level_effect : Prior, optional
        Treatment effect on the level at the centre time (long-format growth), one for all
        sites.
    level_effect_mean, level_effect_sd : Prior, optional
        Mean and SD of the sites' treatment effects on the level, when they vary
        (long-format growth, ``--level-effect varying``).
    person_sd, person_growth_sd : Prior, optional
        SDs of persons' levels and growth around their site and arm (long-format growth).
    person_rho : Prior, optional
        Correlation of persons' levels and growth, an ``lkj`` prior (long-format growth).
    shift_mean, shift_sd : Prior, optional
        Mean and SD of the sites' step at the interruption in the comparison arm
        (comparative interrupted time series).
    level_difference, trend_difference : Prior, optional
        Differences between the arms in level (at the centre time) and in trend before the
        interruption (comparative interrupted time series).
    levels : mapping of str to Prior, default {}
        SDs at upper nesting levels, by parameter name: ``tau_<level>`` (and, for records,
        ``alpha_sd_<level>``).

    Examples
    --------
    >>> priors = Priors(mu=Prior.parse("normal(0, 1)"), tau=Prior.parse("half-normal(0.5)"))
    >>> priors.as_strings()
    {'mu': 'normal(0, 1)', 'tau': 'half-normal(0.5)'}
    """

    mu: Prior
    tau: Prior
    gamma: Prior | None = None
    nu: Prior | None = None
    alpha_mean: Prior | None = None
    alpha_sd: Prior | None = None
    beta: Prior | None = None
    sigma: Prior | None = None
    rho: Prior | None = None
    gamma_alpha: Prior | None = None
    cluster_sd: Prior | None = None
    growth_mean: Prior | None = None
    growth_sd: Prior | None = None
    level_effect: Prior | None = None
    level_effect_mean: Prior | None = None
    level_effect_sd: Prior | None = None
    person_sd: Prior | None = None
    person_growth_sd: Prior | None = None
    person_rho: Prior | None = None
    shift_mean: Prior | None = None
    shift_sd: Prior | None = None
    level_difference: Prior | None = None
    trend_difference: Prior | None = None
    # SDs at upper nesting levels, by parameter name: tau_<level> (and alpha_sd_<level>).
    levels: Mapping[str, Prior] = field(default_factory=dict)

    def as_strings(self) -> dict[str, str]:
        """Return the spec string of each prior the model has.

        Returns
        -------
        dict of str to str
            By parameter name, in field order, then the nesting levels' SDs; parameters the
            model lacks are left out.
        """
        single = {
            f.name: str(getattr(self, f.name))
            for f in fields(self)
            if f.name != "levels" and getattr(self, f.name) is not None
        }
        return single | {name: str(prior) for name, prior in self.levels.items()}

    @classmethod
    def from_strings(cls, specs: Mapping[str, str]) -> "Priors":
        """Rebuild priors from their spec strings, the inverse of :meth:`as_strings`.

        Parameters
        ----------
        specs : mapping of str to str
            By parameter name; names that are not fields (``tau_district``, ...) are the
            nesting levels' SDs.

        Returns
        -------
        Priors

        Examples
        --------
        >>> specs = {"mu": "normal(0, 1)", "tau": "half-normal(1)", "tau_school": "gamma(2, 1)"}
        >>> Priors.from_strings(specs).as_strings() == specs
        True
        """
        names = {f.name for f in fields(cls)} - {"levels"}
        parsed = {name: Prior.parse(spec) for name, spec in specs.items()}
        levels = {name: prior for name, prior in parsed.items() if name not in names}
        return cls(**{k: v for k, v in parsed.items() if k in names}, levels=levels)

    def describe(self) -> str:
        """Describe the priors, one indented line ``name ~ spec`` each.

        Returns
        -------
        str
            One line per prior the model has, e.g. ``  mu ~ normal(0, 1)``.

        Examples
        --------
        >>> priors = Priors(mu=Prior.parse("normal(0, 1)"), tau=Prior.parse("half-normal(0.5)"))
        >>> print(priors.describe())
          mu ~ normal(0, 1)
          tau ~ half-normal(0.5)
        """
        return "\n".join(f"  {name} ~ {spec}" for name, spec in self.as_strings().items())


SUPPORT = {
    "mu": "real",
    "tau": "positive",
    "gamma": "real",
    "nu": "positive",
    "alpha_mean": "real",
    "alpha_sd": "positive",
    "beta": "real",
    "sigma": "positive",
    "rho": "correlation",
    "gamma_alpha": "real",
    "cluster_sd": "positive",
    "growth_mean": "real",
    "growth_sd": "positive",
    "level_effect": "real",
    "level_effect_mean": "real",
    "level_effect_sd": "positive",
    "person_sd": "positive",
    "person_growth_sd": "positive",
    "person_rho": "correlation",
    "shift_mean": "real",
    "shift_sd": "positive",
    "level_difference": "real",
    "trend_difference": "real",
}
# Parameters whose prior has a flag of its own (--prior-mu, ...); the others: --prior NAME=SPEC.
PRIOR_FLAGS = ("mu", "tau", "nu")


def prior_flag(name: str) -> str:
    """Return the command-line flag that gives the prior of parameter ``name``, for messages.

    Parameters
    ----------
    name : str
        A parameter, e.g. ``tau`` or ``tau_district``.

    Returns
    -------
    str
        ``--prior-<name>`` for the parameters in :data:`PRIOR_FLAGS`, else
        ``--prior <name>=...``.

    Examples
    --------
    >>> prior_flag("nu"), prior_flag("cluster_sd")
    ('--prior-nu', '--prior cluster_sd=...')
    """
    return f"--prior-{name}" if name in PRIOR_FLAGS else f"--prior {name}=..."


def slope_prior(scale: float, columns: np.ndarray) -> Prior | None:
    """Return ``normal(0, 2.5 S / smallest column SD)`` for regression slopes.

    Parameters
    ----------
    scale : float
        The data's scale ``S``.
    columns : ndarray
        The columns (n, n_columns), or only their SDs (n_columns,).

    Returns
    -------
    Prior or None
        None without columns.

    Examples
    --------
    >>> import numpy as np
    >>> print(slope_prior(10.0, np.array([0.5, 2.0])))
    normal(0, 50)
    """
    if columns.shape[-1] == 0:
        return None
    sds = columns if columns.ndim == 1 else np.std(columns, axis=0, ddof=1)
    smallest_sd = min((sd for sd in sds if sd > 0), default=1.0)
    return Prior("normal", (0.0, round_scale(2.5 * scale / smallest_sd)))


def level_priors(
    levels: Sequence[Level], scale: float, names: Sequence[str] = ("tau",)
) -> dict[str, Prior]:
    """Return ``half-normal(S)`` for each SD at each upper nesting level.

    Parameters
    ----------
    levels : sequence of Level
        The upper nesting levels (districts above schools).
    scale : float
        The data's scale ``S``.
    names : sequence of str
        The SDs that vary at each level: ``tau`` (effects) and, for records, ``alpha_sd``.

    Returns
    -------
    dict of str to Prior
        By parameter name, ``<name>_<level>``.

    Examples
    --------
    >>> from sitefx.data.schema import Level
    >>> level_priors([Level("district", ("a", "b"), np.array([0, 1]))], 3.0)
    {'tau_district': Prior(family='half-normal', params=(3.0,))}
    """
    return {
        f"{name}_{level.name}": Prior("half-normal", (round_scale(scale),))
        for level in levels
        for name in names
    }


def horseshoe(
    n_columns: int,
    *,
    target: str,
    n_obs: int,
    scale: float,
    p0: float | None = None,
    slab_scale: float | None = None,
    slab_df: float | None = None,
) -> Prior:
    """Return the regularized horseshoe (Piironen & Vehtari 2017) for ``n_columns`` slopes.

    Coefficients of standardized columns get ``b_k = z_k * g * lambda~_k`` with local scales
    ``lambda_k ~ half-cauchy(1)``, global scale ``g ~ half-cauchy(scale_global)`` and a slab
    ``c^2 ~ inv-gamma(slab_df / 2, slab_df * slab_scale^2 / 2)`` that keeps large
    coefficients from escaping all shrinkage. ``scale_global = p0 / (D - p0) * S / sqrt(n)``
    encodes ``p0``, the expected number of relevant columns out of ``D``.

    Parameters
    ----------
    n_columns : int
        ``D``, the number of columns (covariates or moderators).
    target : str
        ``beta`` (covariates) or ``gamma`` (moderators), for messages.
    n_obs : int
        ``n``, the records (or sites) informing the coefficients.
    scale : float
        ``S``, the data's scale (a pseudo-SD on the logit scale).
    p0 : float, optional
        Expected relevant columns; default a quarter of them, at least 1.
    slab_scale : float, optional
        Default ``S``.
    slab_df : float, optional
        Default 4.

    Returns
    -------
    Prior

    Raises
    ------
    PriorSpecError
        With fewer than two columns, or ``p0`` outside ``(0, D)``.

    Examples
    --------
    >>> print(horseshoe(8, target="beta", n_obs=1000, scale=1.2, p0=2))
    horseshoe(0.013, 1.2, 4)
    """
    what = "covariates" if target == "beta" else "moderators"
    if n_columns < 2:
        raise PriorSpecError(
            "covariate_prior 'horseshoe' (--covariate-prior horseshoe) shrinks among several "
            f"{what} (--{what}); this model has {n_columns}"
        )
    p0 = max(1.0, round(n_columns / 4)) if p0 is None else float(p0)
    if not 0 < p0 < n_columns:
        raise PriorSpecError(
            f"p0 (--horseshoe-p0), the expected relevant {what}, must be in (0, {n_columns})"
        )
    scale_global = p0 / (n_columns - p0) * scale / math.sqrt(n_obs)
    slab_df = HORSESHOE_SLAB_DF if slab_df is None else float(slab_df)
    slab_scale = round_scale(slab_scale or scale)
    return Prior("horseshoe", (round_scale(scale_global), slab_scale, slab_df))


def apply_overrides(
    priors: Priors,
    overrides: Mapping[str, "str | Prior | None"] | None,
    *,
    shrinkable: Sequence[str] = (),
    description: str = "this",
) -> Priors:
    """Return ``priors`` with ``overrides`` (spec strings or Priors) applied.

    Parameters
    ----------
    priors : Priors
        The model's default priors; a parameter set to None is one the model lacks.
    overrides : mapping of str to str or Prior, optional
        Priors by parameter name; None values are skipped.
    shrinkable : sequence of str
        The coefficient vectors that may take a vector prior (the horseshoe).
    description : str
        The data in words, for messages.

    Returns
    -------
    Priors

    Raises
    ------
    PriorSpecError
        For an unknown parameter, one the model lacks, a prior with the wrong support, or a
        vector prior on anything not ``shrinkable``.

    Examples
    --------
    >>> base = Priors(mu=Prior.parse("normal(0, 1)"), tau=Prior.parse("half-normal(1)"))
    >>> print(apply_overrides(base, {"tau": "half-cauchy(5)"}).tau)
    half-cauchy(5)
    """
    chosen, levels = {}, dict(priors.levels)
    level_keys = set(levels)
    for name, spec in (overrides or {}).items():
        if spec is None:
            continue
        if name not in SUPPORT and name not in level_keys:
            known = [*SUPPORT, *level_keys]
            raise PriorSpecError(
                f"{name} ({prior_flag(name)}): unknown parameter '{name}' for a prior; known: "
                f"{', '.join(known)}"
            )
        if name in SUPPORT and getattr(priors, name) is None:
            raise PriorSpecError(
                f"{name} ({prior_flag(name)}): this model has no parameter '{name}' "
                f"(data: {description})"
            )
        prior = Prior.parse(spec)
        if prior.family in VECTOR_FAMILIES and name not in shrinkable:
            where = ", ".join(shrinkable) or "none"
            raise PriorSpecError(
                f"a {prior.family} prior fits coefficient vectors ({description}: {where}); "
                f"not {name}"
            )
        support = SUPPORT.get(name, "positive")
        if prior.support != support:
            raise PriorSpecError(
                f"prior for {name} must have {support} support; {prior} has {prior.support}"
            )
        if name in level_keys:
            levels[name] = prior
        else:
            chosen[name] = prior
    return dataclasses.replace(priors, **chosen, levels=levels)
