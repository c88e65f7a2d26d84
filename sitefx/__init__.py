"""sitefx: how much an intervention worked, in which sites, and how sure we can be.

Bayesian hierarchical models of site-varying treatment effects (numpyro), with study
adapters, partial pooling, and reports.

Examples
--------
>>> import sitefx
>>> study = sitefx.load("studies/eight_schools")
>>> fit = sitefx.SiteEffects(seed=0).fit(study)  # doctest: +SKIP
>>> fit.summary()  # doctest: +SKIP
"""

from sitefx.data import (
    DataAccounting,
    IndividualRecords,
    Roles,
    SiteSummaries,
    Study,
    load,
    load_study,
    read_table,
)
from sitefx.errors import (
    DataDropWarning,
    DataReadWarning,
    IgnoredOptionWarning,
    PriorSpecError,
    SamplingWarning,
    SitefxInputError,
    StudyDataError,
)
from sitefx.estimator import SiteEffects
from sitefx.models import Prior, Priors
from sitefx.report import (
    estimand_table,
    forest_plot,
    load_datatree,
    read_fit,
    site_table,
    summary_table,
    write_report,
)

__all__ = [
    "DataAccounting",
    "DataDropWarning",
    "DataReadWarning",
    "IgnoredOptionWarning",
    "IndividualRecords",
    "Prior",
    "PriorSpecError",
    "Priors",
    "Roles",
    "SamplingWarning",
    "SiteEffects",
    "SiteSummaries",
    "SitefxInputError",
    "Study",
    "StudyDataError",
    "estimand_table",
    "forest_plot",
    "load",
    "load_datatree",
    "load_study",
    "read_fit",
    "read_table",
    "site_table",
    "summary_table",
    "write_report",
]
