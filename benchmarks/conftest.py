"""Benchmark session set-up: expected warnings, machine info, a JAX warm-up, the reports.

Run the suite with the command at the top of ``benchmarks/README.md``, or the targets with
``./run bench``. At the end of the session the pytest-benchmark JSON (``--benchmark-json``)
is turned into ``results.md`` beside it by :func:`report.write_report` when it holds the
suite's benchmarks, and into ``targets.md`` by :func:`targets.write_targets` when it holds the
targets' (``test_bench_targets.py``).
"""

import datetime
import json
import os
import platform
import shutil
import subprocess
import warnings
from collections.abc import Generator
from importlib.metadata import version
from pathlib import Path

import jax
import pytest
from harness import fit_site_effects, per_row_settings, summaries_scenario
from pytest_benchmark.logger import PytestBenchmarkWarning
from report import MARKDOWN_NAME, write_report
from targets import TARGETS_NAME, has_targets, write_targets

BENCHMARKS = Path(__file__).resolve().parent

# Warnings the benchmarks expect. The project's pytest settings turn warnings into errors.
EXPECTED_WARNINGS = (
    # Short runs (the per-row baseline) get low ESS on purpose.
    "ignore::sitefx.SamplingWarning",
    # statsmodels' MixedLM reports its convergence trouble; the benchmark records it.
    "ignore::UserWarning:statsmodels.*",
    "ignore::RuntimeWarning:statsmodels.*",
)


def pytest_configure(config: pytest.Config) -> None:
    """Create the folder of ``--benchmark-json`` (pytest-benchmark does not)."""
    json_path = config.getoption("benchmark_json", None)
    if json_path is not None:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Let every benchmark (and nothing else) tolerate the warnings in ``EXPECTED_WARNINGS``."""
    for item in items:
        if not item.path.is_relative_to(BENCHMARKS):
            continue
        for spec in EXPECTED_WARNINGS:
            item.add_marker(pytest.mark.filterwarnings(spec))


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Add what results.md reports about the machine to the JSON's ``machine_info``."""
    machine_info["sitefx_bench"] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "memory": memory_total(),
        "python": platform.python_version(),
        "jax": version("jax"),
        "jaxlib": version("jaxlib"),
        "numpyro": version("numpyro"),
        "jax_devices": f"{jax.local_device_count()} x {jax.default_backend()}",
        "r": r_version(),
        "sitefx": sitefx_revision(),
        "per_row": "{chains} chains x {warmup} warm-up / {draws} draws".format(
            **per_row_settings()
        ),
    }


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None]:
    """Write results.md and/or targets.md beside the JSON that pytest-benchmark writes here.

    Wraps pytest-benchmark's own hook, so the JSON exists afterwards; its "nothing to save"
    notice (every selected benchmark skipped) must not become an error.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Not saving anything", PytestBenchmarkWarning)
        result = yield
    json_path = session.config.getoption("benchmark_json", None)
    if json_path is None:
        print("\nbenchmarks: no --benchmark-json given, so no markdown report was written")
    elif Path(json_path).exists():
        for markdown_path in write_markdown(Path(json_path)):
            print(f"\nbenchmarks: wrote {markdown_path}")
    return result


def write_markdown(json_path: Path) -> list[Path]:
    """Write the reports the JSON has benchmarks for; return their paths."""
    results = json.loads(json_path.read_text())
    written = []
    if any("method" in bench.get("extra_info", {}) for bench in results["benchmarks"]):
        written.append(json_path.with_name(MARKDOWN_NAME))
        write_report(json_path, written[-1])
    if has_targets(results):
        written.append(json_path.with_name(TARGETS_NAME))
        write_targets(json_path, written[-1])
    return written


@pytest.fixture(scope="session")
def jax_warm() -> None:
    """Start JAX and run one small NUTS fit, so no benchmark pays for process start-up."""
    data = summaries_scenario("S1").data
    fit_site_effects(data, method="nuts", chains=4, draws=50, warmup=50)
    fit_site_effects(data, method="exact")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform's description)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_total() -> str:
    """Total memory from /proc/meminfo, e.g. ``23.4 GiB``."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "?"


def sitefx_revision() -> str:
    """The git commit of the working tree, and how many files differ from it (read-only)."""
    root = BENCHMARKS.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
    except OSError:
        return "?"
    return f"{head or '?'} + {len(changed)} modified files" if changed else head or "?"


def r_version() -> str:
    """``R version ...`` of the Rscript on PATH, or ``not found``."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return "not found"
    done = subprocess.run(
        [rscript, "-e", "cat(R.version.string)"], capture_output=True, text=True, timeout=60
    )
    return done.stdout.strip() or "not found"
