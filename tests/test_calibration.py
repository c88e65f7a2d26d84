"""Simulation-based calibration (Talts et al. 2018) of every model family.

The default run calibrates the exact method (independent draws, 200 replicates in seconds),
checks the simulators against prior-predictive closed forms, and shows that a mismatch
between the simulating and the fitted prior is caught. The ``slow`` suite calibrates each
family (100 replicates on two dask workers) and writes its table to
``out/calibration/summary.csv`` (run with ``-m slow``).
Every check uses a fixed seed, so its outcome never varies from run to run; the thresholds
(a uniformity p-value above 0.001, coverage within 4 standard errors) are then
false-alarm rates of that size, not flakiness.
"""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sitefx
from sitefx import calibration
from sitefx.calibration import calibrate, simulate
from sitefx.estimator import model_priors
from sitefx.models.priors import Prior
from sitefx.parallel import Workers
from sitefx.testing import simulate_binary_records, simulate_records
from tests.builders import ARM_COUNTS_ROLES, REFERENCE, STUDIES, bundled_study

OUT = Path(__file__).resolve().parents[1] / "out" / "calibration"
MIN_P = 0.001
MAX_Z = 4.0


def assert_calibrated(result: calibration.Calibration) -> pd.DataFrame:
    summary = result.summary().set_index("parameter")
    assert (summary["uniformity_p"] > MIN_P).all(), summary
    for level in calibration.LEVELS:
        name = f"coverage_{level:.0%}"
        z = (summary[name] - level) / summary[f"{name}_se"]
        assert (z.abs() < MAX_Z).all(), summary
    return summary


def test_the_exact_method_is_calibrated(eight_schools):
    data = eight_schools.data
    result = calibrate(sitefx.SiteEffects(), data, replicates=200, seed=3)
    summary = assert_calibrated(result)
    assert summary["replicates"].tolist() == [200, 200, 200]
    assert len(result.ranks) == 200 * (1 + 1 + 8)
    assert result.ranks["rank"].between(0, result.n_draws).all()


def test_a_prior_mismatch_is_caught(monkeypatch, eight_schools):
    """Simulating with tau five times wider than the fitted prior: the fit's intervals for
    tau miss, and its ranks pile up at the top."""
    data = eight_schools.data
    default_tau = model_priors(sitefx.SiteEffects().spec, data)[1].tau
    wide = Prior("half-normal", (5 * default_tau.params[0],))

    def mismatched(data, priors, rng, **options):
        return simulate(data, dataclasses.replace(priors, tau=wide), rng, **options)

    monkeypatch.setattr(calibration, "simulate", mismatched)
    summary = calibrate(sitefx.SiteEffects(), data, replicates=100, seed=3).summary()
    tau = summary.set_index("parameter").loc["tau"]
    assert tau["uniformity_p"] < 1e-6
    assert tau["coverage_90%"] < 0.9 - MAX_Z * tau["coverage_90%_se"]


def test_simulated_summaries_have_the_prior_predictive_variance(eight_schools):
    """``estimate = mu + tau e + se u``: var = s_mu^2 + E[tau^2] + se^2, and E[tau^2] = S^2
    for tau ~ half-normal(S)."""
    data = eight_schools.data
    priors = model_priors(sitefx.SiteEffects().spec, data)[1]
    rng = np.random.default_rng(0)
    estimates = np.array([simulate(data, priors, rng)[0].estimate for _ in range(4000)])
    expected = priors.mu.params[1] ** 2 + priors.tau.params[0] ** 2 + data.se**2
    np.testing.assert_allclose(estimates.var(axis=0), expected, rtol=0.08)


def test_simulated_records_keep_the_design_and_follow_the_truth():
    data, _ = simulate_records(6, 600, n_covariates=2, clusters_per_site=4, seed=2)
    priors = model_priors(sitefx.SiteEffects().spec, data)[1]
    simulated, truth = simulate(data, priors, np.random.default_rng(4))
    assert simulated.site_index is data.site_index and simulated.treatment is data.treatment
    gaps = [
        simulated.outcome[(data.site_index == j) & (data.treatment == 1)].mean()
        - simulated.outcome[(data.site_index == j) & (data.treatment == 0)].mean()
        for j in range(6)
    ]
    assert np.corrcoef(gaps, truth["theta"])[0, 1] > 0.8


def test_calibrate_command_writes_its_files(tmp_path, cli):
    out = tmp_path / "calibration"
    run = cli("calibrate", STUDIES / "eight_schools", "--replicates", "5", "--out", out, "--quiet")
    assert run.code == 0
    assert "uniformity_p" in run.out
    summary = pd.read_csv(out / "calibration_summary.csv")
    assert summary["parameter"].tolist() == ["mu", "tau", "theta"]
    assert (out / "calibration.png").stat().st_size > 10_000
    assert len(pd.read_csv(out / "calibration_ranks.csv")) == 5 * 10


def test_calibrate_refuses_what_it_cannot_simulate(cli):
    borrowing = ["--historical", STUDIES / "teacher_expectancy", "--borrow", "map"]
    arguments = ["calibrate", STUDIES / "school_calendar", "--replicates", "2"]
    run = cli(*arguments, *borrowing, "--out", "unused", "--quiet")
    assert run.code == 2
    assert "calibration does not simulate historical borrowing" in run.err


# The slow suite: every NUTS family, 100 replicates each.
NUTS = {"chains": 2, "draws": 500, "warmup": 500}
WORKERS = 2  # replicates on a local dask cluster: one per core here


def _design(name: str):
    match name:
        case "normal summaries (NUTS)":
            return bundled_study("eight_schools").data, {"method": "nuts"}
        case "student-t summaries, learned nu":
            return bundled_study("teacher_expectancy").data, {"site_dist": "student-t"}
        case "three-level summaries":
            return bundled_study("school_calendar").data, {}
        case "meta-regression (exact)":
            return bundled_study("teacher_expectancy", moderators=["weeks"]).data, {}
        case "arm counts":
            return sitefx.load(REFERENCE / "binary_counts.csv", **ARM_COUNTS_ROLES).data, {}
        case "gaussian records, covariates, classrooms":
            data, _ = simulate_records(12, 480, n_covariates=2, clusters_per_site=4, seed=1)
            return data, {}
        case "binary records, covariates":
            return simulate_binary_records(12, 480, n_covariates=1, seed=1)[0], {}


SLOW_FAMILIES = [
    "normal summaries (NUTS)",
    "student-t summaries, learned nu",
    "three-level summaries",
    "meta-regression (exact)",
    "arm counts",
    "gaussian records, covariates, classrooms",
    "binary records, covariates",
]


@pytest.fixture(scope="module")
def summary_file():
    """``out/calibration/summary.csv``, started afresh; each family appends its rows when
    it finishes, so an interrupted run keeps what it measured."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "summary.csv"
    path.unlink(missing_ok=True)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("family", SLOW_FAMILIES)
def test_each_family_is_calibrated(family, summary_file):
    data, options = _design(family)
    model = sitefx.SiteEffects(**NUTS | options)
    result = calibrate(model, data, replicates=100, seed=11, workers=Workers(n=WORKERS))
    summary = result.summary().assign(family=family)
    summary.to_csv(summary_file, mode="a", header=not summary_file.exists(), index=False)
    result.plot().savefig(OUT / f"{family.split(' (')[0].replace(' ', '_')}.png", dpi=110)
    assert_calibrated(result)
