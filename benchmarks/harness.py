"""Shared pieces of the benchmark suite: scenarios, fits, metrics, gradients and R runners.

Every data set is simulated in memory from a fixed seed (or loaded from ``studies/``); the
only files written are temporary CSVs handed to R, deleted when the test ends.

The benchmarks store their figures in pytest-benchmark's ``extra_info``; :mod:`report` turns
the JSON into ``results/results.md``. The keys used there are documented in :mod:`report`.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import arviz_stats as azs
import jax
import numpy as np
import pandas as pd
from numpyro.infer.util import initialize_model

import sitefx
from sitefx.data.schema import IndividualRecords, SiteSummaries
from sitefx.families import family_of, resolve_priors
from sitefx.infer.exact import ExactPosterior, normal_normal_exact
from sitefx.testing import simulate_records, simulate_site_summaries

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = Path(__file__).resolve().parent
R_SCRIPTS = BENCHMARKS / "r"
RESULTS = BENCHMARKS / "results"

SEED = 0
FULL_RUN = {"chains": 4, "warmup": 1000, "draws": 1000}  # sitefx's defaults
# A run so short that its time is the fixed cost of a NUTS fit (tracing, XLA compilation,
# initialisation, output): subtracted from a full fit's time, what remains is sampling.
FIXED_COST_RUN = {"chains": 4, "warmup": 10, "draws": 10}
PER_ROW_ENV = "SITEFX_BENCH_PER_ROW"  # "chains,warmup,draws" for the per-row baseline
PER_ROW_DEFAULT = "2,100,100"
CACHE_ENV = "SITEFX_CACHE_DIR"  # sitefx's persistent compilation cache (JAX), per process
SITEFX_CLI = Path(sys.executable).with_name("sitefx")  # the venv's console script
EXACT_TARGET_SECONDS = 0.050
ESS_RATIO_TARGET = 50.0
SUMMARY_PARAMETERS = ("mu", "tau")
GRADIENT_STEPS = 100  # gradient evaluations per timed call of gradient_loop()


# --- Scenarios ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummariesScenario:
    """Site summaries with (for simulated data) the true ``mu`` and ``tau``."""

    key: str
    label: str
    data: SiteSummaries
    truth: dict[str, float] | None


@dataclass(frozen=True)
class RecordsScenario:
    """A simulated individual-records study: sites, students and covariates."""

    key: str
    label: str
    n_sites: int
    n_records: int
    n_covariates: int

    def simulate(self) -> tuple[IndividualRecords, dict[str, np.ndarray]]:
        """Simulate the records and return them with the true parameters."""
        return simulate_records(
            self.n_sites, self.n_records, n_covariates=self.n_covariates, seed=SEED
        )


S3 = RecordsScenario("S3", "S3 IPD 100k students, 100 sites, 10 cov.", 100, 100_000, 10)
S4 = RecordsScenario("S4", "S4 IPD 1M students, 1,000 sites, 20 cov.", 1000, 1_000_000, 20)
# Same sites and covariates as S4 with 10x fewer students: isolates the cost of students.
S4_FEW_STUDENTS = RecordsScenario("S4-100k", "S4 sites with 100k students", 1000, 100_000, 20)
# S3's sites and covariates with 10x fewer students: where the per-row model finishes in about
# a minute (2 chains x 100/100 on two cores).
S3_FEW_STUDENTS = RecordsScenario("S3-10k", "S3 sites with 10k students", 100, 10_000, 10)
RECORDS_SCENARIOS = {
    scenario.key: scenario for scenario in (S3, S4, S4_FEW_STUDENTS, S3_FEW_STUDENTS)
}


def summaries_scenario(key: str) -> SummariesScenario:
    """S1 (the eight schools) or S2 (1,000 simulated sites, mu = 0.2, tau = 0.1)."""
    if key == "S1":
        data = sitefx.load(ROOT / "studies" / "eight_schools").data
        return SummariesScenario("S1", "S1 eight schools", data, None)
    if key == "S2":
        data, truth = simulate_site_summaries(1000, mu=0.2, tau=0.1, seed=SEED)
        truth = {name: float(truth[name]) for name in SUMMARY_PARAMETERS}
        return SummariesScenario("S2", "S2 meta-analysis, 1,000 sites", data, truth)
    raise KeyError(key)


def per_row_settings() -> dict[str, int]:
    """Chains, warm-up and draws of the per-row baseline (environment ``SITEFX_BENCH_PER_ROW``).

    The per-row model hits NUTS's maximum tree depth (1,023 leapfrog steps per iteration) at
    about 2.5 ms per gradient on 100k rows, so a full 4 x 1000/1000 run would take hours on
    two cores; ESS per second is comparable across run lengths.
    """
    chains, warmup, draws = (
        int(part) for part in os.environ.get(PER_ROW_ENV, PER_ROW_DEFAULT).split(",")
    )
    return {"chains": chains, "warmup": warmup, "draws": draws}


# --- Fits and their metrics -----------------------------------------------------------------


def fit_site_effects(data: object, **settings: object) -> sitefx.SiteEffects:
    """``SiteEffects(seed=SEED, **settings).fit(data)``: the call every fit benchmark times."""
    return sitefx.SiteEffects(seed=SEED, **settings).fit(data)


def exact_posterior_and_summaries(data: SiteSummaries) -> ExactPosterior:
    """The exact method without draws: priors, quadrature, and the summary numbers.

    Computes what ``fit.summary()`` reports exactly (mean, SD, 2.5/50/97.5% quantiles) for
    ``mu``, ``tau``, every ``theta`` and ``theta_new``.
    """
    posterior = normal_normal_exact(data.estimate, data.se, priors=resolve_priors(data))
    probs = np.array([0.025, 0.5, 0.975])
    for name in ("mu", "tau", "theta", "theta_new"):
        posterior.mean(name), posterior.sd(name), posterior.quantile(name, probs)
    return posterior


def fit_metrics(fit: sitefx.SiteEffects, truth: dict | None) -> dict[str, object]:
    """Summary-based figures of a fit, plus the time ``fit.summary()`` itself takes.

    Returns ``min_ess`` (smallest bulk ESS of mu and tau), ``max_rhat``, posterior means and
    SDs, absolute errors against ``truth`` (``mu_error``, ``tau_error``; None without truth),
    ``divergent``, ``leapfrog_steps`` (kept draws only) and ``summary_s``.
    """
    start = time.perf_counter()
    table = fit.summary().set_index("parameter")
    summary_s = time.perf_counter() - start
    rows = table.loc[list(SUMMARY_PARAMETERS)]
    stats = fit.posterior_["sample_stats"]
    # exact fits' summaries are exact (no ESS): the draws' own ESS, from ArviZ
    draws = fit.posterior_["posterior"].to_dataset()[list(SUMMARY_PARAMETERS)]
    ess = azs.ess(draws, method="bulk")
    metrics: dict[str, object] = {
        "min_ess": float(min(ess[name] for name in SUMMARY_PARAMETERS)),
        "max_rhat": float(rows["r_hat"].max()) if rows["r_hat"].notna().any() else 1.0,
        "summary_s": summary_s,
        "divergent": int(stats["diverging"].sum()),
    }
    if "n_steps" in stats:
        metrics["leapfrog_steps"] = int(stats["n_steps"].sum())
        metrics["mean_tree_size"] = float(stats["n_steps"].mean())
    for name in SUMMARY_PARAMETERS:
        metrics[f"{name}_mean"] = float(rows.loc[name, "mean"])
        metrics[f"{name}_sd"] = float(rows.loc[name, "sd"])
        metrics[f"{name}_error"] = (
            abs(float(rows.loc[name, "mean"]) - float(truth[name])) if truth else None
        )
    return metrics


def agreement_in_mcse(nuts_fit: sitefx.SiteEffects, exact: ExactPosterior) -> dict[str, float]:
    """``|exact mean - NUTS mean| / MCSE(NUTS mean)`` for mu and tau (below ~3 is agreement)."""
    draws = nuts_fit.posterior_["posterior"].to_dataset()[list(SUMMARY_PARAMETERS)]
    mcse = azs.mcse(draws, method="mean")
    return {
        name: abs(float(exact.mean(name)) - float(draws[name].mean())) / float(mcse[name])
        for name in SUMMARY_PARAMETERS
    }


def truth_floats(truth: dict[str, np.ndarray]) -> dict[str, float]:
    """The scalar truths of ``mu`` and ``tau`` as floats."""
    return {name: float(truth[name]) for name in SUMMARY_PARAMETERS}


# --- Gradients --------------------------------------------------------------------------------


def gradient_loop(data: IndividualRecords, *, collapse: bool) -> Callable[[], object]:
    """A zero-argument function running ``GRADIENT_STEPS`` log-density gradients.

    Builds the same model and arguments as ``SiteEffects(collapse=...)`` and the potential
    function NUTS differentiates, then chains ``GRADIENT_STEPS`` gradient evaluations in one
    compiled loop (each moves the parameters a tiny step, so none can be skipped), as inside
    the sampler: timing a call and dividing by ``GRADIENT_STEPS`` gives the cost of one
    leapfrog step without Python's per-call dispatch. Compiled and run once before returning.
    """
    model, kwargs, *_ = family_of(data).model(
        data, resolve_priors(data), collapse=collapse, site_df=None
    )
    info = initialize_model(jax.random.key(SEED), model, model_kwargs=kwargs)
    gradient = jax.grad(info.potential_fn)

    def step(_: int, params: dict) -> dict:
        return jax.tree.map(lambda x, g: x - 1e-9 * g, params, gradient(params))

    loop = jax.jit(lambda params: jax.lax.fori_loop(0, GRADIENT_STEPS, step, params))
    params = info.param_info.z

    def run() -> object:
        return jax.block_until_ready(loop(params))

    run()
    return run


# --- Subprocesses: a fresh Python for memory, R for references ------------------------------


def run_collapsed_in_subprocess(
    scenario: RecordsScenario,
    timeout: float = 1800,
    *,
    file: Path | None = None,
    cache_dir: Path | None = None,
) -> dict:
    """Simulate and fit ``scenario`` with the collapsed model in a fresh Python process.

    With ``file`` (records written by :func:`records_frame`), the child reads them with
    ``sitefx.load`` instead of simulating them; with ``cache_dir``, its compilation cache is
    there (see :func:`cache_env`). Returns the JSON the child prints (see
    ``fit_in_subprocess.py``): phase times, peak resident memory (VmHWM), ESS and recovery
    errors, plus ``process_wall_s``, the whole process's wall time.
    """
    arguments = [
        f"--sites={scenario.n_sites}",
        f"--records={scenario.n_records}",
        f"--covariates={scenario.n_covariates}",
        f"--seed={SEED}",
    ]
    if file is not None:
        arguments.append(f"--file={file}")
    return run_python("fit_in_subprocess.py", *arguments, cache_dir=cache_dir, timeout=timeout)


def run_python(
    script: str, *args: object, cache_dir: Path | None = None, timeout: float = 1800
) -> dict:
    """Run ``benchmarks/<script>`` with ``args`` in a fresh Python (this one's interpreter).

    Returns the JSON of its RESULT line plus ``process_wall_s``; with ``cache_dir`` the
    process's compilation cache is there (see :func:`cache_env`).
    """
    command = [sys.executable, str(BENCHMARKS / script), *map(str, args)]
    return run_for_result(command, timeout, cache_dir=cache_dir)


def run_cli(*args: object, cache_dir: Path, timeout: float = 1800) -> float:
    """Run ``sitefx ARGS`` (the venv's command) in a fresh process; return its wall seconds.

    The process's compilation cache is ``cache_dir`` (see :func:`cache_env`); its output is
    captured and dropped.
    """
    start = time.perf_counter()
    _run([str(SITEFX_CLI), *map(str, args)], timeout, env=cache_env(cache_dir))
    return time.perf_counter() - start


def cache_env(cache_dir: Path | None) -> dict[str, str] | None:
    """This process's environment with ``SITEFX_CACHE_DIR=cache_dir`` (None: inherit it)."""
    return None if cache_dir is None else {**os.environ, CACHE_ENV: str(cache_dir)}


def run_for_result(command: list[str], timeout: float, *, cache_dir: Path | None = None) -> dict:
    """Run ``command``; return the JSON of its RESULT line plus ``process_wall_s``."""
    start = time.perf_counter()
    stdout = _run(command, timeout, env=cache_env(cache_dir))
    wall = time.perf_counter() - start
    return _result_line(stdout) | {"process_wall_s": wall}


def rscript_with(*packages: str) -> str | None:
    """Path of ``Rscript`` when it exists and loads all ``packages``; otherwise None."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    loads = ", ".join(f"'{package}'" for package in packages)
    probe = f"quit(status = !all(sapply(c({loads}), requireNamespace, quietly = TRUE)))"
    try:
        done = subprocess.run([rscript, "-e", probe], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return rscript if done.returncode == 0 else None


def run_r(rscript: str, script: str, *args: object, timeout: float = 900) -> dict:
    """Run ``benchmarks/r/<script>`` with ``args``; return the JSON of its RESULT line.

    ``process_wall_s`` is added: the wall time of the whole ``Rscript`` process.
    """
    return run_for_result([rscript, str(R_SCRIPTS / script), *map(str, args)], timeout)


def records_frame(data: IndividualRecords) -> pd.DataFrame:
    """Records as a table with columns ``y``, ``t``, ``site``, ``x1``... (for R and statsmodels)."""
    frame = pd.DataFrame(data.covariates, columns=list(data.covariate_names))
    frame.insert(0, "site", data.site_index)
    frame.insert(0, "t", data.treatment.astype(int))
    frame.insert(0, "y", data.outcome)
    return frame


def summaries_frame(data: SiteSummaries) -> pd.DataFrame:
    """Site summaries as a table with columns ``site``, ``estimate``, ``se`` (for R, the CLI)."""
    return pd.DataFrame({"site": data.site, "estimate": data.estimate, "se": data.se})


def _run(command: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-4000:]}"
        )
    return done.stdout


def _result_line(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"no RESULT line in the output:\n{stdout[-4000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))
