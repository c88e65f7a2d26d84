"""The files of ``sitefx bias`` and the report section read from them.

``sitefx bias DIR`` (:func:`sitefx.bias.write_bias`) writes these files into a fit's folder;
``sitefx report DIR`` then adds a section on small-study and publication bias: what the
models say in plain words (kept in ``bias.nc``), the table of models and the contour-enhanced
funnel plot.
"""

import json
from pathlib import Path

import xarray as xr

from sitefx.report.datatree import NETCDF_ENGINE

FILES = {
    "table": "bias.csv",
    "funnel": "funnel.png",
    "funnel_contour": "funnel_contour.png",
    "models": "bias.nc",
}
SENTENCES = "sentences"  # the bias.nc attribute holding what the models say, in plain words


def describe_bias(out_dir: str | Path) -> list[str]:
    """Return what the bias models in ``out_dir`` say, in plain words.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        A folder written by ``sitefx bias``.

    Returns
    -------
    list of str
        The sentences of :func:`sitefx.bias.bias_sentences`, kept in ``bias.nc``; empty
        without the file.

    Examples
    --------
    >>> describe_bias("studies/teacher_expectancy")
    []
    """
    path = Path(out_dir) / FILES["models"]
    if not path.is_file():
        return []
    with xr.open_datatree(path, engine=NETCDF_ENGINE) as models:  # the attributes, not draws
        return json.loads(models.attrs.get(SENTENCES, "[]"))
