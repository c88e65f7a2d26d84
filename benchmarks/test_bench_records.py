"""S3 and S4 (individual records): the collapsed model against the per-row model.

* S3 (100k students, 100 sites, 10 covariates): collapsed NUTS vs per-row NUTS (the naive
  baseline, run shorter: see :func:`harness.per_row_settings`), compared by ESS per second;
  lme4 (through ``Rscript``) and statsmodels' MixedLM as frequentist time references.
* S4 (1M students, 1,000 sites, 20 covariates): the collapsed fit only, in a fresh process
  for its peak memory, next to S3 run the same way.
* The cost of one gradient evaluation, per site and per student.
"""

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from harness import (
    ESS_RATIO_TARGET,
    FIXED_COST_RUN,
    FULL_RUN,
    GRADIENT_STEPS,
    RECORDS_SCENARIOS,
    S3,
    fit_metrics,
    fit_site_effects,
    gradient_loop,
    per_row_settings,
    records_frame,
    rscript_with,
    run_collapsed_in_subprocess,
    run_r,
    truth_floats,
)

COLLAPSED = "collapsed NUTS (sufficient statistics)"
PER_ROW = "per-row NUTS (naive baseline)"


@pytest.fixture(scope="module")
def s3():
    """S3's records and their true mu and tau."""
    data, truth = S3.simulate()
    return data, truth_floats(truth)


def test_collapsed_s3(benchmark, s3, jax_warm) -> None:
    """Collapsed model with sitefx's default run (4 chains x 1000/1000)."""
    data, truth = s3
    fit = benchmark.pedantic(fit_site_effects, args=(data,), kwargs=FULL_RUN, rounds=2)
    metrics = fit_metrics(fit, truth)
    benchmark.extra_info.update(
        scenario=S3.label,
        method=COLLAPSED,
        baseline=PER_ROW,
        ratios=["ess_per_s"],
        target_ratio=ESS_RATIO_TARGET,
        **metrics,
        notes=_run_notes(FULL_RUN, metrics),
    )


def test_collapsed_fixed_cost_s3(benchmark, s3, jax_warm) -> None:
    """Collapsed model with 10 warm-up and 10 draws per chain: the fixed cost of a fit."""
    data, _ = s3
    benchmark.pedantic(fit_site_effects, args=(data,), kwargs=FIXED_COST_RUN, rounds=2)
    benchmark.extra_info.update(
        scenario=S3.label,
        method="collapsed NUTS: 4 chains x 10/10",
        notes="fixed cost of a collapsed fit (statistics, tracing, XLA compilation, set-up, "
        "site effects, output); not a usable fit",
    )


def test_per_row_s3(benchmark, s3, jax_warm) -> None:
    """Per-row model: every student's likelihood term at every leapfrog step."""
    data, truth = s3
    settings = per_row_settings()
    fit = benchmark.pedantic(
        fit_site_effects, args=(data,), kwargs={"collapse": False, **settings}, rounds=1
    )
    metrics = fit_metrics(fit, truth)
    benchmark.extra_info.update(
        scenario=S3.label, method=PER_ROW, **metrics, notes=_run_notes(settings, metrics)
    )


def test_lme4_s3(benchmark, s3) -> None:
    """lme4's REML fit of ``y ~ t + x1..x10 + (1 + t | site)``; only ``lmer()`` is timed."""
    rscript = rscript_with("lme4", "jsonlite")
    if rscript is None:
        pytest.skip("Rscript with lme4 and jsonlite not found: lme4 reference skipped")
    data, truth = s3
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "records.csv"
        records_frame(data).to_csv(path, index=False)
        result = benchmark.pedantic(run_r, args=(rscript, "lmer_records.R", path), rounds=1)
    messages = result["convergence_messages"]
    messages = [messages] if isinstance(messages, str) else messages
    benchmark.extra_info.update(
        scenario=S3.label,
        method="lme4::lmer (REML point estimates)",
        wall_s=result["seconds"],
        mu_error=abs(result["mu"] - truth["mu"]),
        tau_error=abs(result["tau"] - truth["tau"]),
        notes=f"lme4 {result['lme4']}; frequentist reference, no posterior"
        + (f"; lme4 says: {'; '.join(messages)}" if messages else "")
        + ("; singular fit" if result["singular"] else ""),
    )


def test_statsmodels_s3(benchmark, s3) -> None:
    """statsmodels' MixedLM (REML) on the same model, when statsmodels is installed."""
    statsmodels = pytest.importorskip("statsmodels.api", reason="statsmodels not installed")
    data, truth = s3
    exog = np.column_stack([np.ones(data.n_records), data.treatment, data.covariates])
    model = statsmodels.MixedLM(data.outcome, exog, groups=data.site_index, exog_re=exog[:, :2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = benchmark.pedantic(model.fit, kwargs={"reml": True}, rounds=1)
    benchmark.extra_info.update(
        scenario=S3.label,
        method="statsmodels MixedLM (REML point estimates)",
        mu_error=abs(float(result.fe_params[1]) - truth["mu"]),
        tau_error=abs(float(np.sqrt(result.cov_re[1, 1])) - truth["tau"]),
        notes=f"converged: {result.converged}; {len(caught)} warnings"
        + (f" (first: {str(caught[0].message)[:60]})" if caught else ""),
    )


@pytest.mark.parametrize("key", ["S3", "S4"])
def test_collapsed_fresh_process(benchmark, key) -> None:
    """Whole collapsed fit in a new process: phases, peak memory, ESS, recovery."""
    scenario = RECORDS_SCENARIOS[key]
    result = benchmark.pedantic(run_collapsed_in_subprocess, args=(scenario,), rounds=1)
    main_table = key == "S4"  # S3's headline figures come from test_collapsed_s3
    peak = result["peak_rss_mb"]
    benchmark.extra_info.update(
        result,
        scenario=scenario.label,
        method=COLLAPSED + ", fresh process",
        tables=["main", "scaling"] if main_table else ["scaling"],
        wall_s=result["fit_s"],
        notes=f"peak RSS {peak['fit']:,.0f} MiB (after import {peak['import']:,.0f}, "
        f"with data {peak['data']:,.0f}); phases: "
        + ", ".join(f"{name} {value:.1f} s" for name, value in result["phases_s"].items())
        + f"; max R-hat {result['max_rhat']:.3f}; theta RMSE {result['theta_rmse']:.3f}; "
        f"summary() {result['summary_s']:.1f} s",
    )


@pytest.mark.parametrize(
    ("key", "collapse"),
    [("S3", True), ("S3", False), ("S4", True), ("S4-100k", True)],
    ids=["S3-collapsed", "S3-per-row", "S4-collapsed", "S4-sites-100k-students-collapsed"],
)
def test_gradient_cost(benchmark, key, collapse, jax_warm) -> None:
    """Log-density gradients in a compiled loop: the cost of a leapfrog step."""
    scenario = RECORDS_SCENARIOS[key]
    data, _ = scenario.simulate()
    run = gradient_loop(data, collapse=collapse)
    del data
    benchmark.pedantic(run, rounds=20 if collapse else 5, warmup_rounds=1)
    benchmark.extra_info.update(
        scenario=scenario.label,
        method=COLLAPSED if collapse else PER_ROW,
        tables=["gradient"],
        steps_per_call=GRADIENT_STEPS,
        n_sites=scenario.n_sites,
        n_records=scenario.n_records,
    )


def _run_notes(settings: dict, metrics: dict) -> str:
    """Run length, convergence and tree size of a NUTS fit, for the notes column."""
    return (
        f"{settings['chains']} chains x {settings['warmup']}/{settings['draws']}; "
        f"max R-hat {metrics['max_rhat']:.3f}; {metrics['divergent']} divergent; "
        f"{metrics['mean_tree_size']:.0f} steps/draw; summary() {metrics['summary_s']:.1f} s"
    )
