"""The bundled simulated studies load with their study.toml roles and recover their known
truth (truth.csv, written by each study's prepare.py)."""

import tomllib

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import sitefx
from tests.builders import STUDIES, bundled_study


@pytest.mark.parametrize("name", ["tutoring_growth", "reading_pass"])
def test_simulated_study_recovers_its_truth(name):
    folder = STUDIES / name
    truth = tomllib.loads((folder / "study.toml").read_text())["truth"]
    fit = sitefx.SiteEffects(seed=1).fit(bundled_study(name))
    table = fit.summary().set_index("parameter")
    for parameter, value in truth.items():
        z = (table.at[parameter, "mean"] - value) / table.at[parameter, "sd"]
        assert abs(z) < 3.5, (parameter, z)
    theta = pd.read_csv(folder / "truth.csv").set_index("school")["theta"]
    theta = xr.DataArray(theta.to_numpy(), coords={"site": theta.index.to_numpy()})
    draws = fit.posterior_["posterior"]["theta"]
    inside = (draws.quantile(0.025, ("chain", "draw")) < theta) & (
        theta < draws.quantile(0.975, ("chain", "draw"))
    )
    assert float(inside.mean()) > 0.8
    assert fit.warnings_ == [] and np.isfinite(table["mean"]).all()
