"""Files: every model family's posterior file reloads losslessly, and a fixed seed gives the
same file in a fresh process."""

import json
import subprocess
import sys

import pytest
import xarray as xr

import sitefx
from tests.builders import ARM_COUNTS_ROLES, REFERENCE, STUDIES

FEW_DRAWS = {"chains": 2, "draws": 100, "seed": 5, "progress": False}  # for exact fits
SHORT = FEW_DRAWS | {"warmup": 100}
FAMILIES = {
    "exact summaries with districts": (STUDIES / "school_calendar", {}, {"seed": 5}),
    "student-t summaries": (STUDIES / "eight_schools", {}, SHORT | {"site_dist": "student-t"}),
    "moderators": (STUDIES / "teacher_expectancy", {"moderators": ["weeks"]}, FEW_DRAWS),
    "arm counts": (REFERENCE / "binary_counts.csv", ARM_COUNTS_ROLES, SHORT),
    "binary records": (STUDIES / "reading_pass", {}, SHORT),
    "growth over waves": (STUDIES / "tutoring_growth", {}, SHORT),
    "records, classrooms, horseshoe": (
        STUDIES / "star",
        {},
        SHORT | {"covariate_prior": "horseshoe"},
    ),
}
STORED = {"sitefx_version", "software", "data_kind", "data_accounting", "sampler", "diagnostics"}


@pytest.mark.filterwarnings("ignore::sitefx.SamplingWarning")  # short chains, on purpose
@pytest.mark.filterwarnings("ignore::sitefx.DataDropWarning")  # STAR: reported, checked below
@pytest.mark.parametrize("family", FAMILIES, ids=list(FAMILIES))
def test_every_family_reloads_losslessly(family, tmp_path):
    source, roles, settings = FAMILIES[family]
    fit = sitefx.SiteEffects(**settings).fit(sitefx.load(source, **roles))
    original = fit.posterior_
    reloaded = sitefx.load_datatree(fit.save(tmp_path)["posterior"])
    assert set(reloaded.children) == set(original.children)
    for group in original.children:
        xr.testing.assert_identical(reloaded[group].to_dataset(), original[group].to_dataset())
    assert reloaded.attrs == original.attrs
    assert STORED <= set(original.attrs)
    assert {f"prior_{name}" for name in fit.priors_.as_strings()} <= set(original.attrs)
    accounting = json.loads(original.attrs["data_accounting"])
    assert accounting["rows_used"] == accounting["rows_read"] - accounting["rows_dropped"]
    assert list(reloaded["posterior"]["site"].values) == list(fit.data_.site)


def test_a_fixed_seed_gives_the_same_file_in_a_fresh_process(tmp_path):
    """Two separate processes, NUTS, the same seed: identical draws and summaries."""
    command = [sys.executable, "-m", "sitefx", "fit", str(STUDIES / "eight_schools")]
    command += ["--method", "nuts", "--draws", "200", "--warmup", "200", "--seed", "11"]
    command += ["--quiet"]
    for run in ("first", "second"):
        subprocess.run([*command, "--out", str(tmp_path / run)], check=True, capture_output=True)
    first, second = (
        sitefx.load_datatree(tmp_path / run / "posterior.nc") for run in ("first", "second")
    )
    for group in ("posterior", "sample_stats", "estimands"):
        xr.testing.assert_equal(first[group].to_dataset(), second[group].to_dataset())
    summaries = [(tmp_path / run / "summary.csv").read_text() for run in ("first", "second")]
    assert summaries[0] == summaries[1]
