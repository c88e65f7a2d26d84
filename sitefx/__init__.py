"""sitefx: how much an intervention worked, in which sites, and how sure we can be.

Bayesian hierarchical models of site-varying treatment effects (numpyro), with study
adapters, partial pooling, and reports.

Importing sitefx is cheap and changes nothing: each name below is imported from its module
the first time it is used (so ``sitefx --help`` needs no JAX), and JAX is set up only when a
fit runs (:mod:`sitefx.backend`).

Examples
--------
>>> import sitefx
>>> study = sitefx.load("studies/eight_schools")
>>> fit = sitefx.SiteEffects(seed=0).fit(study)  # doctest: +SKIP
>>> fit.summary()  # doctest: +SKIP
"""

import importlib

# Public name -> the module that defines it.
_EXPORTS = {
    "DataAccounting": "sitefx.data",
    "IndividualRecords": "sitefx.data",
    "Roles": "sitefx.data",
    "SiteSummaries": "sitefx.data",
    "Study": "sitefx.data",
    "load": "sitefx.data",
    "load_study": "sitefx.data",
    "read_table": "sitefx.data",
    "DataDropWarning": "sitefx.errors",
    "DataReadWarning": "sitefx.errors",
    "IgnoredOptionWarning": "sitefx.errors",
    "PriorSpecError": "sitefx.errors",
    "SamplingWarning": "sitefx.errors",
    "SitefxInputError": "sitefx.errors",
    "StudyDataError": "sitefx.errors",
    "SiteEffects": "sitefx.estimator",
    "open_fit": "sitefx.estimator",
    "ModelSpec": "sitefx.spec",
    "Prior": "sitefx.models.priors",
    "Priors": "sitefx.models.priors",
    "estimand_table": "sitefx.report",
    "forest_plot": "sitefx.report",
    "load_datatree": "sitefx.report",
    "read_fit": "sitefx.report",
    "site_table": "sitefx.report",
    "summary_table": "sitefx.report",
    "write_report": "sitefx.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    """Import a public name, or a submodule, on first use (PEP 562)."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module 'sitefx' has no attribute '{name}'") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
