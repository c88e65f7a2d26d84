"""Model families: what sitefx fits to each kind of data, one module per family.

A family ties one kind of canonical data (:mod:`sitefx.data`) to everything the rest of
sitefx needs to know about it, behind one small protocol (:class:`Family`): which options
it allows, its default priors, its numpyro model and the sampling that completes it, when
the exact method applies, its data in the fitted DataTree, and how to simulate data of its
design. The estimator, the DataTree, sensitivity and calibration ask :func:`family_of`;
they do not branch on the data's type.

Adding a family (say, ordinal outcomes) is one new module: a class following
:class:`Family`, registered with :func:`register` when the module is imported, and its
import in this package (``sitefx/families/__init__.py``).

Examples
--------
>>> import sitefx
>>> family = family_of(sitefx.load("studies/eight_schools").data)
>>> family.name, family.description
('summaries', 'site summaries')
"""

from collections.abc import Mapping

from sitefx.data.schema import StudyData
from sitefx.errors import PriorSpecError
from sitefx.families import arms, growth, records, statistics, summaries
from sitefx.families.registry import (
    REGISTRY,
    Family,
    Model,
    Shrinkage,
    family_of,
    family_of_fit,
    register,
)
from sitefx.models.priors import Prior, Priors, apply_overrides, horseshoe

__all__ = [
    "REGISTRY",
    "Family",
    "Model",
    "Shrinkage",
    "arms",
    "data_scale",
    "default_priors",
    "family_of",
    "family_of_fit",
    "growth",
    "horseshoe_prior",
    "records",
    "register",
    "resolve_priors",
    "statistics",
    "summaries",
]


def default_priors(data: StudyData, *, robust: bool = False) -> Priors:
    """Return weakly informative priors on the data's scale (see :mod:`sitefx.models.priors`).

    Parameters
    ----------
    data : StudyData
        Canonical study data.
    robust : bool
        Add the prior of the Student-t degrees of freedom ``nu``: ``gamma(2, 0.1)`` (Juárez &
        Steel 2010), which spans near-Cauchy to near-normal tails (mean 20).

    Returns
    -------
    Priors

    Examples
    --------
    >>> import sitefx
    >>> print(default_priors(sitefx.load("studies/eight_schools").data).describe())
      mu ~ normal(0, 28)
      tau ~ half-normal(11)
    """
    return family_of(data).default_priors(data, robust=robust)


def data_scale(data: StudyData) -> float:
    """Return the scale ``S`` of the default priors (1 on the log-odds scale).

    Parameters
    ----------
    data : StudyData
        Canonical study data.

    Returns
    -------
    float

    Examples
    --------
    >>> import sitefx
    >>> data_scale(sitefx.load("studies/eight_schools").data)  # the median SE
    11.0
    """
    return family_of(data).data_scale(data)


def resolve_priors(
    data: StudyData,
    overrides: Mapping[str, str | Prior | None] | None = None,
    *,
    robust: bool = False,
    varying_level_effect: bool = False,
) -> Priors:
    """Return the default priors for ``data`` with ``overrides`` applied.

    Parameters
    ----------
    data : StudyData
        Canonical study data.
    overrides : mapping of str to str or Prior, optional
        Priors by parameter name (spec strings or :class:`Prior`); None values are skipped.
    robust : bool
        Student-t site effects with learned degrees of freedom (adds ``nu``).
    varying_level_effect : bool
        A treatment effect on the level varying across sites (long-format growth: adds
        ``level_effect_mean`` and ``level_effect_sd`` in place of ``level_effect``).

    Returns
    -------
    Priors

    Raises
    ------
    PriorSpecError
        For an unknown parameter, a prior with the wrong support, or a horseshoe on
        anything but the family's coefficient vector.
    SitefxInputError
        For ``varying_level_effect`` when the family has no treatment effect on a level.

    Examples
    --------
    >>> import sitefx
    >>> data = sitefx.load("studies/eight_schools").data
    >>> print(resolve_priors(data, {"tau": "half-cauchy(5)"}).tau)
    half-cauchy(5)
    """
    family = family_of(data)
    defaults = family.default_priors(data, robust=robust)
    if varying_level_effect:
        defaults = family.vary_level_effect(data, defaults)
    return apply_overrides(
        defaults,
        overrides,
        shrinkable=() if family.shrinkable is None else (family.shrinkable,),
        description=data.kind,
    )


def horseshoe_prior(
    data: StudyData,
    *,
    p0: float | None = None,
    slab_scale: float | None = None,
    slab_df: float | None = None,
) -> Prior:
    """Return the regularized horseshoe for ``data``'s covariates or moderators.

    See :func:`sitefx.models.priors.horseshoe` for the prior itself.

    Parameters
    ----------
    data : StudyData
        Canonical study data with at least two covariates (records) or moderators
        (summaries).
    p0, slab_scale, slab_df : float, optional
        The expected number of relevant columns (default a quarter, at least 1), the slab's
        scale (default the data scale) and degrees of freedom (4).

    Returns
    -------
    Prior
        For the family's coefficient vector (``family_of(data).shrinkable``:
        ``beta`` for covariates, ``gamma`` for moderators).

    Raises
    ------
    PriorSpecError
        If the family has no coefficient vector to shrink.

    Examples
    --------
    >>> from sitefx.testing import simulate_records
    >>> data, _ = simulate_records(10, 1000, n_covariates=8, seed=0)
    >>> print(horseshoe_prior(data, p0=2))
    horseshoe(0.013, 1.2, 4)
    """
    family = family_of(data)
    shrinkage = family.shrinkage(data)
    if shrinkage is None:
        raise PriorSpecError("the horseshoe applies to covariates (records) or moderators")
    return horseshoe(
        shrinkage.n_columns,
        target=family.shrinkable,
        n_obs=shrinkage.n_obs,
        scale=shrinkage.scale,
        p0=p0,
        slab_scale=slab_scale,
        slab_df=slab_df,
    )
