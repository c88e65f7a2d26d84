"""Builders shared by the tests, each named for what it builds: paths to the bundled studies and
the stored references, small data sets, files and study folders written to a test's folder,
command-line runs, and the comparisons of a fit with a reference that several files make.

Fixtures built from these (bundled studies and their fits, the ``cli`` runner) are in
tests/conftest.py.
"""

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import arviz_stats as azs
import numpy as np
import pandas as pd
import pyreadstat
import pytest
from scipy import stats

import sitefx
from sitefx.cli import main
from sitefx.data.panel import GrowthPanel
from sitefx.data.schema import DataAccounting
from sitefx.report.folders import write_figure

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "studies"
REFERENCE = Path(__file__).resolve().parent / "reference"
# The bundled studies' folder names.
BUNDLED = sorted(path.name for path in STUDIES.iterdir() if (path / "study.toml").is_file())
# The eight schools' estimates and standard errors (studies/eight_schools), as arrays.
EIGHT_SCHOOLS_ESTIMATES = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])
EIGHT_SCHOOLS_SES = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])
# Column roles of the simulated arm counts in tests/reference/binary_counts.csv.
ARM_COUNTS_ROLES = {
    "site": "school",
    "events_treated": "pass_t",
    "n_treated": "n_t",
    "events_control": "pass_c",
    "n_control": "n_c",
}


# Bundled studies and stored references.


def bundled_study(name: str, **options) -> sitefx.Study:
    """The bundled study ``studies/<name>``, loaded with its study.toml roles and ``options``."""
    return sitefx.load(STUDIES / name, **options)


def reference(name: str) -> dict:
    """A stored reference result, tests/reference/<name>.json."""
    return json.loads((REFERENCE / f"{name}.json").read_text())


# Small data sets.


def dense_growth_panel(
    times: list[np.ndarray],
    coefficients: np.ndarray,
    scale_tril: np.ndarray,
    sigma: float,
    *,
    interruption: float | None = None,
) -> tuple[GrowthPanel, np.ndarray]:
    """Persons scored at ``times`` (one array each, in one site), drawn from the long growth
    model's dense normal: mean ``X_i c_i`` (``X_i = [1, t]``, with the step ``t >=
    interruption`` as a third column when given), covariance ``Z_i L L' Z_i' + sigma^2 I``.
    Returns the panel and each person's exact log density of their scores, from scipy."""
    rng = np.random.default_rng(0)
    expected, scores, person = [], [], []
    for i, t in enumerate(times):
        x = np.column_stack([np.ones_like(t), t])
        if interruption is not None:
            x = np.column_stack([x, (t >= interruption).astype(float)])
        z = x[:, :2]
        covariance = z @ scale_tril @ scale_tril.T @ z.T + sigma**2 * np.eye(len(t))
        y = rng.multivariate_normal(x @ coefficients[i], covariance)
        expected.append(stats.multivariate_normal(x @ coefficients[i], covariance).logpdf(y))
        scores.append(y)
        person += [i] * len(t)
    panel = GrowthPanel(
        outcome=np.concatenate(scores),
        time=np.concatenate(times),
        person_index=np.array(person),
        treatment=np.arange(len(times)) % 2,
        site_index=np.zeros(len(times), int),
        site=("a",),
        accounting=DataAccounting(rows_read=len(person)),
        interruption=None if interruption is None else np.full(len(times), interruption),
    )
    return panel, np.array(expected)


def records_frame(
    n_sites: int = 3, per_site: int = 6, **columns: Callable | object
) -> pd.DataFrame:
    """Records ``school``, ``t`` (alternating 0/1 in each site) and ``y`` (standard normal,
    seed 0); ``columns`` replace or add columns (a callable gets the frame)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        [(f"s{j}", i % 2, rng.normal()) for j in range(n_sites) for i in range(per_site)],
        columns=["school", "t", "y"],
    )
    for name, value in columns.items():
        frame[name] = value(frame) if callable(value) else value
    return frame


# Files and study folders written to a test's folder.


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` written to ``path`` in the format its suffix names (.csv and .csv.gz without
    the index column, .parquet, Stata's .dta, SPSS's .sav); returns the path."""
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".csv.gz") else path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".csv.gz":
        with gzip.open(path, "wt") as handle:
            frame.to_csv(handle, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix == ".dta":
        pyreadstat.write_dta(frame, str(path))
    elif suffix == ".sav":
        pyreadstat.write_sav(frame, str(path))
    else:
        raise ValueError(f"no writer for {path.name}")
    return path


def text_file(content: str | bytes, suffix: str = ".csv") -> Callable[[Path], Path]:
    """Writes ``content`` (text is UTF-8 encoded) to data<suffix> in the folder it is given."""

    def write(folder: Path) -> Path:
        path = folder / f"data{suffix}"
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    return write


def frame_file(frame: pd.DataFrame, suffix: str = ".csv") -> Callable[[Path], Path]:
    """Writes ``frame`` to data<suffix> (see ``write_frame``) in the folder it is given."""

    def write(folder: Path) -> Path:
        return write_frame(frame, folder / f"data{suffix}")

    return write


def study_folder(toml: str, data: str | None = None) -> Callable[[Path], Path]:
    """Writes study.toml (and data.csv, if given) into the folder it is given; returns it."""

    def write(folder: Path) -> Path:
        (folder / "study.toml").write_text(toml)
        if data is not None:
            (folder / "data.csv").write_text(data)
        return folder

    return write


# The command line.


def flags(roles: dict[str, str]) -> list[str]:
    """Command-line flags for column ``roles``: {"site": "school"} -> ["--site", "school"]
    (a role's underscores are the flag's dashes: events_treated -> --events-treated)."""
    return [
        part for role, column in roles.items() for part in (f"--{role.replace('_', '-')}", column)
    ]


@dataclass(frozen=True)
class CliRun:
    """What one ``sitefx`` command did: its exit code and what it printed."""

    code: int
    out: str
    err: str


def svg_text(figure, tmp_path: Path) -> str:
    """The SVG of ``figure`` (its text kept as text, as ``forest.svg`` is written); the
    figure is cleared."""
    write_figure(figure, tmp_path / "figure.svg", dpi=100)
    figure.clear()
    return (tmp_path / "figure.svg").read_text(encoding="utf-8")


def run_cli(capsys: pytest.CaptureFixture, *arguments: str | Path) -> CliRun:
    """``sitefx ARGUMENTS`` through the in-process entry point (paths may be Path objects),
    with what it printed (output captured before it is set aside)."""
    capsys.readouterr()
    code = main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return CliRun(code, captured.out, captured.err)


# Comparisons of a fit with a reference.

# Tolerances are Monte-Carlo errors: a posterior mean from MCMC differs from the exact value by
# about its MCSE, so comparisons allow Z of them.
Z = 4.0


def monte_carlo_error(fit, name, method="mean"):
    """The Monte-Carlo standard error (``method``: of the mean, sd, ...) of each element of
    the fit's posterior variable ``name``."""
    posterior = fit.posterior_["posterior"].to_dataset()[[name]]
    return azs.mcse(posterior, method=method)[name].values


def assert_agrees_with_brms(fit, rows, *, z=4.0, sd_rtol=0.1):
    """Each reference row (``parameter``, ``mean``, ``sd``, ``mcse_mean``, as stored from brms)
    against the fit: means within ``z`` combined Monte-Carlo errors, SDs within ``sd_rtol``.
    Parameters may name an element, e.g. ``beta[female]``."""
    posterior = fit.posterior_["posterior"].to_dataset()
    table = fit.summary().set_index("parameter")
    for row in rows:
        name = row["parameter"]
        variable, _, element = name.partition("[")
        mcse = azs.mcse(posterior[[variable]], method="mean")[variable]
        if element:
            (dim,) = [d for d in mcse.dims]
            mcse = mcse.sel({dim: element.rstrip("]")})
        tolerance = z * np.hypot(float(mcse), row["mcse_mean"])
        assert abs(table.at[name, "mean"] - row["mean"]) < tolerance, name
        assert table.at[name, "sd"] == pytest.approx(row["sd"], rel=sd_rtol), name


def assert_site_effects_near(fit, theta, site_key, *, sds, sd_rtol=None):
    """Each site's effect against a reference ``theta`` (lists ``mean``, ``sd`` and the site
    labels under ``site_key``): posterior means within ``sds`` posterior SDs of the
    reference's, and (if ``sd_rtol``) posterior SDs within ``sd_rtol`` of the reference's."""
    posterior = fit.posterior_["posterior"]["theta"].sel(site=theta[site_key])
    mean = posterior.mean(("chain", "draw")).values
    sd = posterior.std(("chain", "draw")).values
    np.testing.assert_array_less(np.abs(mean - np.array(theta["mean"])), sds * sd)
    if sd_rtol is not None:
        np.testing.assert_allclose(sd, theta["sd"], rtol=sd_rtol)


def assert_same_posterior(fit_a, fit_b, names, *, z=4.5):
    """Two fits of the same posterior (e.g. collapsed and per-record models): the means of each
    variable in ``names`` (every element) agree within ``z`` combined Monte-Carlo errors."""
    a = fit_a.posterior_["posterior"].to_dataset()
    b = fit_b.posterior_["posterior"].to_dataset()
    for name in names:
        mcse = np.hypot(
            azs.mcse(a[[name]], method="mean")[name], azs.mcse(b[[name]], method="mean")[name]
        )
        difference = a[name].mean(("chain", "draw")) - b[name].mean(("chain", "draw"))
        np.testing.assert_array_less(np.abs(difference.values), z * mcse.values, err_msg=name)


def assert_draw_means_match_exact(draws, exact, names, *, z):
    """The draws' mean of each variable in ``names`` (every element) within ``z`` of its
    Monte-Carlo errors of the exact posterior mean. ``draws`` is a fit's posterior group,
    ``exact`` an exact posterior (a fit's ``exact_``)."""
    draws = draws.to_dataset()
    for name in names:
        mcse = azs.mcse(draws[[name]], method="mean")[name].values
        difference = draws[name].mean(("chain", "draw")).values - exact.mean(name)
        np.testing.assert_array_less(np.abs(difference), z * mcse, err_msg=name)


def assert_refused_in_one_line(run: CliRun, message: str) -> None:
    """The command exited with 2 and one line on standard error, ``sitefx: error: ...``,
    holding ``message`` (never a traceback)."""
    error = run.err
    assert run.code == 2, error
    assert error.startswith("sitefx: error: ") and message in error, error
    assert error.count("\n") == 1 and len(error.strip().splitlines()) == 1, error
    assert "Traceback" not in error
