"""Dask and distributed (``sitefx[dask]``) and pyreadstat (``sitefx[stata]``) are optional:
without them everything but out-of-core reading, work on several workers and Stata or SPSS
files runs, and those say what to install.

Each case runs the command line in a fresh Python in which ``import dask``, ``import
distributed`` and ``import pyreadstat`` fail, as after ``pip install .`` without extras.
"""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.builders import write_frame

ROOT = Path(__file__).resolve().parents[1]
WITHOUT_EXTRAS = (
    "import sys; sys.modules['dask'] = sys.modules['distributed'] = None; "
    "sys.modules['pyreadstat'] = None; "
    "from sitefx.cli import main; sys.exit(main(sys.argv[1:]))"
)
STAR_ROLES = ("--site", "school", "--outcome", "score", "--treatment", "small")


def sitefx_without_extras(*arguments: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS, *map(str, arguments)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_pip_install_without_extras_fits_and_reports_a_summaries_study(tmp_path):
    out = tmp_path / "fit"
    fitted = sitefx_without_extras("fit", "studies/eight_schools", "--out", out, "--quiet")
    assert fitted.returncode == 0, fitted.stderr
    reported = sitefx_without_extras("report", out)
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
    assert_names_the_extra(sitefx_without_extras(*arguments, "--out", tmp_path / "out"), needs)


@pytest.mark.parametrize("suffix", [".dta", ".sav"])
def test_stata_and_spss_files_name_the_stata_extra(tmp_path, suffix):
    schools = pd.read_csv(ROOT / "studies" / "eight_schools" / "eight_schools.csv")
    path = write_frame(schools, tmp_path / f"schools{suffix}")
    roles = ("--site", "school", "--estimate", "effect", "--se", "se")
    result = sitefx_without_extras("fit", path, *roles, "--out", tmp_path / "out")
    assert_names_the_extra(result, "pyreadstat", extra="stata")


def assert_names_the_extra(
    result: subprocess.CompletedProcess, needs: str, extra: str = "dask"
) -> None:
    """Exit 2 with one line naming the missing module and the extra that installs it."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    message = f"needs {needs}, which is not installed: pip install 'sitefx[{extra}]'"
    assert message in result.stderr, result.stderr
