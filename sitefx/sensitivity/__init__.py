"""Sensitivity analysis: whether a conclusion would change under other priors or without a site.

- :func:`prior_grid`: refits under a grid of priors for ``mu`` and ``tau`` and flags
  conclusions that flip;
- :func:`power_scaling`: prior and likelihood power-scaling sensitivity without refitting;
- :func:`leave_one_site_out`: each site's influence on ``mu`` and ``tau`` (exact refits or
  PSIS with refits where Pareto k > 0.7);
- :func:`compare_models`: PSIS leave-one-site-out comparison of fitted models;
- :func:`~sitefx.sensitivity.files.write_sensitivity`: all of them as files in a folder.
"""

from sitefx.sensitivity.comparison import compare_models, site_loo
from sitefx.sensitivity.grid import PriorGrid, default_alternatives, prior_grid
from sitefx.sensitivity.influence import leave_one_site_out
from sitefx.sensitivity.plots import influence_plot, prior_grid_plot
from sitefx.sensitivity.power import power_scaling

__all__ = [
    "PriorGrid",
    "compare_models",
    "default_alternatives",
    "influence_plot",
    "leave_one_site_out",
    "power_scaling",
    "prior_grid",
    "prior_grid_plot",
    "site_loo",
]
