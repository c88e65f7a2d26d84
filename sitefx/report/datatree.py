"""Posterior draws + data -> ArviZ DataTree following the output contract; save and load.

Groups: ``posterior``, ``sample_stats``, ``observed_data``, ``constant_data``. The ``site``
coordinate holds the real site names. Root attributes carry the prior specs (``prior_mu``,
``prior_tau``, ...), the data accounting, the sampler settings and diagnostics (JSON strings,
since NetCDF attributes are flat) and the sitefx version.
"""

import contextlib
import importlib.util
import io
import json
import platform
from importlib.metadata import version
from pathlib import Path

import numpy as np
import xarray as xr

from sitefx.backend import arviz_base as azb
from sitefx.data.schema import StudyData
from sitefx.errors import StudyDataError
from sitefx.infer.exact import DIMS as EXACT_DIMS
from sitefx.models.priors import Priors

# Contract variables in summary order, with their dims; anything else sampled is internal.
POSTERIOR_DIMS = {
    "mu": [],
    "tau": [],
    "theta": ["site"],
    "theta_new": [],
    "gamma": ["moderator"],
    "nu": [],
    "variance_explained": [],
    "alpha_mean": [],
    "alpha_sd": [],
    "alpha": ["site"],
    "beta": ["covariate"],
    "sigma": [],
    "rho": [],
    "gamma_alpha": ["moderator"],
    "kappa_beta": ["covariate"],
    "kappa_gamma": ["moderator"],
    "cluster_sd": [],
    "a0": [],
    "risk_difference": ["site"],
    "growth_mean": [],
    "growth_sd": [],
    "growth": ["site"],
    "level_effect": [],
    "level_effect_mean": [],
    "level_effect_sd": [],
    "level_effect_site": ["site"],
    "person_sd": [],
    "person_growth_sd": [],
    "person_rho": [],
    "shift_mean": [],
    "shift_sd": [],
    "shift": ["site"],
    "level_difference": [],
    "trend_difference": [],
}
NETCDF_ENGINE = "h5netcdf"


def build_datatree(
    draws: dict[str, np.ndarray],
    sample_stats: dict[str, np.ndarray],
    *,
    data: StudyData,
    data_groups: tuple[dict, dict, dict],
    priors: Priors,
    attrs: dict[str, object],
) -> xr.DataTree:
    """Assemble the contract DataTree from draws shaped (chain, draw, ...).

    Only the contract variables (:data:`POSTERIOR_DIMS`, and each nesting level's
    ``tau_<level>``, ``alpha_sd_<level>``, ``theta_<level>``) enter the ``posterior`` group;
    the data family decides the ``observed_data`` and ``constant_data`` groups.

    Parameters
    ----------
    draws : dict of str to ndarray
        Posterior draws, each shaped (chain, draw, ...), e.g. from
        :func:`~sitefx.infer.nuts.run_nuts`.
    sample_stats : dict of str to ndarray
        Sampler statistics shaped (chain, draw) (may be empty).
    data : StudyData
        The data fitted: site names, moderators, levels, units and accounting.
    data_groups : tuple of dict
        The family's ``observed_data``, ``constant_data`` and extra coords
        (:meth:`sitefx.families.Family.data_groups`).
    priors : Priors
        The priors used, stored as ``prior_<name>`` root attributes.
    attrs : dict
        Extra root attributes (JSON-encoded when not str or number).

    Returns
    -------
    xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``observed_data``, ``constant_data``; the
        ``site`` coordinate holds the site names.

    Examples
    --------
    >>> import numpy as np, sitefx
    >>> from sitefx.families import family_of
    >>> from sitefx.models.priors import Prior, Priors
    >>> data = sitefx.load("studies/eight_schools").data
    >>> priors = Priors(mu=Prior.parse("normal(0, 50)"), tau=Prior.parse("half-cauchy(5)"))
    >>> rng = np.random.default_rng(0)
    >>> draws = {"mu": rng.normal(size=(2, 10)), "tau": rng.exponential(size=(2, 10)),
    ...          "theta": rng.normal(size=(2, 10, 8))}
    >>> groups = family_of(data).data_groups(data)
    >>> tree = build_datatree(draws, {}, data=data, data_groups=groups, priors=priors,
    ...                       attrs={"method": "demo"})
    >>> tree["posterior"]["theta"].dims, tree.attrs["prior_tau"]
    (('chain', 'draw', 'site'), 'half-cauchy(5)')
    """
    observed, constant, family_coords = data_groups
    coords: dict[str, object] = {"site": np.array(data.site, dtype=str), **family_coords}
    posterior_dims, data_dims = dict(POSTERIOR_DIMS), dict(_DATA_DIMS)
    for level in getattr(data, "levels", ()):  # upper nesting levels: districts, ...
        level_posterior, level_data = _level_dims(level.name)
        posterior_dims |= level_posterior
        data_dims |= level_data
        coords[level.name] = np.array(level.groups, dtype=str)
        constant[f"site_{level.name}"] = coords[level.name][level.index]
    posterior = {name: draws[name] for name in posterior_dims if name in draws}
    if getattr(data, "moderator_names", ()):
        coords["moderator"] = np.array(data.moderator_names, dtype=str)
        constant["moderators"] = data.moderators
    root_attrs = {
        "sitefx_version": version("sitefx"),
        "software": software_versions(),
        "data_kind": data.kind,
        "units": data.units,
        "data_accounting": data.accounting.to_dict(),
        **{f"prior_{name}": spec for name, spec in priors.as_strings().items()},
        **attrs,
    }
    tree = azb.from_dict(
        {
            "posterior": posterior,
            "sample_stats": sample_stats,
            "observed_data": observed,
            "constant_data": constant,
        },
        coords=coords,
        dims=posterior_dims | data_dims,
    )
    tree.attrs = {key: _attr(value) for key, value in root_attrs.items()}
    return tree


_DATA_DIMS = {
    "estimate": ["site"],
    "se": ["site"],
    "n": ["site"],
    "moderators": ["site", "moderator"],
    "raw_estimate": ["site"],
    "raw_se": ["site"],
    "outcome": ["record"],
    "events_treated": ["site"],
    "events_control": ["site"],
    "n_treated": ["site"],
    "n_control": ["site"],
    "treatment": ["record"],
    "site_index": ["record"],
    "covariate_mean": ["covariate"],
    "mean_treated": ["site"],
    "mean_control": ["site"],
    "wave": ["record"],
    "person_index": ["record"],
    "wave_centre": [],
    "interruption": ["record"],
}


# Every dimension of a fit's DataTree, the exact group's included; each nesting level adds
# its own (see _level_dims).
DIMENSIONS = (
    "chain",
    "draw",
    *dict.fromkeys(
        dim for dims in [*POSTERIOR_DIMS.values(), *_DATA_DIMS.values()] for dim in dims
    ),
    *EXACT_DIMS,
)


def _level_dims(name: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Return the variables a nesting level adds, with their dims.

    To the posterior: the level's SDs and group effects; to the data: each site's group.
    """
    posterior = {f"tau_{name}": [], f"alpha_sd_{name}": [], f"theta_{name}": [name]}
    return posterior, {f"site_{name}": ["site"]}


def check_names(data: StudyData) -> None:
    """Refuse column names that would clash in the fit's DataTree.

    Moderator, covariate and nesting-level columns may not be named like a dimension of the
    fit's DataTree (:data:`DIMENSIONS`: ``chain``, ``draw``, ``site``, ...), nor nesting
    levels so that their variables take another variable's name (a level ``new`` would make
    ``theta_new``, the effect in a new site).

    Parameters
    ----------
    data : SiteSummaries, ArmSummaries or IndividualRecords
        The data to be fitted.

    Raises
    ------
    StudyDataError
        Naming the column and the option that set it.

    Examples
    --------
    >>> import sitefx
    >>> check_names(sitefx.load("studies/school_calendar").data)  # level 'district': fine
    """
    levels = [level.name for level in getattr(data, "levels", ())]
    columns = {
        "moderator": ("--moderators", getattr(data, "moderator_names", ())),
        "covariate": ("--covariates", getattr(data, "covariate_names", ())),
        "nesting level": ("--levels", levels),
    }
    for role, (flag, names) in columns.items():
        for name in names:
            if name in DIMENSIONS:
                raise StudyDataError(
                    f"the {role} column '{name}' ({flag}) is named like a dimension of the "
                    f"fit ({', '.join(DIMENSIONS)}); rename the column"
                )
    variables = POSTERIOR_DIMS.keys() | _DATA_DIMS.keys()
    for name in levels:
        clash = sorted(variables & set().union(*_level_dims(name)))
        if clash:
            raise StudyDataError(
                f"the nesting level column '{name}' (--levels) would add the variable "
                f"{clash[0]}, which the fit already has; rename the column"
            )


SOFTWARE = ("sitefx", "numpyro", "jax", "numpy", "scipy", "pandas", "xarray", "arviz-base")


def software_versions() -> dict[str, str]:
    """Return the versions of Python and of the packages that compute a fit.

    Returns
    -------
    dict of str to str
        ``python`` and each package of :data:`SOFTWARE` (sitefx, numpyro, jax, ...).

    Examples
    --------
    >>> sorted(software_versions())[:3]
    ['arviz-base', 'jax', 'numpy']
    """
    return {"python": platform.python_version()} | {name: version(name) for name in SOFTWARE}


def _attr(value: object) -> str | int | float:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return value
    return json.dumps(value)


def save_datatree(tree: xr.DataTree, path: str | Path) -> Path:
    """Write the DataTree to NetCDF (reload with :func:`load_datatree`).

    The file is built in memory and then written by Python: a full disk or a permission
    error is then an ordinary ``OSError``, whereas HDF5 failing mid-write leaves its library
    in a state that crashes the process when it exits.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit.
    path : str or Path
        The file to write (replaced if it exists), e.g. ``out/posterior.nc``.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_datatree(fit.posterior_, Path(folder) / "posterior.nc")
    ...     reloaded = load_datatree(path)
    >>> reloaded["posterior"]["theta"].sizes["site"]
    8
    """
    path = Path(path)
    buffer = io.BytesIO()
    with _local_write_lock():
        tree.to_netcdf(buffer, engine=NETCDF_ENGINE)
    path.write_bytes(buffer.getbuffer())
    return path


def _local_write_lock() -> contextlib.AbstractContextManager:
    """Have xarray lock this write locally, also on a dask worker.

    xarray locks writes through dask's scheduler when dask is installed; a distributed lock
    cannot name an in-memory file, so the write uses the synchronous scheduler's lock.
    Without dask (an optional dependency) xarray locks locally anyway.
    """
    if importlib.util.find_spec("dask") is None:
        return contextlib.nullcontext()
    import dask

    return dask.config.set(scheduler="synchronous")


def load_datatree(path: str | Path) -> xr.DataTree:
    """Load a saved fit fully into memory (the file is closed afterwards).

    Parameters
    ----------
    path : str or Path
        A file written by :func:`save_datatree`.

    Returns
    -------
    xarray.DataTree
        The fit, with every group and attribute.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(seed=1).fit(sitefx.load("studies/eight_schools"))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     tree = load_datatree(save_datatree(fit.posterior_, Path(folder) / "fit.nc"))
    >>> tree["posterior"]["site"].values.tolist()[:2]
    ['A', 'B']
    """
    with xr.open_datatree(path, engine=NETCDF_ENGINE) as tree:
        return tree.load()
