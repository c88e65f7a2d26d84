"""What defines a fit apart from its data: one validated, frozen specification.

A :class:`ModelSpec` is built once, from the command line's flags, from Python arguments
(:class:`sitefx.SiteEffects`) or from a saved fit, and is validated when it is built: every
setting that needs no data (numbers in range, known choices, priors that read, options that
need another) is checked there, each error naming the setting and its flag. A fit stores its
spec in the DataTree's ``model_spec`` attribute (JSON), with the column roles it was read
with, so that a saved fit can be refitted, extended or put through sensitivity analysis
without retyping a flag (:meth:`ModelSpec.from_tree`).

Examples
--------
>>> spec = ModelSpec(priors={"tau": "half-cauchy(5)"}, seed=3)
>>> ModelSpec.from_json(spec.to_json()) == spec
True
>>> spec.replace(site_df=4)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
sitefx.errors.SitefxInputError: site_df (--site-df) needs site_dist 'student-t' ...
"""

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

import xarray as xr

from sitefx.data.adapters import Roles
from sitefx.errors import PriorSpecError, SitefxInputError, check_choice, check_finite
from sitefx.estimands import check_outcome_sd, check_threshold
from sitefx.historical import check_borrowing
from sitefx.infer.nuts import SamplerSettings
from sitefx.models.priors import Prior, given_prior, prior_flag

METHODS = ("auto", "exact", "nuts")
SITE_DISTRIBUTIONS = ("normal", "student-t")
COVARIATE_PRIORS = ("normal", "horseshoe")
LEVEL_EFFECTS = ("common", "varying")
# Settings only NUTS uses: given with the exact method, they are ignored with a warning.
NUTS_ONLY = ("warmup", "target_accept", "max_tree_depth")
ATTRIBUTE = "model_spec"  # the DataTree attribute holding a fit's spec


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """Everything that defines a fit except its data, checked when built.

    Attributes
    ----------
    priors : mapping of str to str
        Priors to use instead of the defaults, as spec strings (``Prior`` objects are
        turned into theirs), e.g. ``{"tau": "half-cauchy(5)"}``.
    chains, draws, warmup, target_accept, max_tree_depth, seed, progress
        Sampler settings (:class:`~sitefx.infer.nuts.SamplerSettings`); ``None`` means the
        default.
    method : {"auto", "exact", "nuts"}
        How to compute the posterior.
    collapse : bool
        Integrate site effects out where the family can.
    site_dist : {"normal", "student-t"}
        Distribution of site effects around the mean.
    site_df : float, optional
        Fixed degrees of freedom of Student-t site effects.
    covariate_prior : {"normal", "horseshoe"}
        Prior of covariate or moderator coefficients.
    horseshoe_p0, slab_scale, slab_df : float, optional
        Horseshoe settings.
    level_effect : {"common", "varying"}
        The treatment effect on the level (unbalanced repeated measures): one for all sites,
        or varying across sites.
    borrow : {"map", "power"}, optional
        How to borrow from historical data.
    borrow_weight : float, optional
        The MAP prior's vague weight, or the power prior's fixed ``a0``.
    threshold : float
        The effect that counts as a benefit.
    outcome_sd : float, optional
        The outcome's SD, for effect sizes.
    roles : Roles, optional
        The column roles the data were read with (set by a fit of a study).

    Raises
    ------
    SitefxInputError
        For a setting out of range, an unknown choice, or an option that needs another;
        :class:`PriorSpecError` for a prior that does not read.

    Examples
    --------
    >>> ModelSpec(method="sampling")
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: method must be one of auto, exact, nuts; got 'sampling'
    """

    priors: Mapping[str, str] = field(default_factory=dict)
    chains: int = 4
    draws: int = 1000
    warmup: int | None = None
    target_accept: float | None = None
    max_tree_depth: int | None = None
    seed: int = 0
    progress: bool = False
    method: str = "auto"
    collapse: bool = True
    site_dist: str = "normal"
    site_df: float | None = None
    covariate_prior: str = "normal"
    horseshoe_p0: float | None = None
    slab_scale: float | None = None
    slab_df: float | None = None
    level_effect: str = "common"
    borrow: str | None = None
    borrow_weight: float | None = None
    threshold: float = 0.0
    outcome_sd: float | None = None
    roles: Roles | None = None

    def __post_init__(self) -> None:
        """Check every setting (see the class docstring); priors become spec strings."""
        priors = {name: _prior_string(name, spec) for name, spec in self.priors.items()}
        object.__setattr__(self, "priors", {k: v for k, v in priors.items() if v is not None})
        self.sampler_settings()
        check_choice(self.method, "method", METHODS)
        check_choice(self.site_dist, "site_dist", SITE_DISTRIBUTIONS)
        check_choice(self.covariate_prior, "covariate_prior", COVARIATE_PRIORS)
        check_choice(self.level_effect, "level_effect", LEVEL_EFFECTS)
        if self.site_df is not None:
            if self.site_dist != "student-t":
                raise SitefxInputError(
                    "site_df (--site-df) needs site_dist 'student-t' (--site-dist student-t)"
                )
            check_finite(self.site_df, "site_df (--site-df)", positive=True)
        horseshoe = {
            "horseshoe_p0 (--horseshoe-p0)": self.horseshoe_p0,
            "slab_scale (--slab-scale)": self.slab_scale,
            "slab_df (--slab-df)": self.slab_df,
        }
        for name, value in horseshoe.items():
            if value is not None and self.covariate_prior != "horseshoe":
                raise SitefxInputError(
                    f"{name} needs covariate_prior 'horseshoe' (--covariate-prior horseshoe)"
                )
            if value is not None:
                check_finite(value, name, positive=True)
        if self.borrow is not None or self.borrow_weight is not None:
            check_borrowing(self.borrow or "map", self.borrow_weight)
        check_threshold(self.threshold)
        if self.outcome_sd is not None:
            check_outcome_sd(self.outcome_sd)

    def sampler_settings(self, *, shrinks: bool = False) -> SamplerSettings:
        """Return the NUTS settings with defaults resolved.

        Parameters
        ----------
        shrinks : bool
            The model has a horseshoe prior, whose posterior needs smaller steps: the
            default ``target_accept`` is then 0.99.

        Returns
        -------
        SamplerSettings
        """
        defaults = {"target_accept": 0.99} if shrinks else {}
        given = {name: getattr(self, name) for name in self.given(NUTS_ONLY)}
        return SamplerSettings(
            chains=self.chains,
            draws=self.draws,
            seed=self.seed,
            progress=self.progress,
            **defaults | given,
        )

    def given(self, names: tuple[str, ...]) -> list[str]:
        """Return those of the settings ``names`` that were given (not None).

        Parameters
        ----------
        names : tuple of str
            Setting names.

        Returns
        -------
        list of str
        """
        return [name for name in names if getattr(self, name) is not None]

    def replace(self, **changes: object) -> Self:
        """Return a copy with ``changes``, checked again.

        Parameters
        ----------
        **changes
            New values of settings, by name; ``priors`` replaces the whole mapping.

        Returns
        -------
        ModelSpec
        """
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        """Return the spec as JSON (what a fit stores in its ``model_spec`` attribute).

        Returns
        -------
        str
        """
        values = dataclasses.asdict(self)
        values["roles"] = None if self.roles is None else _roles_dict(self.roles)
        return json.dumps(values)

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Return the spec that :meth:`to_json` wrote.

        Parameters
        ----------
        text : str
            JSON from :meth:`to_json`.

        Returns
        -------
        ModelSpec
        """
        values = json.loads(text)
        roles = values.pop("roles", None)
        if "p0" in values:  # the name before 0.1.1
            values["horseshoe_p0"] = values.pop("p0")
        return cls(**values, roles=None if roles is None else Roles.from_mapping(roles))

    @classmethod
    def from_tree(cls, tree: xr.DataTree) -> Self:
        """Return the spec a saved fit was made with.

        Parameters
        ----------
        tree : xarray.DataTree
            A fit (e.g. from :func:`sitefx.read_fit`).

        Returns
        -------
        ModelSpec

        Raises
        ------
        SitefxInputError
            If the fit holds no spec (saved by an older sitefx).

        Examples
        --------
        >>> import sitefx
        >>> study = sitefx.load("studies/eight_schools")
        >>> fit = sitefx.SiteEffects(seed=5, threshold=2.0).fit(study)
        >>> spec = ModelSpec.from_tree(fit.posterior_)
        >>> spec.seed, spec.threshold, spec.roles.site
        (5, 2.0, 'school')
        """
        if ATTRIBUTE not in tree.attrs:
            raise SitefxInputError("this fit holds no model spec (it predates them): refit it")
        return cls.from_json(tree.attrs[ATTRIBUTE])


def _prior_string(name: str, spec: "str | Prior | None") -> str | None:
    """Return a prior as its spec string, checked; errors name the flag."""
    if spec is None:
        return None
    flag = prior_flag(name)
    try:
        return str(given_prior(spec))
    except PriorSpecError as error:
        raise PriorSpecError(f"{name} ({flag}): {error}") from error


def _roles_dict(roles: Roles) -> dict:
    """Return the roles as JSON-ready values (tuples as lists)."""
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in dataclasses.asdict(roles).items()
    }
