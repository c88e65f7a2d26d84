"""Small-study and publication bias in meta-analyses of study summaries.

:func:`fit_bias` fits the no-bias, step-selection, PET and PEESE models and averages them
(:mod:`sitefx.bias.models`); :func:`bias_table` and :func:`bias_sentences` say what they
find; :func:`funnel_plot` draws the studies against their standard errors
(:mod:`sitefx.bias.plots`); :func:`write_bias` writes it all next to a saved fit
(:mod:`sitefx.bias.files`).
"""

from sitefx.bias.files import bias_sentences, write_bias
from sitefx.bias.models import DEFAULT_CUTS, BiasFit, bias_table, fit_bias
from sitefx.bias.plots import funnel_plot

__all__ = [
    "DEFAULT_CUTS",
    "BiasFit",
    "bias_sentences",
    "bias_table",
    "fit_bias",
    "funnel_plot",
    "write_bias",
]
