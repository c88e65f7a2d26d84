"""Reporting: DataTree output, tables, plots and the HTML / Markdown report."""

from sitefx.report.datatree import build_datatree, load_datatree, save_datatree
from sitefx.report.document import headline_sentences, write_report
from sitefx.report.figures import moderator_plot
from sitefx.report.folders import read_fit
from sitefx.report.forest import forest_plot
from sitefx.report.numbers import summary_text
from sitefx.report.plots import (
    predictive_plot,
    prior_posterior_plot,
    rank_plot,
    shrinkage_plot,
)
from sitefx.report.tables import (
    SUMMARY_COLUMNS,
    Results,
    estimand_table,
    site_table,
    summary_table,
)

__all__ = [
    "SUMMARY_COLUMNS",
    "Results",
    "build_datatree",
    "estimand_table",
    "forest_plot",
    "headline_sentences",
    "load_datatree",
    "moderator_plot",
    "predictive_plot",
    "prior_posterior_plot",
    "rank_plot",
    "read_fit",
    "save_datatree",
    "shrinkage_plot",
    "site_table",
    "summary_table",
    "summary_text",
    "write_report",
]
