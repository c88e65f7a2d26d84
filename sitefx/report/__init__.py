"""Reporting: DataTree output, tables, plots and the HTML / Markdown report."""

from sitefx.report.datatree import build_datatree, load_datatree, save_datatree
from sitefx.report.document import headline_sentences, write_report
from sitefx.report.plots import (
    forest_plot,
    predictive_plot,
    prior_posterior_plot,
    rank_plot,
    shrinkage_plot,
)
from sitefx.report.tables import (
    SUMMARY_COLUMNS,
    estimand_table,
    format_table,
    site_table,
    summary_table,
)

__all__ = [
    "SUMMARY_COLUMNS",
    "build_datatree",
    "estimand_table",
    "forest_plot",
    "format_table",
    "headline_sentences",
    "load_datatree",
    "predictive_plot",
    "prior_posterior_plot",
    "rank_plot",
    "save_datatree",
    "shrinkage_plot",
    "site_table",
    "summary_table",
    "write_report",
]
