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

from sitefx import _jax

_jax.configure()

from sitefx.data import (  # noqa: E402
    DataAccounting,
    IndividualRecords,
    Roles,
    SiteSummaries,
    Study,
    load,
    load_study,
    read_table,
)
from sitefx.errors import (  # noqa: E402
    DataDropWarning,
    DataReadWarning,
    IgnoredOptionWarning,
    PriorSpecError,
    SamplingWarning,
    SitefxInputError,
    StudyDataError,
)
from sitefx.estimator import SiteEffects  # noqa: E402
from sitefx.models import Prior, Priors  # noqa: E402
from sitefx.report import (  # noqa: E402
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
