"""Issue 19's speed targets (T1-T7) and the per-row reference (B1), in one run: ``./run bench``.

Every target is measured against its baseline in the same session on the same data (fixed
seeds); the figures go to ``extra_info["targets"]`` (see :mod:`targets`), and ``conftest.py``
writes ``results/targets.md`` at the end. How each row is measured is in
:data:`targets.NOTES`, printed under the table.

Each test that measures a fresh process gets its own compilation cache folder
(``SITEFX_CACHE_DIR``), empty at first: the first process is the "cold" one, later ones on
the same folder are "warm".
"""

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import (
    FULL_RUN,
    ROOT,
    S3,
    S3_FEW_STUDENTS,
    S4,
    SEED,
    SITEFX_CLI,
    RecordsScenario,
    fit_metrics,
    fit_site_effects,
    per_row_settings,
    records_frame,
    rscript_with,
    run_cli,
    run_collapsed_in_subprocess,
    run_python,
    run_r,
    summaries_frame,
    summaries_scenario,
    truth_floats,
)
from report import duration
from targets import figure, record

EIGHT_SCHOOLS = ROOT / "studies" / "eight_schools"
RECORDS_TARGETS = {"S3": (S3, "T5"), "S4": (S4, "T6")}
SUMMARIES_ROLES = ("--site", "site", "--estimate", "estimate", "--se", "se")


@pytest.fixture
def cli() -> None:
    """The command-line targets run the venv's ``sitefx`` script."""
    if not SITEFX_CLI.exists():
        pytest.skip(f"{SITEFX_CLI} not found: run ./run setup")


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A temporary folder for this test (outputs, caches), deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="sitefx-bench-") as folder:
        yield Path(folder)


@pytest.fixture
def cache(scratch: Path) -> Path:
    """An empty compilation cache folder, for this test's processes only."""
    folder = scratch / "cache"
    folder.mkdir()
    return folder


def new_out(scratch: Path) -> Path:
    """A fresh ``--out`` folder (not yet created) under ``scratch``."""
    return Path(tempfile.mkdtemp(dir=scratch, prefix="out-")) / "fit"


def cold_then_warm(
    benchmark: object, scratch: Path, cache: Path, *args: object, rounds: int = 1
) -> tuple[float, float]:
    """Run ``sitefx ARGS --out <fresh folder>`` on the empty ``cache``, then ``rounds`` times
    (benchmarked) on the filled one; return the first wall time and the later ones' median."""
    cold = run_cli(*args, "--out", new_out(scratch), cache_dir=cache)
    benchmark.pedantic(
        run_cli,
        setup=lambda: ((*args, "--out", new_out(scratch)), {"cache_dir": cache}),
        rounds=rounds,
    )
    return cold, benchmark.stats.stats.median


@dataclass(frozen=True)
class RecordsFiles:
    """A scenario's simulated records in two files with the same values, and the truth."""

    csv: Path  # for R
    parquet: Path  # for sitefx (its strict CSV reader is slow on a million rows)
    truth: dict[str, float]


@pytest.fixture(scope="module")
def records_files() -> Iterator[Callable[[RecordsScenario], RecordsFiles]]:
    """Write a scenario's simulated records once, for sitefx and lme4 alike.

    Returns a function of the scenario giving its :class:`RecordsFiles`; the files are
    deleted at the end of the module.
    """
    written: dict[str, RecordsFiles] = {}
    with tempfile.TemporaryDirectory(prefix="sitefx-bench-records-") as folder:

        def get(scenario: RecordsScenario) -> RecordsFiles:
            if scenario.key not in written:
                data, truth = scenario.simulate()
                frame = records_frame(data)
                del data
                files = RecordsFiles(
                    Path(folder) / f"{scenario.key}.csv",
                    Path(folder) / f"{scenario.key}.parquet",
                    truth_floats(truth),
                )
                frame.to_csv(files.csv, index=False)
                frame.to_parquet(files.parquet, index=False)
                written[scenario.key] = files
            return written[scenario.key]

        yield get


# --- T1-T3: the command line on the eight schools -------------------------------------------


def test_t1_help(benchmark, cli, cache) -> None:
    """``sitefx --help`` in a fresh process."""
    benchmark.pedantic(
        run_cli, args=("--help",), kwargs={"cache_dir": cache}, rounds=5, warmup_rounds=1
    )
    median = benchmark.stats.stats.median
    record(benchmark, "T1", sitefx=figure(median, label="median of 5, after 1 untimed"))


def test_t2_fit_exact(benchmark, cli, scratch, cache) -> None:
    """``sitefx fit studies/eight_schools`` (the exact method): cold, then warm."""
    cold, warm = cold_then_warm(benchmark, scratch, cache, "fit", EIGHT_SCHOOLS, rounds=3)
    record(
        benchmark,
        "T2",
        sitefx=figure(warm, label="warm, median of 3", notes=f"cold {duration(cold)}"),
    )


def test_t3_nuts_cache(benchmark, cli, scratch, cache) -> None:
    """``sitefx fit studies/eight_schools --method nuts``: empty cache, then filled."""
    args = ("fit", EIGHT_SCHOOLS, "--method", "nuts")
    cold, warm = cold_then_warm(benchmark, scratch, cache, *args, rounds=2)
    record(
        benchmark,
        "T3",
        sitefx=figure(warm, label="2nd process, filled cache, median of 2"),
        baseline=figure(cold, label="1st process, empty cache"),
    )


# --- T4: a prior grid of NUTS fits --------------------------------------------------------------


def test_t4_prior_grid(benchmark, cli, scratch, cache) -> None:
    """``sitefx fit --method nuts`` fills the cache; then, in a fresh process, one NUTS fit
    and a 9-point NUTS prior grid (the way ``sitefx sensitivity`` follows ``sitefx fit``)."""
    filled = run_cli(
        "fit", EIGHT_SCHOOLS, "--method", "nuts", "--out", new_out(scratch), cache_dir=cache
    )
    args = ("grid_in_subprocess.py", "--study", EIGHT_SCHOOLS, f"--seed={SEED}")
    result = benchmark.pedantic(run_python, args=args, kwargs={"cache_dir": cache}, rounds=1)
    assert result["points"] == 9, result["pairs"]
    mus = ", ".join(dict.fromkeys(mu for mu, _ in result["pairs"]))
    taus = ", ".join(dict.fromkeys(tau for _, tau in result["pairs"]))
    record(
        benchmark,
        "T4",
        sitefx=figure(
            result["grid_s"],
            label="9 NUTS fits",
            notes=f"mu priors {mus}; tau priors {taus}; whole process "
            f"{duration(result['process_wall_s'])}, after a `sitefx fit --method nuts` "
            f"process ({duration(filled)}) filled its cache",
        ),
        baseline=figure(result["fit_s"], label="one NUTS fit, same process"),
    )


# --- T7: exact against NUTS on 1,000 site summaries -------------------------------------------


def test_t7_exact_vs_nuts(benchmark, cli, scratch, cache) -> None:
    """``sitefx fit`` on 1,000 simulated site summaries: exact cold and warm, then NUTS."""
    path = scratch / "summaries.csv"
    summaries_frame(summaries_scenario("S2").data).to_csv(path, index=False)
    exact = ("fit", path, *SUMMARIES_ROLES, "--method", "exact")
    nuts = ("fit", path, *SUMMARIES_ROLES, "--method", "nuts")
    cold_exact, warm_exact = cold_then_warm(benchmark, scratch, cache, *exact)
    cold_nuts, warm_nuts = (
        run_cli(*nuts, "--out", new_out(scratch), cache_dir=cache) for _ in range(2)
    )
    record(
        benchmark,
        "T7",
        sitefx=figure(
            warm_exact,
            label="exact, warm",
            notes=f"cold {duration(cold_exact)}",
        ),
        baseline=figure(
            warm_nuts,
            label="NUTS 4 x 1000/1000, warm",
            notes=f"cold {duration(cold_nuts)}",
        ),
    )


# --- B1: the per-row numpyro model, where it finishes -----------------------------------------


def test_b1_per_row(benchmark, jax_warm) -> None:
    """Per-row NUTS (short run) against the collapsed model on a reduced S3, by ESS/s."""
    scenario = S3_FEW_STUDENTS
    data, truth = scenario.simulate()
    truth = truth_floats(truth)
    collapsed_s, collapsed = timed(fit_site_effects, data, **FULL_RUN)
    settings = per_row_settings()
    fit = benchmark.pedantic(
        fit_site_effects, args=(data,), kwargs={"collapse": False, **settings}, rounds=1
    )
    per_row_s = benchmark.stats.stats.median
    iterations = settings["warmup"] + settings["draws"]
    ours, theirs = fit_metrics(collapsed, truth), fit_metrics(fit, truth)
    record(
        benchmark,
        "B1",
        sitefx=figure(
            ours["min_ess"] / collapsed_s,
            unit="ESS/s",
            label=f"collapsed, {FULL_RUN['chains']} x {FULL_RUN['warmup']}/{FULL_RUN['draws']}",
            notes=f"{scenario.label}; fit {duration(collapsed_s)}, min ESS "
            f"{ours['min_ess']:.0f}, {ours['mean_tree_size']:.0f} steps/draw",
        ),
        baseline=figure(
            theirs["min_ess"] / per_row_s,
            unit="ESS/s",
            label=f"per-row, {settings['chains']} x {settings['warmup']}/{settings['draws']}",
            notes=f"fit {duration(per_row_s)} = {duration(per_row_s / iterations)} "
            f"per iteration ({settings['chains']} chains in parallel), min ESS "
            f"{theirs['min_ess']:.0f}, {theirs['mean_tree_size']:.0f} steps/draw, max R-hat "
            f"{theirs['max_rhat']:.2f}; abs. error mu {theirs['mu_error']:.3f} "
            f"(collapsed {ours['mu_error']:.3f}), tau {theirs['tau_error']:.3f} "
            f"(collapsed {ours['tau_error']:.3f})",
        ),
    )


# --- T5, T6: individual records against lme4 ------------------------------------------------


@pytest.mark.parametrize("key", list(RECORDS_TARGETS))
def test_records_sitefx(benchmark, key, records_files, cache) -> None:
    """Read the records (Parquet) and fit the full posterior in a fresh process: cold, warm."""
    scenario, target = RECORDS_TARGETS[key]
    files = records_files(scenario)
    truth = files.truth
    cold = run_collapsed_in_subprocess(scenario, file=files.parquet, cache_dir=cache)
    warm = benchmark.pedantic(
        run_collapsed_in_subprocess,
        args=(scenario,),
        kwargs={"file": files.parquet, "cache_dir": cache},
        rounds=1,
    )
    outside = warm["process_wall_s"] - warm["simulate_s"] - warm["fit_s"] - warm["summary_s"]
    phases = ", ".join(f"{name} {duration(s)}" for name, s in warm["phases_s"].items())
    record(
        benchmark,
        target,
        sitefx=figure(
            warm["fit_s"],
            label="SiteEffects().fit, filled cache",
            notes=f"whole process {duration(warm['process_wall_s'])} (start-up, imports "
            f"and exit {duration(outside)}, reading the Parquet file "
            f"{duration(warm['simulate_s'])}); phases: {phases}; empty-cache process: "
            f"fit {duration(cold['fit_s'])}, whole {duration(cold['process_wall_s'])}"
            f"; min ESS {warm['min_ess']:.0f}, max R-hat {warm['max_rhat']:.3f}; "
            f"abs. error mu {abs(warm['mu_mean'] - truth['mu']):.4f}, "
            f"tau {abs(warm['tau_mean'] - truth['tau']):.4f}",
        ),
    )
    if key == "S4":
        peaks = {run: result["peak_rss_mb"] for run, result in (("cold", cold), ("warm", warm))}
        record(
            benchmark,
            "T6 memory",
            sitefx=figure(
                max(peak["fit"] for peak in peaks.values()),
                unit="MiB",
                label="peak RSS, whole process",
                notes="; ".join(
                    f"{run}: {peak['import']:,.0f} after import, {peak['data']:,.0f} with the "
                    f"data, {peak['fit']:,.0f} after the fit"
                    for run, peak in peaks.items()
                ),
            ),
        )


@pytest.mark.parametrize("key", list(RECORDS_TARGETS))
def test_records_lme4(benchmark, key, records_files) -> None:
    """lme4's REML fit of ``y ~ t + x... + (1 + t | site)`` on the same CSV."""
    rscript = rscript_with("lme4", "jsonlite")
    if rscript is None:
        pytest.skip("Rscript with lme4 and jsonlite not found: lme4 baseline of T5/T6 skipped")
    scenario, target = RECORDS_TARGETS[key]
    files = records_files(scenario)
    truth = files.truth
    result = benchmark.pedantic(run_r, args=(rscript, "lmer_records.R", files.csv), rounds=1)
    messages = result["convergence_messages"]
    messages = [messages] if isinstance(messages, str) else messages
    record(
        benchmark,
        target,
        baseline=figure(
            result["seconds"],
            label="lmer() call",
            notes=f"lme4 {result['lme4']}, point estimates only; whole Rscript "
            f"{duration(result['process_wall_s'])} (loading lme4 "
            f"{duration(result['load_seconds'])}, reading the CSV with {result['reader']} "
            f"{duration(result['read_seconds'])}); abs. error mu "
            f"{abs(result['mu'] - truth['mu']):.4f}, tau {abs(result['tau'] - truth['tau']):.4f}"
            + (f"; lme4 says: {'; '.join(messages)}" if messages else "")
            + ("; singular fit" if result["singular"] else ""),
        ),
    )


def timed(function: Callable, *args: object, **kwargs: object) -> tuple[float, object]:
    """Call ``function``; return its wall seconds and its result."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result
