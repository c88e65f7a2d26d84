"""Shared fixtures: the bundled studies, their fits (session-scoped, since sampling is the slow
part; no test changes a fit) and the ``cli`` runner. The builders they use are in
tests/builders.py."""

import functools
import os
import tempfile
import warnings

import pytest

import sitefx
from tests.builders import bundled_study, run_cli


def pytest_configure(config):
    """Keep the compiled samplers of this run in a fresh cache folder, shared with the CLI
    subprocesses it starts, not in the user's cache (unless SITEFX_CACHE_DIR is set)."""
    os.environ.setdefault("SITEFX_CACHE_DIR", tempfile.mkdtemp(prefix="sitefx-test-cache-"))


@pytest.fixture(scope="session")
def eight_schools():
    return bundled_study("eight_schools")


@pytest.fixture(scope="session")
def eight_schools_fit(eight_schools):
    return sitefx.SiteEffects(method="nuts", chains=4, draws=2500, warmup=1000, seed=11).fit(
        eight_schools
    )


@pytest.fixture(scope="session")
def eight_schools_exact(eight_schools):
    """Eight schools with the exact (quadrature) posterior and the default priors."""
    return sitefx.SiteEffects(method="exact").fit(eight_schools)


@pytest.fixture(scope="session")
def star():
    with pytest.warns(sitefx.DataDropWarning):
        return bundled_study("star")


@pytest.fixture(scope="session")
def star_fit(star):
    return sitefx.SiteEffects(chains=4, draws=1000, warmup=1000, seed=3).fit(star)


@pytest.fixture(scope="session")
def bundled_fit():
    """``bundled_fit(name)``: the bundled study ``name`` fitted with the default settings and
    seed 5, fitted once per run, when first asked for (sampler warnings are reported, not
    under test here)."""

    @functools.cache
    def fit(name):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sitefx.DataDropWarning)
            warnings.simplefilter("ignore", sitefx.SamplingWarning)
            warnings.simplefilter("ignore", sitefx.IgnoredOptionWarning)  # warmup: NUTS only
            return sitefx.SiteEffects(seed=5).fit(bundled_study(name))

    return fit


@pytest.fixture
def cli(capsys):
    """Runs ``sitefx ARGUMENTS`` in process: ``cli("fit", folder, "--out", out)`` returns a
    CliRun with the exit code and what the command printed."""
    return functools.partial(run_cli, capsys)


@pytest.fixture
def x64():
    """JAX in float64 within the test, as sitefx's entry points run it (for tests that call
    lower-level JAX code directly; importing sitefx leaves JAX's precision alone)."""
    import jax

    with jax.enable_x64(True):
        yield
