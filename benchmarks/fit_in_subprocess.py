"""Simulate individual records and fit the collapsed model in this (fresh) process.

Run by the scaling benchmarks so that peak memory belongs to one fit only::

    .venv/bin/python benchmarks/fit_in_subprocess.py --sites 1000 --records 1000000 \\
        --covariates 20

With ``--file records.parquet`` (or ``.csv``; columns ``y``, ``t``, ``site``, ``x1``...: see
``harness.records_frame``) the records are read from the file with ``sitefx.load`` instead of
simulated, the way a user's script would start; the recovery errors are then left to the
caller, who knows the truth (``mu_mean`` and ``tau_mean`` are printed).

Prints one line ``RESULT {json}`` with the wall time of ``SiteEffects().fit`` split into its
phases (sufficient statistics, NUTS sampling, site-effect draws, the rest), leapfrog steps,
ESS, recovery errors and the peak resident set size (VmHWM) after import, simulation (or
reading) and fit.
"""

import argparse
import json
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from memory import peak_rss_mb

import sitefx
import sitefx.estimator
import sitefx.families.records
from sitefx.data.statistics import SiteStatistics
from sitefx.testing import simulate_records


def main() -> None:
    """Parse the arguments, run the fit and print the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, required=True)
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--covariates", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--file", type=Path, help="read the records from this file")
    args = parser.parse_args()
    warnings.simplefilter("ignore", sitefx.SamplingWarning)

    peak_mb = {"import": peak_rss_mb()}
    start = time.perf_counter()
    if args.file is None:
        data, truth = simulate_records(
            args.sites, args.records, n_covariates=args.covariates, seed=args.seed
        )
    else:
        data, truth = read_records(args.file), None
    simulate_s = time.perf_counter() - start
    peak_mb["data"] = peak_rss_mb()

    with phase_timer() as phases:
        start = time.perf_counter()
        fit = sitefx.SiteEffects(seed=args.seed).fit(data)
        fit_s = time.perf_counter() - start
    peak_mb["fit"] = peak_rss_mb()
    phases["other"] = fit_s - sum(phases.values())

    start = time.perf_counter()
    table = fit.summary().set_index("parameter").loc[["mu", "tau"]]
    summary_s = time.perf_counter() - start
    steps = fit.posterior_["sample_stats"]["n_steps"]
    theta_mean = fit.posterior_["posterior"]["theta"].mean(("chain", "draw")).values
    mu_mean, tau_mean = float(table.loc["mu", "mean"]), float(table.loc["tau", "mean"])
    records = data if truth is not None else data.data
    result = {
        "n_sites": records.n_sites,
        "n_records": records.n_records,
        "n_covariates": len(records.covariate_names),
        "simulate_s": simulate_s,
        "data_from": "simulated" if args.file is None else args.file.suffix,
        "fit_s": fit_s,
        "phases_s": phases,
        "summary_s": summary_s,
        "leapfrog_steps": int(steps.sum()),
        "mean_tree_size": float(steps.mean()),
        "min_ess": float(table["ess_bulk"].min()),
        "max_rhat": float(table["r_hat"].max()),
        "mu_mean": mu_mean,
        "tau_mean": tau_mean,
        "mu_error": abs(mu_mean - float(truth["mu"])) if truth is not None else None,
        "tau_error": abs(tau_mean - float(truth["tau"])) if truth is not None else None,
        "theta_rmse": (
            float(np.sqrt(np.mean((theta_mean - truth["theta"]) ** 2)))
            if truth is not None
            else None
        ),
        "peak_rss_mb": peak_mb,
        "warnings": fit.warnings_,
    }
    print("RESULT", json.dumps(result))


def read_records(path: Path) -> sitefx.Study:
    """Records from a Parquet or CSV file with columns ``y``, ``t``, ``site``, ``x1``..."""
    if path.suffix == ".parquet":
        names = pq.read_schema(path).names
    else:
        names = pd.read_csv(path, nrows=0).columns
    covariates = [name for name in names if name.startswith("x")]
    return sitefx.load(path, site="site", outcome="y", treatment="t", covariates=covariates)


@contextmanager
def phase_timer() -> Iterator[dict[str, float]]:
    """Time the phases of ``SiteEffects.fit`` by wrapping the functions it calls.

    Yields a dict filled with the seconds of each phase in :data:`PHASES` (one whose function
    has moved is left out, its time then counted as "other"). The wrappers live in this
    process only and are removed on exit.
    """
    phases: dict[str, float] = {}

    def timed(name: str, function: Callable) -> Callable:
        def wrapper(*args: object, **kwargs: object) -> object:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - start

        return wrapper

    originals = [
        (owner, name, vars(owner)[name]) for _, owner, name in PHASES if name in vars(owner)
    ]
    for phase, owner, name in PHASES:
        if name in vars(owner):
            wrapper = timed(phase, getattr(owner, name))
            setattr(owner, name, staticmethod(wrapper) if isinstance(owner, type) else wrapper)
    try:
        yield phases
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


# The functions SiteEffects.fit calls for each phase: (phase, module or class, attribute).
PHASES = (
    ("statistics", SiteStatistics, "from_records"),
    ("sampling", sitefx.estimator, "run_nuts"),
    ("site_effects", sitefx.families.records, "draw_site_effects"),
)


if __name__ == "__main__":
    main()
