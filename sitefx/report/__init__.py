"""Reporting: DataTree output, summary tables and plots."""

from sitefx.report.datatree import build_datatree, load_datatree, save_datatree
from sitefx.report.plots import forest_plot
from sitefx.report.tables import SUMMARY_COLUMNS, format_table, summary_table

__all__ = [
    "SUMMARY_COLUMNS",
    "build_datatree",
    "forest_plot",
    "format_table",
    "load_datatree",
    "save_datatree",
    "summary_table",
]
