"""Shared fixtures: fitted models are session-scoped, since sampling is the slow part."""

from pathlib import Path

import arviz_stats as azs
import numpy as np
import pytest

import sitefx

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "studies"
REFERENCE = Path(__file__).resolve().parent / "reference"
# Column roles of the simulated arm counts in tests/reference/binary_counts.csv.
ARM_COUNTS_ROLES = {
    "site": "school",
    "events_treated": "pass_t",
    "n_treated": "n_t",
    "events_control": "pass_c",
    "n_control": "n_c",
}


@pytest.fixture(scope="session")
def eight_schools():
    return sitefx.load(STUDIES / "eight_schools")


@pytest.fixture(scope="session")
def eight_schools_fit(eight_schools):
    return sitefx.SiteEffects(method="nuts", chains=4, draws=2500, warmup=1000, seed=11).fit(
        eight_schools
    )


@pytest.fixture(scope="session")
def star():
    with pytest.warns(sitefx.DataDropWarning):
        return sitefx.load(STUDIES / "star")


@pytest.fixture(scope="session")
def star_fit(star):
    return sitefx.SiteEffects(chains=4, draws=1000, warmup=1000, seed=3).fit(star)


def assert_agrees_with_brms(fit, rows, *, z=4.0, sd_rtol=0.1):
    """Each reference row (``parameter``, ``mean``, ``sd``, ``mcse_mean``, as stored from brms)
    against the fit: means within ``z`` combined Monte-Carlo errors, SDs within ``sd_rtol``.
    Parameters may name an element, e.g. ``beta[female]``."""
    posterior = fit.posterior_["posterior"].to_dataset()
    table = fit.summary().set_index("parameter")
    for row in rows:
        name = row["parameter"]
        variable, _, element = name.partition("[")
        mcse = azs.mcse(posterior[[variable]], method="mean")[variable]
        if element:
            (dim,) = [d for d in mcse.dims]
            mcse = mcse.sel({dim: element.rstrip("]")})
        tolerance = z * np.hypot(float(mcse), row["mcse_mean"])
        assert abs(table.at[name, "mean"] - row["mean"]) < tolerance, name
        assert table.at[name, "sd"] == pytest.approx(row["sd"], rel=sd_rtol), name


def assert_same_posterior(fit_a, fit_b, names, *, z=4.5):
    """Two fits of the same posterior (e.g. collapsed and per-record models): the means of each
    variable in ``names`` (every element) agree within ``z`` combined Monte-Carlo errors."""
    a = fit_a.posterior_["posterior"].to_dataset()
    b = fit_b.posterior_["posterior"].to_dataset()
    for name in names:
        mcse = np.hypot(
            azs.mcse(a[[name]], method="mean")[name], azs.mcse(b[[name]], method="mean")[name]
        )
        difference = a[name].mean(("chain", "draw")) - b[name].mean(("chain", "draw"))
        np.testing.assert_array_less(np.abs(difference.values), z * mcse.values, err_msg=name)


@pytest.fixture
def x64():
    """JAX in float64 within the test, as sitefx's entry points run it (for tests that call
    lower-level JAX code directly; importing sitefx leaves JAX's precision alone)."""
    import jax

    with jax.enable_x64(True):
        yield
