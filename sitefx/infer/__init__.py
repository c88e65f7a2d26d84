"""Inference: NUTS runner and diagnostics."""

from sitefx.infer.diagnostics import check_diagnostics
from sitefx.infer.nuts import SamplerSettings, run_nuts

__all__ = ["SamplerSettings", "check_diagnostics", "run_nuts"]
