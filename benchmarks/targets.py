"""Issue 19's speed targets and their table, ``results/targets.md``.

``./run bench`` runs ``test_bench_targets.py``; at the end of the session ``conftest.py``
turns its pytest-benchmark JSON into ``targets.md``. To rebuild the table from a JSON::

    .venv/bin/python benchmarks/targets.py benchmarks/results/targets.json

Each benchmark stores its figures in ``extra_info["targets"]``: a mapping from a target's key
(see :data:`TARGETS`) to the sides it measured, ``"sitefx"`` and/or ``"baseline"``, each a
:func:`figure`. A target's figures may come from several benchmarks (sitefx and lme4 run in
different tests); a target with a side missing (lme4 skipped) is shown as not judged.
"""

import json
import operator
import sys
from dataclasses import dataclass
from pathlib import Path

from report import duration, machine_section, markdown_table, number

BENCHMARKS = Path(__file__).resolve().parent
DEFAULT_JSON = BENCHMARKS / "results" / "targets.json"
TARGETS_NAME = "targets.md"
OPERATORS = {"<": operator.lt, "<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Target:
    """A goal on the sitefx figure (``on="value"``) or on the ratio with its baseline.

    The ratio is sitefx / baseline, or baseline / sitefx (a speed-up) when ``speedup``.
    ``limit`` None: a reference row, shown but not judged.
    """

    key: str
    measure: str
    on: str = "ratio"
    op: str = "<="
    limit: float | None = None
    speedup: bool = False

    def ratio(self, sitefx: dict | None, baseline: dict | None) -> float | None:
        """The ratio of the two figures, or None without both."""
        if sitefx is None or baseline is None:
            return None
        top, bottom = (baseline, sitefx) if self.speedup else (sitefx, baseline)
        return top["value"] / bottom["value"]

    def goal(self, unit: str) -> str:
        """The goal as text, e.g. ``< 0.5 s`` or ``<= 0.4x``."""
        if self.limit is None:
            return "(reference)"
        limit = f"{self.limit:g}x" if self.on == "ratio" else format_value(self.limit, unit)
        return f"{self.op} {limit}"

    def verdict(self, sitefx: dict | None, baseline: dict | None) -> str:
        """``met``, ``MISSED``, ``-`` (a reference) or why it cannot be judged."""
        if self.limit is None:
            return "-"
        if self.on == "value":
            achieved = sitefx["value"] if sitefx else None
        else:
            achieved = self.ratio(sitefx, baseline)
        if achieved is None:
            return "not judged: " + ("no sitefx figure" if sitefx is None else "no baseline")
        return "met" if OPERATORS[self.op](achieved, self.limit) else "**MISSED**"


TARGETS = (
    Target("T1", "`sitefx --help`, whole process", on="value", op="<", limit=0.5),
    Target(
        "T2",
        "`sitefx fit studies/eight_schools` (exact), whole process",
        on="value",
        op="<",
        limit=2,
    ),
    Target(
        "T3",
        "`sitefx fit studies/eight_schools --method nuts`: 2nd process (filled cache) / 1st "
        "(empty cache)",
        limit=0.4,
    ),
    Target("T4", "eight schools: 9-point NUTS prior grid (3 mu x 3 tau) / one NUTS fit", limit=3),
    Target("T5", "S3 (100k x 100 sites x 10 cov.): sitefx full posterior / lme4 REML", limit=0.5),
    Target("T6", "S4 (1M x 1,000 sites x 20 cov.): sitefx full posterior / lme4 REML", limit=0.2),
    Target("T6 memory", "S4: sitefx peak resident memory (VmHWM)", "value", "<", 2048),
    Target(
        "T7",
        "1,000 site summaries, `sitefx fit`: speed-up of exact over `--method nuts`",
        op=">=",
        limit=10,
        speedup=True,
    ),
    Target("B1", "per-row numpyro model: collapsed ESS/s / per-row ESS/s (same data)"),
)


def figure(value: float, unit: str = "s", label: str = "", notes: str = "") -> dict:
    """One measured figure: ``value`` in ``unit`` (``s``, ``MiB`` or ``ESS/s``)."""
    return {"value": value, "unit": unit, "label": label, "notes": notes}


def record(benchmark: object, target: str, **sides: dict) -> None:
    """Store ``sitefx=`` and/or ``baseline=`` figures of ``target`` in the benchmark's JSON."""
    if target not in {t.key for t in TARGETS}:
        raise KeyError(target)
    benchmark.extra_info.setdefault("targets", {}).setdefault(target, {}).update(sides)


def has_targets(results: dict) -> bool:
    """Whether a pytest-benchmark JSON holds target figures."""
    return any("targets" in bench.get("extra_info", {}) for bench in results["benchmarks"])


def collect(results: dict) -> dict[str, dict[str, dict]]:
    """Every target's sides, gathered over the benchmarks of a pytest-benchmark JSON."""
    sides: dict[str, dict[str, dict]] = {}
    for bench in results["benchmarks"]:
        for key, figures in bench.get("extra_info", {}).get("targets", {}).items():
            sides.setdefault(key, {}).update(figures)
    return sides


def write_targets(json_path: Path, markdown_path: Path) -> None:
    """Read pytest-benchmark's JSON at ``json_path``; write the targets table."""
    results = json.loads(Path(json_path).read_text())
    sections = [
        "# sitefx speed targets (issue 19)",
        "Written by `./run bench` (`benchmarks/test_bench_targets.py`); every figure below "
        "comes from the same run, on the same data.",
        targets_table(collect(results)),
        NOTES,
        machine_section(results),
        f"Raw data: `{Path(json_path).name}` (pytest-benchmark JSON, same run).",
    ]
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text("\n\n".join(sections) + "\n")


def targets_table(sides: dict[str, dict[str, dict]]) -> str:
    """The table: target, measure, sitefx and baseline figures, ratio, goal, verdict, notes."""
    header = ["Target", "Measure", "sitefx", "Baseline", "Ratio", "Goal", "Result", "Notes"]
    body = []
    for target in TARGETS:
        figures = sides.get(target.key, {})
        if not figures:
            continue
        sitefx, baseline = figures.get("sitefx"), figures.get("baseline")
        unit = (sitefx or baseline)["unit"]
        ratio = target.ratio(sitefx, baseline)
        notes = [f"{name}: {f['notes']}" for name, f in figures.items() if f.get("notes")]
        body.append(
            [
                target.key,
                target.measure,
                cell(sitefx),
                cell(baseline) if baseline or target.on == "value" else "not run",
                "-" if ratio is None else f"{ratio:.3g}x",
                target.goal(unit),
                target.verdict(sitefx, baseline),
                "; ".join(notes),
            ]
        )
    return markdown_table(header, body)


def cell(figure: dict | None) -> str:
    """A figure with its label, e.g. ``1.23 s (warm, median of 3)``."""
    if figure is None:
        return "-"
    text = format_value(figure["value"], figure["unit"])
    return f"{text} ({figure['label']})" if figure.get("label") else text


def format_value(value: float, unit: str) -> str:
    """Seconds as a duration, anything else as a number with its unit."""
    if unit == "s":
        return duration(value)
    return f"{number(value)} {unit}"


NOTES = """\
How each row is measured (like with like):

* **T1, T2, T3, T7** are whole-process wall times of the `.venv/bin/sitefx` command as a user
  runs it (Python start-up, imports, reading, fit, writing every file to a fresh temporary
  `--out`; output captured, progress bars as by default). "Cold" is a process whose
  compilation cache (`SITEFX_CACHE_DIR`) is a fresh empty folder; "warm" is a later process
  on the same folder. T2 and T7 are judged warm; the cold figures are in the notes.
* **T4** runs in one fresh process (`grid_in_subprocess.py`): one NUTS fit of the eight
  schools, then `prior_grid` over the fit's priors and two alternatives of each (3 mu x 3 tau
  = 9 NUTS fits, the fit's own pair included), as `sitefx sensitivity --method nuts
  --alt-mu A --alt-mu B --alt-tau C --alt-tau D` runs its grid after its fit. The ratio is
  the grid's time over the fit's time in the same process (imports and loading excluded).
  Its cache was filled first by `sitefx fit studies/eight_schools --method nuts` (the fit's
  own priors, not the grid's alternatives), as when a user runs `fit`, then `sensitivity`.
* **T5, T6**: the simulated records (fixed seed) are written once to a temporary CSV (for R)
  and a Parquet file with the same values (for sitefx: its strict CSV reader takes about a
  minute and 4 GB on S4's million rows, which would swamp the fit). sitefx: a fresh Python
  process reads the file with `sitefx.load` and runs `SiteEffects().fit` (4 chains x
  1000/1000, the full posterior incl. site effects); the figure is the `fit` call (data in
  memory to full posterior) in a process with a filled cache. lme4: `Rscript
  r/lmer_records.R`, the figure is the `lmer()` call (REML point estimates), the CSV read
  by `data.table::fread` (else `read.csv`). Each side's whole-process wall, start-up/imports
  and reading times are in the notes. T6 memory is the larger VmHWM of the two sitefx
  processes (cold and warm), reading included; the goal 2 GB is read as 2 GiB.
* **B1** (reference, no goal): sitefx's per-row numpyro model (`collapse=False`, the same
  priors, a plain numpyro likelihood over every student) against the collapsed model, both in
  the benchmark process on the same reduced S3 (10k students, where the per-row model
  finishes in about a minute), JIT compilation included in both; compared by ESS per second
  (smallest bulk ESS of mu and tau), since the per-row run is much shorter.
* The machine is shared and has 2 cores; single runs of a few seconds vary by 10-20%."""


def main(argv: list[str]) -> None:
    """``targets.py [JSON [MARKDOWN]]``: write the targets table and print its path."""
    json_path = Path(argv[0]) if argv else DEFAULT_JSON
    markdown_path = Path(argv[1]) if len(argv) > 1 else json_path.with_name(TARGETS_NAME)
    write_targets(json_path, markdown_path)
    print(f"wrote {markdown_path}")


if __name__ == "__main__":
    main(sys.argv[1:])
