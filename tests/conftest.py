"""Shared fixtures: fitted models are session-scoped, since sampling is the slow part."""

from pathlib import Path

import pytest

import sitefx

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "studies"
REFERENCE = Path(__file__).resolve().parent / "reference"


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
