"""Dask and distributed are optional (``sitefx[dask]``): without them everything but
out-of-core reading and work on several workers runs, and those two say what to install.

Each case runs the command line in a fresh Python in which ``import dask`` and ``import
distributed`` fail, as in an environment without the extra.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WITHOUT_DASK = (
    "import sys; sys.modules['dask'] = sys.modules['distributed'] = None; "
    "from sitefx.cli import main; sys.exit(main(sys.argv[1:]))"
)
STAR_ROLES = ("--site", "school", "--outcome", "score", "--treatment", "small")


def sitefx_without_dask(*arguments: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_DASK, *map(str, arguments)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_a_fit_and_its_report_need_no_dask(tmp_path):
    out = tmp_path / "fit"
    fitted = sitefx_without_dask("fit", "studies/eight_schools", "--out", out)
    assert fitted.returncode == 0, fitted.stderr
    reported = sitefx_without_dask("report", out)
    assert reported.returncode == 0, reported.stderr
    assert {"posterior.nc", "summary.csv", "forest.png", "report.html"} <= {
        path.name for path in out.iterdir()
    }


@pytest.mark.parametrize(
    ("arguments", "needs"),
    [
        (
            ("fit", "studies/star/star.csv.gz", "--engine", "dask", *STAR_ROLES),
            "dask",
        ),
        (("fit-many", "studies/eight_schools", "--workers", "2"), "distributed"),
    ],
    ids=["out of core", "several workers"],
)
def test_what_needs_dask_names_the_extra_to_install(tmp_path, arguments, needs):
    result = sitefx_without_dask(*arguments, "--out", tmp_path / "out")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"needs {needs}, which is not installed: pip install 'sitefx[dask]'" in result.stderr
