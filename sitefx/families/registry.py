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
    """

    function: Callable
    arguments: dict
    name: str
    complete: Callable[[dict, int], None] | None = None


class Shrinkage(NamedTuple):
    """What the regularized horseshoe shrinks in a family's data.

    Attributes
    ----------
    target : str
        The coefficient vector: ``beta`` (covariates) or ``gamma`` (moderators).
    columns : ndarray, shape (n, n_columns)
        The columns the coefficients multiply.
    n_obs : int
        Records (or sites) informing them.
    scale : float
        The data's scale (or a pseudo-SD on the logit scale).
    """

    target: str
    columns: np.ndarray
    n_obs: int
    scale: float


class Family(Protocol):
    """What sitefx needs to know about one model family.

    Attributes
    ----------
    name : str
        The registry key (:data:`REGISTRY`).
    description : str
        The data in words, for messages (``"site summaries"``).
    data_kind : str
        The ``kind`` of the family's data, stored in a fit's ``data_kind`` attribute.
    compares_site_distributions : bool
        Whether fits with normal and with Student-t site effects both have per-site
        likelihoods, so that they can be compared (:func:`sitefx.sensitivity.compare_models`).
    """

    name: str
    description: str
    data_kind: str
    compares_site_distributions: bool

    def matches(self, data: object) -> bool:
        """Return whether ``data`` is this family's kind of data."""

    def check(self, data: StudyData, *, robust: bool, horseshoe: bool) -> None:
        """Raise :class:`SitefxInputError` for an option this family does not support."""

    def default_priors(self, data: StudyData, *, robust: bool) -> Priors:
        """Return the weakly informative default priors for ``data``."""

    def data_scale(self, data: StudyData) -> float:
        """Return the scale ``S`` of the default priors."""

    def shrinkage(self, data: StudyData) -> Shrinkage | None:
        """Return what the horseshoe would shrink, or None if nothing."""

    def exact_obstacle(self, data: StudyData, priors: Priors, *, robust: bool) -> str | None:
        """Return why the exact method cannot fit this model, or None if it can."""

    def model(
        self, data: StudyData, priors: Priors, *, collapse: bool, site_df: float | None
    ) -> Model:
        """Return the numpyro model for ``data`` and its arguments."""

    def data_groups(self, data: StudyData) -> tuple[dict, dict, dict]:
        """Return the DataTree's ``observed_data`` and ``constant_data`` and extra coords."""

    def simulation_obstacle(self, data: StudyData, *, robust: bool) -> str | None:
        """Return why :meth:`simulate` cannot simulate this design, or None if it can."""

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
        """Return data of ``data``'s design drawn from the priors, and the true values."""

    def per_site_obstacle(self, tree: xr.DataTree, data: StudyData | None) -> str | None:
        """Return why the fit ``tree`` has no per-site likelihood here, or None if it has."""

    def site_log_likelihood(self, tree: xr.DataTree, data: StudyData | None) -> np.ndarray:
        """Return each site's marginal log-likelihood per draw, shape (chain, draw, site)."""


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
