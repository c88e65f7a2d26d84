"""S1 (eight schools) and S2 (1,000 simulated sites): the exact posterior against NUTS.

Per scenario: the exact method without draws (quadrature and exact summaries), the exact
method as a full fit with 4,000 draws, and NUTS (the baseline), all through the public API;
for S1 also brms/rstan through ``Rscript`` when installed (sampling timed apart from the
Stan compilation).
"""

import tempfile
import time
import timeit
from pathlib import Path

import pytest
from harness import (
    EXACT_TARGET_SECONDS,
    FIXED_COST_RUN,
    FULL_RUN,
    SEED,
    agreement_in_mcse,
    exact_posterior_and_summaries,
    fit_metrics,
    fit_site_effects,
    rscript_with,
    run_r,
    summaries_frame,
    summaries_scenario,
)

from sitefx import SiteEffects
from sitefx.estimands import estimands
from sitefx.models.priors import resolve_priors
from sitefx.report import write_report
from sitefx.sensitivity import default_alternatives, prior_grid

NUTS = "NUTS (numpyro): fit"
EXACT_FIT = "exact: fit with 4,000 draws"
EXACT_CORE = "exact: posterior + summaries, no draws"
ROUNDS = {"exact_core": 30, "exact_fit": 10, "nuts": 2}


@pytest.fixture(scope="module", params=["S1", "S2"])
def scenario(request: pytest.FixtureRequest):
    """The site-summaries scenario of this test (S1 or S2)."""
    return summaries_scenario(request.param)


def test_exact_posterior_and_summaries(benchmark, scenario, jax_warm) -> None:
    """Quadrature posterior and the exact summary numbers, without any draws."""
    posterior = benchmark.pedantic(
        exact_posterior_and_summaries,
        args=(scenario.data,),
        rounds=ROUNDS["exact_core"],
        warmup_rounds=3,
    )
    truth = scenario.truth
    benchmark.extra_info.update(
        scenario=scenario.label,
        method=EXACT_CORE,
        baseline=NUTS,
        ratios=["wall"],
        target_s=EXACT_TARGET_SECONDS,
        mu_error=abs(float(posterior.mean("mu")) - truth["mu"]) if truth else None,
        tau_error=abs(float(posterior.mean("tau")) - truth["tau"]) if truth else None,
        notes=f"{len(posterior.log_tau)} grid nodes, error estimate "
        f"{posterior.error_estimate:.1e} SD",
    )


def test_exact_fit(benchmark, scenario, jax_warm) -> None:
    """``SiteEffects(method="exact").fit``: quadrature, 4,000 independent draws, DataTree."""
    fit = benchmark.pedantic(
        fit_site_effects,
        args=(scenario.data,),
        kwargs={"method": "exact", "chains": 4, "draws": 1000},
        rounds=ROUNDS["exact_fit"],
        warmup_rounds=1,
    )
    benchmark.extra_info.update(
        scenario=scenario.label,
        method=EXACT_FIT,
        baseline=NUTS,
        ratios=["wall", "ess_per_s"],
        target_s=EXACT_TARGET_SECONDS,
        **fit_metrics(fit, scenario.truth),
        summary_row=True,
        notes="independent draws; ESS from ArviZ on the draws",
    )


def test_nuts_fit(benchmark, scenario, jax_warm) -> None:
    """The baseline: NUTS on the normal-normal model (4 chains x 1000/1000), JIT included."""
    fit = benchmark.pedantic(
        fit_site_effects,
        args=(scenario.data,),
        kwargs={"method": "nuts", **FULL_RUN},
        rounds=ROUNDS["nuts"],
    )
    metrics = fit_metrics(fit, scenario.truth)
    agreement = agreement_in_mcse(fit, exact_posterior_and_summaries(scenario.data))
    benchmark.extra_info.update(
        scenario=scenario.label,
        method=NUTS,
        **metrics,
        summary_row=True,
        agreement_mcse=agreement,
        notes=f"max R-hat {metrics['max_rhat']:.3f}, {metrics['divergent']} divergent, "
        f"{metrics['mean_tree_size']:.0f} steps/draw; exact vs NUTS means: "
        + ", ".join(f"{name} {value:.2f} MCSE" for name, value in agreement.items()),
    )


def test_nuts_fixed_cost(benchmark, scenario, jax_warm) -> None:
    """NUTS with 10 warm-up and 10 draws per chain: what every fit pays before sampling."""
    benchmark.pedantic(
        fit_site_effects,
        args=(scenario.data,),
        kwargs={"method": "nuts", **FIXED_COST_RUN},
        rounds=ROUNDS["nuts"],
    )
    benchmark.extra_info.update(
        scenario=scenario.label,
        method="NUTS (numpyro): 4 chains x 10/10",
        notes="fixed cost of a NUTS fit (tracing, XLA compilation, set-up); not a usable fit",
    )


def test_brms_eight_schools(benchmark) -> None:
    """brms/rstan on the eight schools with sitefx's default priors (sampling time only)."""
    rscript = rscript_with("brms", "rstan", "jsonlite")
    if rscript is None:
        pytest.skip("Rscript with brms, rstan and jsonlite not found: brms reference skipped")
    scenario = summaries_scenario("S1")
    data = scenario.data
    priors = resolve_priors(data)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "summaries.csv"
        summaries_frame(data).to_csv(path, index=False)
        arguments = [path, priors.mu.params[1], priors.tau.params[0]]
        arguments += [FULL_RUN["chains"], FULL_RUN["warmup"], FULL_RUN["draws"], SEED + 1]
        result = benchmark.pedantic(run_r, args=(rscript, "brms_summaries.R", *arguments))
    benchmark.extra_info.update(
        scenario=scenario.label,
        method="brms/rstan: sampling",
        baseline=NUTS,
        ratios=["wall", "ess_per_s"],
        wall_s=result["sampling_seconds"],
        min_ess=min(result["ess_bulk_mu"], result["ess_bulk_tau"]),
        compile_s=result["compile_seconds"],
        notes=f"brms {result['brms']}, rstan {result['rstan']}: Stan compilation "
        f"{result['compile_seconds']:.0f} s not included; 4 chains on 2 cores; "
        f"max R-hat {result['rhat_max']:.3f}, {result['divergent']} divergent",
    )


def test_report(benchmark, scenario, jax_warm, tmp_path) -> None:
    """``sitefx report`` on an exact fit with 4,000 draws: estimands (ranks, triple-goal,
    pooling), tables, five plots as PNG and SVG, HTML and Markdown; against the fit itself."""
    fit = fit_site_effects(scenario.data, method="exact", chains=4, draws=1000)
    benchmark.pedantic(write_report, args=(fit.posterior_, tmp_path), rounds=3, warmup_rounds=1)
    estimands_seconds = min(timeit.repeat(lambda: estimands(fit.posterior_), number=1, repeat=5))
    benchmark.extra_info.update(
        scenario=scenario.label,
        method="report: estimands, tables, plots, HTML + Markdown",
        baseline=EXACT_FIT,
        ratios=["wall"],
        notes=f"estimands alone {estimands_seconds:.2f} s; the rest is drawing the plots",
    )


def test_prior_grid(benchmark, scenario, jax_warm) -> None:
    """The default prior grid (18 pairs of mu and tau priors) from the quadrature alone,
    against the same 18 pairs as full exact fits (the way the grid was first built)."""
    model = SiteEffects(seed=SEED)
    taus, mus = default_alternatives(scenario.data)
    grid = benchmark.pedantic(prior_grid, args=(model, scenario.data), rounds=3, warmup_rounds=1)
    pairs = grid.table[["prior_mu", "prior_tau"]].itertuples(index=False)
    start = time.perf_counter()
    for mu, tau in pairs:
        SiteEffects(seed=SEED, priors={"mu": mu, "tau": tau}).fit(scenario.data)
    full_fits = time.perf_counter() - start
    benchmark.extra_info.update(
        scenario=scenario.label,
        method=f"prior grid: {len(grid.table)} exact pairs",
        notes=f"the same pairs as full exact fits (DataTree, estimands, diagnostics): "
        f"{full_fits:.2f} s, {full_fits / benchmark.stats.stats.median:.1f}x the grid's time "
        f"({len(taus) + 1} tau x {len(mus) + 1} mu priors)",
    )
