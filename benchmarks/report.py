"""Turn pytest-benchmark's JSON into ``results/results.md``.

Run automatically at the end of the benchmark session (see ``conftest.py``), or by hand::

    .venv/bin/python benchmarks/report.py benchmarks/results/latest.json

Each benchmark's ``extra_info`` says where and how it is shown:

``scenario``, ``method``
    Row labels. ``tables`` lists the tables the benchmark appears in (default ``["main"]``).
``wall_s``
    Wall time to show; without it, the median of pytest-benchmark's rounds.
``min_ess``
    Smallest bulk ESS of mu and tau; ESS per second is ``min_ess / wall time``.
``baseline``, ``ratios``
    The method (same scenario) this one is compared with, and which ratios to show:
    ``"wall"`` (baseline time / this time) and/or ``"ess_per_s"`` (this ESS/s / baseline's).
``summary_row``, ``summary_s``
    When ``summary_row`` is true, add a row "<method> + summary()" whose time adds the
    seconds ``fit.summary()`` took after the fit (``summary_s``).
``mu_error``, ``tau_error``, ``notes``, ``target_s``, ``target_ratio``
    Recovery errors, free text, and targets checked under "Targets".
Other keys (phases, memory, gradients) feed the scaling and gradient tables.
"""

import json
import sys
from collections.abc import Iterable
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
DEFAULT_JSON = BENCHMARKS / "results" / "latest.json"
MARKDOWN_NAME = "results.md"
SUMMARY_SUFFIX = " + summary()"


def main(argv: list[str]) -> None:
    """``report.py [JSON [MARKDOWN]]``: write the markdown report and print its path.

    The markdown goes beside the JSON (``results.md``) unless a path is given.
    """
    json_path = Path(argv[0]) if argv else DEFAULT_JSON
    markdown_path = Path(argv[1]) if len(argv) > 1 else json_path.with_name(MARKDOWN_NAME)
    write_report(json_path, markdown_path)
    print(f"wrote {markdown_path}")


def write_report(json_path: Path, markdown_path: Path) -> None:
    """Read pytest-benchmark's JSON at ``json_path``; write the markdown report."""
    results = json.loads(Path(json_path).read_text())
    rows = benchmark_rows(results["benchmarks"])
    sections = [
        "# sitefx benchmark results",
        machine_section(results),
        main_section(rows),
        targets_section(rows),
        scaling_section(rows),
        gradient_section(rows),
        f"Raw data: `{Path(json_path).name}` (pytest-benchmark JSON, same run).",
    ]
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text("\n\n".join(section for section in sections if section) + "\n")


# --- Rows ---------------------------------------------------------------------------------------


def benchmark_rows(benchmarks: list[dict]) -> list[dict]:
    """One dict per benchmark (extra_info + wall time), plus the derived "+ summary()" rows."""
    rows = []
    for bench in benchmarks:
        info = dict(bench.get("extra_info", {}))
        if "method" not in info:
            continue
        info.setdefault("tables", ["main"])
        info.setdefault("wall_s", bench["stats"]["median"])
        info["rounds"] = bench["stats"]["rounds"]
        rows.append(info)
        if info.get("summary_row"):
            rows.append(
                {
                    "scenario": info["scenario"],
                    "method": info["method"] + SUMMARY_SUFFIX,
                    "tables": ["main"],
                    "wall_s": info["wall_s"] + info["summary_s"],
                    "baseline": info["baseline"] + SUMMARY_SUFFIX if info.get("baseline") else None,
                    "ratios": ["wall"] if "wall" in info.get("ratios", []) else [],
                    "notes": "the fit's median plus one fit.summary() call",
                    "rounds": 1,
                }
            )
    for row in rows:
        if row.get("min_ess") is not None:
            row["ess_per_s"] = row["min_ess"] / row["wall_s"]
    return rows


def find_row(rows: Iterable[dict], scenario: str, method: str | None) -> dict | None:
    """The row with this scenario and method, or None."""
    return next((r for r in rows if r["scenario"] == scenario and r["method"] == method), None)


def scenario_key(row: dict) -> str:
    """Sort key putting rows in scenario order (S1, S2, ...), stable within a scenario."""
    return row["scenario"].split()[0]


def ratio(row: dict, rows: list[dict], kind: str) -> float | None:
    """Speed-up of ``row`` over its baseline: ``"wall"`` or ``"ess_per_s"``; None if n/a."""
    if kind not in row.get("ratios", []):
        return None
    baseline = find_row(rows, row["scenario"], row.get("baseline"))
    if baseline is None:
        return None
    if kind == "wall":
        return baseline["wall_s"] / row["wall_s"]
    if row.get("ess_per_s") and baseline.get("ess_per_s"):
        return row["ess_per_s"] / baseline["ess_per_s"]
    return None


# --- Sections -------------------------------------------------------------------------------


def machine_section(results: dict) -> str:
    """Machine, library versions and date of the run."""
    info = results.get("machine_info", {}).get("sitefx_bench", {})
    items = [
        ("Date", info.get("date", results.get("datetime", "?"))),
        ("sitefx (git)", info.get("sitefx", "?")),
        ("CPU", info.get("cpu_model", "?")),
        ("Logical cores", info.get("cores", "?")),
        ("Memory", info.get("memory", "?")),
        ("Python", info.get("python", "?")),
        ("JAX / jaxlib", f"{info.get('jax', '?')} / {info.get('jaxlib', '?')}"),
        ("numpyro", info.get("numpyro", "?")),
        ("JAX devices", info.get("jax_devices", "?")),
        ("R", info.get("r", "not found")),
        ("Per-row baseline settings", info.get("per_row", "?")),
    ]
    lines = ["## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in items]
    return "\n".join(lines)


def main_section(rows: list[dict]) -> str:
    """The headline table: every method per scenario with its ratios against the baseline."""
    header = [
        "Scenario",
        "Method",
        "Wall time",
        "Min ESS/s (mu, tau)",
        "Speed-up (wall)",
        "ESS/s ratio",
        "abs err mu",
        "abs err tau",
        "Notes",
    ]
    body = []
    for row in sorted((r for r in rows if "main" in r["tables"]), key=scenario_key):
        body.append(
            [
                row["scenario"],
                row["method"],
                duration(row["wall_s"])
                + ("" if row["rounds"] == 1 else f" (median of {row['rounds']})"),
                number(row.get("ess_per_s")),
                times(ratio(row, rows, "wall")),
                times(ratio(row, rows, "ess_per_s")),
                number(row.get("mu_error")),
                number(row.get("tau_error")),
                row.get("notes", ""),
            ]
        )
    intro = (
        "## Fast core vs baselines\n\n"
        "Wall time is the median over rounds of the timed call, after a warm-up fit in the "
        "same process (imports and JAX start-up excluded; NUTS's JIT compilation included, "
        "since every fit compiles). ESS/s uses the smallest bulk ESS of mu and tau. Ratios "
        "compare with the scenario's baseline (NUTS for S1/S2, per-row NUTS for S3); a ratio "
        "above 1 favours the row. Recovery errors are |posterior mean - truth| (none for the "
        "eight schools, whose truth is unknown)."
    )
    return intro + "\n\n" + markdown_table(header, body)


def targets_section(rows: list[dict]) -> str:
    """Pass/fail of the targets: exact < 50 ms per fit; collapsed ESS/s >= 50x per-row."""
    lines = ["## Targets", ""]
    for row in rows:
        if row.get("target_s") is not None:
            verdict = "meets" if row["wall_s"] < row["target_s"] else "MISSES"
            lines.append(
                f"- {row['scenario']}, {row['method']}: {duration(row['wall_s'])} per fit, "
                f"{verdict} the {duration(row['target_s'])} target."
            )
        if row.get("target_ratio") is not None:
            achieved = ratio(row, rows, "ess_per_s")
            verdict = (
                "n/a"
                if achieved is None
                else ("meets" if achieved >= row["target_ratio"] else "MISSES")
            )
            lines.append(
                f"- {row['scenario']}, {row['method']}: ESS/s {times(achieved)} the baseline's, "
                f"{verdict} the {row['target_ratio']:g}x target."
            )
        if row.get("agreement_mcse"):
            parts = ", ".join(f"{k} {v:.2f}" for k, v in row["agreement_mcse"].items())
            lines.append(
                f"- {row['scenario']}: |exact mean - NUTS mean| / MCSE: {parts} "
                "(below ~3 = agreement within Monte-Carlo error)."
            )
    return "\n".join(lines) if len(lines) > 2 else ""


def scaling_section(rows: list[dict]) -> str:
    """Collapsed fits in fresh processes: phases, per-site sampling cost and peak memory."""
    scaled = [r for r in rows if "scaling" in r["tables"]]
    if not scaled:
        return ""
    header = [
        "Scenario",
        "Sites",
        "Students",
        "Cov.",
        "Fit",
        "Statistics",
        "Sampling",
        "Site effects",
        "Other",
        "Sampling / site",
        "Leapfrog steps (kept)",
        "Peak RSS import / data / fit",
    ]
    body = []
    for row in scaled:
        phases = row["phases_s"]
        peak = row["peak_rss_mb"]
        body.append(
            [
                row["scenario"],
                f"{row['n_sites']:,}",
                f"{row['n_records']:,}",
                str(row["n_covariates"]),
                duration(row["wall_s"]),
                duration(phases.get("statistics", 0.0)),
                duration(phases.get("sampling", 0.0)),
                duration(phases.get("site_effects", 0.0)),
                duration(phases.get("other", 0.0)),
                duration(phases.get("sampling", 0.0) / row["n_sites"]),
                f"{row['leapfrog_steps']:,}",
                f"{peak['import']:,.0f} / {peak['data']:,.0f} / {peak['fit']:,.0f} MiB",
            ]
        )
    intro = (
        "## Collapsed model: cost of students vs sites (fresh process per fit)\n\n"
        "Whole `SiteEffects().fit` (4 chains x 1000/1000) in a new Python process, split into "
        "its phases; peak RSS is the process's high-water mark (VmHWM) after importing sitefx, "
        "after simulating the data and after the fit. "
        "Sampling time includes JIT compilation (a few seconds), so its per-site figure is "
        "only a rough guide; the gradient table below isolates the per-step cost."
    )
    return intro + "\n\n" + markdown_table(header, body)


def gradient_section(rows: list[dict]) -> str:
    """Time of one log-density gradient (one leapfrog step), per site and per student."""
    grads = [r for r in rows if "gradient" in r["tables"]]
    if not grads:
        return ""
    header = ["Scenario", "Model", "Sites", "Students", "Gradient", "Per site", "Per 1k students"]
    body = []
    for row in grads:
        step_s = row["wall_s"] / row["steps_per_call"]
        body.append(
            [
                row["scenario"],
                row["method"],
                f"{row['n_sites']:,}",
                f"{row['n_records']:,}",
                duration(step_s),
                duration(step_s / row["n_sites"]),
                duration(step_s / row["n_records"] * 1000),
            ]
        )
    intro = (
        "## Gradient cost (one leapfrog step)\n\n"
        "Time of one log-density gradient of the model NUTS samples, from a compiled loop of "
        "gradient evaluations (median call / steps per call), as inside the sampler. The "
        "collapsed model's cost should follow sites, not students."
    )
    return intro + "\n\n" + markdown_table(header, body)


# --- Formatting -----------------------------------------------------------------------------


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in body]
    return "\n".join(lines)


def duration(seconds: float | None) -> str:
    """Seconds in a readable unit: ``850 µs``, ``12.3 ms``, ``4.56 s``, ``3.2 min``."""
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    if seconds < 120:
        return f"{seconds:.3g} s"
    return f"{seconds / 60:.3g} min"


def number(value: float | None) -> str:
    """Three significant digits (thousands in full, with commas), or ``-``."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def times(value: float | None) -> str:
    """A ratio such as ``12.3x``, or ``-``."""
    if value is None:
        return "-"
    return f"{value:,.0f}x" if value >= 100 else f"{value:.3g}x"


if __name__ == "__main__":
    main(sys.argv[1:])
