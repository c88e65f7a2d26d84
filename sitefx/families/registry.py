"""The protocol every model family follows, and the registry that finds a data's family."""

from collections.abc import Callable
from typing import NamedTuple, Protocol

import numpy as np
import xarray as xr

from sitefx.data.schema import StudyData
from sitefx.errors import SitefxInputError
from sitefx.models.priors import Priors


class Model(NamedTuple):
    """A numpyro model ready to sample, and what completes its draws afterwards.

    Attributes
    ----------
    function : callable
        The numpyro model.
    arguments : dict
        Its keyword arguments (the data and the priors).
    name : str
        Its name in the fit's ``sampler`` attribute, e.g. ``normal_normal``.
    complete : callable or None
        ``complete(draws, seed)`` adds draws the model integrated out (the site effects of
        the collapsed model) to the dict of draws, in place.
    init : {"uniform", "median"}, default "uniform"
        Where NUTS starts its chains (:data:`sitefx.infer.nuts.INITS`).

    Examples
    --------
    >>> import sitefx
    >>> from sitefx.families import family_of, resolve_priors
    >>> data = sitefx.load("studies/eight_schools").data
    >>> model = family_of(data).model(data, resolve_priors(data), collapse=True, site_df=None)
    >>> model.name, sorted(model.arguments)[:3]
    ('normal_normal', ['estimate', 'levels', 'moderators'])
    """

    function: Callable
    arguments: dict
    name: str
    complete: Callable[[dict, int], None] | None = None
    init: str = "uniform"


class Shrinkage(NamedTuple):
    """What the regularized horseshoe shrinks in a family's data.

    Attributes
    ----------
    n_columns : int
        Number of columns the coefficients multiply (covariates or moderators).
    n_obs : int
        Records (or sites) informing them.
    scale : float
        The data's scale (or a pseudo-SD on the logit scale).

    Examples
    --------
    >>> from sitefx.families import family_of
    >>> from sitefx.testing import simulate_records
    >>> data, _ = simulate_records(10, 1000, n_covariates=8, seed=0)
    >>> family_of(data).shrinkage(data).n_columns
    8
    """

    n_columns: int
    n_obs: int
    scale: float


class Family(Protocol):
    """What sitefx needs to know about one model family.

    Family classes subclass this protocol, which documents each method once; a family is
    any object with these attributes and methods (:func:`register`).

    Examples
    --------
    >>> import sitefx
    >>> family = family_of(sitefx.load("studies/eight_schools").data)
    >>> family.data_kind, family.compares_site_distributions
    ('summaries', True)

    Attributes
    ----------
    name : str
        The registry key (:data:`REGISTRY`).
    description : str
        The data in words, for messages (``"site summaries"``).
    data_kind : str
        The ``kind`` of the family's data, stored in a fit's ``data_kind`` attribute.
    shrinkable : str or None
        The coefficient vector a horseshoe prior may take: ``beta`` (covariates) or
        ``gamma`` (moderators); None if none.
    compares_site_distributions : bool
        Whether fits with normal and with Student-t site effects both have per-site
        likelihoods, so that they can be compared (:func:`sitefx.sensitivity.compare_models`).
    effect_sizes : bool
        Whether effects divided by the outcome's SD are effect sizes (a continuous outcome),
        so that an outcome SD (``outcome_sd``, ``--outcome-sd``) applies; False on the
        log-odds scale. Optional: a family without it is taken to have them.
    """

    name: str
    description: str
    data_kind: str
    shrinkable: str | None
    compares_site_distributions: bool
    effect_sizes: bool

    def matches(self, data: object) -> bool:
        """Return whether ``data`` is this family's kind of data.

        Parameters
        ----------
        data : object
            Anything given to a fit.

        Returns
        -------
        bool
        """

    def check(self, data: StudyData, *, robust: bool, horseshoe: bool) -> None:
        """Refuse an option this family does not support.

        Parameters
        ----------
        data : StudyData
            The family's canonical data.
        robust : bool
            Student-t site effects asked for.
        horseshoe : bool
            The horseshoe prior asked for.

        Raises
        ------
        SitefxInputError
            Naming the option.
        """

    def default_priors(self, data: StudyData, *, robust: bool) -> Priors:
        """Return the weakly informative default priors for ``data``.

        Parameters
        ----------
        data : StudyData
            The family's canonical data.
        robust : bool
            Student-t site effects with learned degrees of freedom: add ``nu``'s prior.

        Returns
        -------
        Priors
        """

    def vary_level_effect(self, data: StudyData, priors: Priors) -> Priors:
        """Return ``priors`` with the treatment effect on the level varying across sites.

        Only the long-format growth model has a treatment effect on a level; the other
        families refuse.

        Parameters
        ----------
        data : StudyData
            The family's canonical data.
        priors : Priors
            The default priors.

        Returns
        -------
        Priors

        Raises
        ------
        SitefxInputError
            Naming ``--level-effect varying``.
        """
        raise SitefxInputError(
            "a treatment effect on the level that varies across sites (--level-effect varying) "
            "is for unbalanced repeated measures (the long-format growth model); "
            f"{self.description} have no effect on a level"
        )

    def data_scale(self, data: StudyData) -> float:
        """Return the scale ``S`` of the default priors.

        Parameters
        ----------
        data : StudyData
            The family's canonical data.

        Returns
        -------
        float
        """

    def shrinkage(self, data: StudyData) -> Shrinkage | None:
        """Return what the horseshoe would shrink: the :attr:`shrinkable` vector's columns.

        Parameters
        ----------
        data : StudyData
            The family's canonical data.

        Returns
        -------
        Shrinkage or None
            None if the family has no coefficients to shrink.
        """

    def exact_obstacle(self, data: StudyData, priors: Priors, *, robust: bool) -> str | None:
        """Return why the exact method cannot fit this model.

        Parameters
        ----------
        data : StudyData
            The family's canonical data.
        priors : Priors
            The model's priors (after any borrowing).
        robust : bool
            Student-t site effects.

        Returns
        -------
        str or None
            In words, or None if the exact method applies.
        """

    def model(
        self, data: StudyData, priors: Priors, *, collapse: bool, site_df: float | None
    ) -> Model:
        """Return the numpyro model for ``data``, its arguments, and what completes it.

        Parameters
        ----------
        data : StudyData
            The family's canonical data.
        priors : Priors
            The model's priors.
        collapse : bool
            Integrate out what can be (e.g. the site effects of Gaussian records).
        site_df : float or None
            Fixed degrees of freedom of Student-t site effects.

        Returns
        -------
        Model
        """

    def data_groups(self, data: StudyData) -> tuple[dict, dict, dict]:
        """Return the data as the fit's DataTree keeps it.

        Parameters
        ----------
        data : StudyData
            The family's canonical data.

        Returns
        -------
        observed : dict of str to ndarray
            The ``observed_data`` group.
        constant : dict of str to ndarray
            The ``constant_data`` group, with ``raw_estimate`` and ``raw_se`` per site.
        coords : dict of str to ndarray
            Coordinates beyond ``site`` (e.g. ``covariate``).
        """

    def simulation_obstacle(self, data: StudyData, *, robust: bool) -> str | None:
        """Return why :meth:`simulate` cannot simulate this design.

        Parameters
        ----------
        data : StudyData
            The family's canonical data.
        robust : bool
            Student-t site effects.

        Returns
        -------
        str or None
            In words, or None if it can.
        """

    def simulate(
        self,
        data: StudyData,
        priors: Priors,
        draw: Callable[..., np.ndarray | float],
        rng: np.random.Generator,
        *,
        site_df: float | None,
        robust: bool,
    ) -> tuple[StudyData, dict[str, np.ndarray]]:
        """Return data of ``data``'s design drawn from the priors, and the true values.

        Written from the model's definition, independently of its numpyro function, for
        simulation-based calibration (:mod:`sitefx.calibration`).

        Parameters
        ----------
        data : StudyData
            The family's canonical data.
        priors : Priors
            The priors to draw the parameters from.
        draw : callable
            ``draw(prior, size=None)`` draws from a prior.
        rng : numpy.random.Generator
            The replicate's stream.
        site_df : float or None
            Fixed degrees of freedom of Student-t site effects.
        robust : bool
            Student-t site effects.

        Returns
        -------
        simulated : StudyData
            ``data`` with its outcomes (estimates, counts) replaced.
        truth : dict of str to ndarray
            The true values, by parameter name.
        """

    def per_site_obstacle(self, tree: xr.DataTree, data: StudyData | None) -> str | None:
        """Return why the fit ``tree`` has no per-site likelihood here.

        Parameters
        ----------
        tree : xarray.DataTree
            A fit of this family.
        data : StudyData or None
            Its data, if at hand.

        Returns
        -------
        str or None
            In words, or None if it has.
        """

    def site_log_likelihood(self, tree: xr.DataTree, data: StudyData | None) -> np.ndarray:
        """Return each site's marginal log-likelihood per draw.

        The site's own effect is integrated out, so leaving a term out is leaving the site
        out (PSIS leave-one-site-out, power-scaling, model comparison).

        Parameters
        ----------
        tree : xarray.DataTree
            A fit of this family.
        data : StudyData or None
            Its data, if the family needs it.

        Returns
        -------
        ndarray, shape (chain, draw, site)
        """

    def predictive_groups(
        self, tree: xr.DataTree, data: StudyData, priors: Priors, seed: int
    ) -> dict[str, xr.Dataset]:
        """Return the fit's ``log_likelihood``, predictive and prior groups, by ArviZ name.

        Optional: a family that does not define it stores none of these groups.

        Parameters
        ----------
        tree : xarray.DataTree
            The fit, with its ``posterior`` and data groups.
        data : StudyData
            Its data.
        priors : Priors
            The priors it used.
        seed : int
            The fit's seed (replicated data come from its ``predictive`` stream).

        Returns
        -------
        dict of str to xarray.Dataset
            The groups this family stores with a fit; none by default.
        """
        return {}


REGISTRY: dict[str, Family] = {}


def register[F: Family](family: F) -> F:
    """Add ``family`` to the registry (under ``family.name``) and return it.

    Parameters
    ----------
    family : Family
        An instance of a class following :class:`Family`.

    Returns
    -------
    Family
        The same family.

    Examples
    --------
    A family is registered when its module is imported (see ``tests/test_families.py`` for
    a new one):

    >>> sorted(REGISTRY)  # doctest: +NORMALIZE_WHITESPACE
    ['arms', 'binary patterns', 'binary records', 'gaussian records', 'long growth', 'statistics',
     'summaries']
    """
    REGISTRY[family.name] = family
    return family


def family_of(data: object) -> Family:
    """Return the registered family whose data ``data`` is.

    Parameters
    ----------
    data : StudyData
        Canonical study data.

    Returns
    -------
    Family

    Raises
    ------
    SitefxInputError
        If no family fits ``data``.

    Examples
    --------
    >>> import sitefx
    >>> family_of(sitefx.load("studies/eight_schools").data).name
    'summaries'
    """
    for family in REGISTRY.values():
        if family.matches(data):
            return family
    kinds = ", ".join(family.description for family in REGISTRY.values())
    raise SitefxInputError(f"sitefx fits {kinds}; got {type(data).__name__}")


def family_of_fit(tree: xr.DataTree, data: StudyData | None = None) -> Family:
    """Return the family of a fit: from its ``data`` if given, else from its ``data_kind``.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit.
    data : StudyData, optional
        The fit's data (records need it for anything beyond the file).

    Returns
    -------
    Family

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> family_of_fit(fit.posterior_).name
    'summaries'
    """
    if data is not None:
        return family_of(data)
    kind = tree.attrs["data_kind"]
    return next(family for family in REGISTRY.values() if family.data_kind == kind)
