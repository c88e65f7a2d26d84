"""S5 and S6: scaling out with dask.

* S5 (student records in a partitioned Parquet data set of 1M, 4M and 10M rows, written by
  ``make_partitioned.py`` into a temporary folder): per-site statistics out of core with
  dask.dataframe against the in-memory path (pandas reads everything, then validation and
  ``SiteStatistics``), each in a fresh process for its rows per second and peak memory.
  The other families out of core (classrooms, districts and a moderator; binary records
  counted by covariate pattern) at 1M and 10M rows: their peak memory stays flat in the rows.
* S6 (eight calibration replicates of the eight schools, NUTS 2 chains x 500/500): a local
  dask cluster of 2 workers against the same replicates one after the other in this process.
* S7 (``fit-many`` of 20 fits, five of each of four bundled studies, saved with their files):
  the same comparison, the jobs of a study kept on one worker.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from make_partitioned import write

import sitefx
from sitefx.batch import Job, fit_many
from sitefx.calibration import calibrate
from sitefx.parallel import Workers

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
SIZES = (1_000_000, 4_000_000, 10_000_000)
OUT_OF_CORE = "dask statistics, partition by partition"
IN_MEMORY = "pandas in memory (baseline)"
REPLICATES = 8
NUTS = {"method": "nuts", "chains": 2, "draws": 500, "warmup": 500, "seed": 1}
FAMILY_NAMES = {
    "clustered": "classrooms, districts, a moderator",
    "binary": "binary outcome counted by a 0/1 covariate",
}


@pytest.fixture(scope="module")
def parquet_folders():
    with tempfile.TemporaryDirectory() as folder:
        yield {rows: write(rows, Path(folder) / f"rows{rows}") for rows in SIZES}


def _in_subprocess(folder: Path, engine: str, family: str = "gaussian") -> dict:
    script = BENCHMARKS / "statistics_in_subprocess.py"
    command = [sys.executable, str(script), "--folder", str(folder), "--engine", engine]
    command += ["--family", family]
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


@pytest.mark.parametrize("rows", SIZES)
@pytest.mark.parametrize("engine", ["dask", "memory"])
def test_statistics_of_partitioned_records(benchmark, parquet_folders, rows, engine) -> None:
    result = benchmark.pedantic(
        _in_subprocess, args=(parquet_folders[rows], engine), rounds=1, iterations=1
    )
    method = OUT_OF_CORE if engine == "dask" else IN_MEMORY
    benchmark.extra_info.update(
        scenario=f"S5: {rows / 1e6:g}M records, Parquet",
        method=method,
        baseline=IN_MEMORY,
        ratios=["wall"],
        wall_s=result["wall_s"],
        rows_per_s=result["rows"] / result["wall_s"],
        peak_mb=result["peak_mb"],
        notes=f"{result['rows'] / result['wall_s'] / 1e6:.2f}M rows/s; peak memory "
        f"{result['peak_mb']:.0f} MB (a fresh process, imports included)",
    )


@pytest.mark.parametrize("rows", [SIZES[0], SIZES[-1]])
@pytest.mark.parametrize("family", ["clustered", "binary"])
def test_other_families_out_of_core(benchmark, parquet_folders, rows, family) -> None:
    result = benchmark.pedantic(
        _in_subprocess, args=(parquet_folders[rows], "dask", family), rounds=1, iterations=1
    )
    benchmark.extra_info.update(
        scenario=f"S5: {rows / 1e6:g}M records, Parquet, {FAMILY_NAMES[family]}",
        method=OUT_OF_CORE,
        wall_s=result["wall_s"],
        rows_per_s=result["rows"] / result["wall_s"],
        peak_mb=result["peak_mb"],
        notes=f"{result['rows'] / result['wall_s'] / 1e6:.2f}M rows/s; peak memory "
        f"{result['peak_mb']:.0f} MB (a fresh process, imports included)",
    )


@pytest.fixture(scope="module")
def eight_schools():
    return sitefx.load(ROOT / "studies" / "eight_schools").data


SERIAL = "one process, one fit after another (baseline)"


def _on_workers(benchmark, workers: int, scenario: str, function, *args, **kwargs) -> None:
    """Time ``function(*args, **kwargs, workers=...)`` once, here or on a local cluster."""
    benchmark.pedantic(
        function, args=args, kwargs={**kwargs, "workers": Workers(n=workers)}, rounds=1
    )
    benchmark.extra_info.update(
        scenario=scenario,
        method=SERIAL if workers == 1 else f"local dask cluster, {workers} workers",
        baseline=SERIAL,
        ratios=["wall"],
        notes="cluster start-up and each worker's JAX import included" if workers > 1 else "",
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_calibration_fits_on_workers(benchmark, eight_schools, workers) -> None:
    scenario = f"S6: {REPLICATES} calibration fits (eight schools, NUTS)"
    model = sitefx.SiteEffects(**NUTS)
    _on_workers(
        benchmark, workers, scenario, calibrate, model, eight_schools, replicates=REPLICATES, seed=2
    )


# S7: a batch of 20 fits of four bundled studies (five jobs each), as `sitefx fit-many` runs it;
# on a cluster, each study's jobs go to one worker.
BATCH = [
    Job(f"{name}-{number}", str(ROOT / "studies" / name))
    for number in range(5)
    for name in ("eight_schools", "teacher_expectancy", "school_calendar", "reading_pass")
]


@pytest.mark.parametrize("workers", [1, 2])
def test_fit_many_on_workers(benchmark, tmp_path, workers) -> None:
    scenario = f"S7: fit-many, {len(BATCH)} fits of 4 bundled studies (NUTS 4 x 1000/1000)"
    model = sitefx.SiteEffects(method="nuts", seed=1)
    _on_workers(benchmark, workers, scenario, fit_many, BATCH, model, tmp_path)
