"""The command line: end-to-end fits, exit codes, messages without tracebacks."""

import json
import subprocess
import sys

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

import sitefx.report
from sitefx.cli import main
from sitefx.report.numbers import NAMED_SITES, SHOWN_ENDS
from sitefx.report.plots import UNNAMED_SIZE
from sitefx.report.sensitivity import sensitivity_warnings
from sitefx.testing import simulate_site_summaries
from tests.builders import STUDIES, write_frame

RECORD_ROLES = ["--outcome", "score", "--treatment", "small", "--site", "school"]
FAST = ["--draws", "300", "--warmup", "300", "--chains", "2", "--quiet"]


def test_fit_eight_schools_end_to_end(tmp_path):
    """The real console entry point, as a user runs it."""
    out = tmp_path / "eight"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sitefx",
            "fit",
            str(STUDIES / "eight_schools"),
            "--out",
            str(out),
            "--draws",
            "300",
            "--warmup",
            "300",
            "--seed",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "theta[A]" in result.stdout and "tau ~ half-normal(11)" in result.stdout
    assert "rows read 8, used 8, dropped 0" in result.stdout
    assert "In a new school we expect an effect of" in result.stdout
    assert sorted(path.name for path in out.iterdir()) == [
        "estimands.csv",
        "forest.png",
        "forest.svg",
        "manifest.json",
        "posterior.nc",
        "sites.csv",
        "summary.csv",
    ]
    table = pd.read_csv(out / "summary.csv")
    assert table["parameter"].iloc[0] == "mu" and len(table) == 11
    assert pd.read_csv(out / "sites.csv")["site"].tolist() == list("ABCDEFGH")

    fit_tables = {name: (out / name).read_bytes() for name in ("estimands.csv", "sites.csv")}
    report = subprocess.run(
        [sys.executable, "-m", "sitefx", "report", str(out), "--threshold", "5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr
    # its own threshold: the report and its tables go to report/, the fit's tables stay
    assert {name: (out / name).read_bytes() for name in fit_tables} == fit_tables
    page = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "had an effect above 5 SAT-V points" in page
    assert page.count("data:image/png;base64,") == 5  # self-contained: plots embedded
    markdown = (out / "report" / "report.md").read_text(encoding="utf-8")
    assert "](figures/forest.png)" in markdown
    estimands = pd.read_csv(out / "report" / "estimands.csv").set_index("estimand")
    assert estimands.loc["share_above", "meaning"].endswith("above 5")
    again = subprocess.run(  # the fit's folder is still a complete, unedited fit
        [sys.executable, "-m", "sitefx", "report", str(out)], capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert {name: (out / name).read_bytes() for name in fit_tables} == fit_tables


def test_a_fit_of_many_sites_prints_and_draws_them_in_bounded_space(tmp_path, cli):
    """Above NAMED_SITES sites the printed table shows the ends of theta, and forest.png and
    the report's site plots keep a fixed size; every site is in summary.csv and sites.csv."""
    n_sites = NAMED_SITES + 50
    data, _truth = simulate_site_summaries(n_sites, seed=3)
    frame = pd.DataFrame({"site": data.site, "d": data.estimate, "se": data.se})
    path = write_frame(frame, tmp_path / "many.csv")
    out = tmp_path / "out"
    run = cli("fit", path, "--site", "site", "--estimate", "d", "--se", "se", "--out", out)
    assert run.code == 0, run.err
    assert f"... {n_sites - 2 * SHOWN_ENDS} more rows of theta" in run.out
    assert f"theta[site {n_sites}]" in run.out and "theta[site 75]" not in run.out
    assert len(pd.read_csv(out / "sites.csv")) == n_sites
    assert "theta[site 75]" in set(pd.read_csv(out / "summary.csv")["parameter"])
    inches = np.array(UNNAMED_SIZE)
    assert matplotlib.image.imread(out / "forest.png").shape[:2] == tuple(150 * inches[::-1])
    assert cli("report", out).code == 0
    for stem in ("forest", "ranks"):
        image = matplotlib.image.imread(out / "figures" / f"{stem}.png")
        assert image.shape[:2] == tuple(130 * inches[::-1])


def test_report_refuses_a_folder_without_a_saved_fit(tmp_path, cli):
    run = cli("report", tmp_path)
    assert run.code == 2 and "no such file" in run.err
    (tmp_path / "posterior.nc").write_text("not netcdf")
    run = cli("report", tmp_path)
    assert run.code == 2 and "not a sitefx posterior file" in run.err


def test_report_refuses_a_negative_outcome_sd_and_an_infinite_threshold(tmp_path, cli):
    study = STUDIES / "eight_schools"
    assert cli("fit", study, "--out", tmp_path, "--quiet", "--draws", "100").code == 0
    run = cli("report", tmp_path, "--outcome-sd", "-1")
    assert run.code == 2 and "must be > 0" in run.err
    run = cli("report", tmp_path, "--threshold", "inf")
    assert run.code == 2 and "finite" in run.err
    assert cli("fit", study, "--out", tmp_path, "--threshold", "nan").code == 2


def test_prior_flags_are_the_priors_stored_with_the_fit(tmp_path, cli):
    priors = ["--prior-tau", "half-cauchy(5)", "--prior-mu", "normal(0, 20)"]
    assert cli("fit", STUDIES / "eight_schools", "--out", tmp_path, *priors, *FAST).code == 0
    import sitefx

    tree = sitefx.load_datatree(tmp_path / "posterior.nc")
    assert tree.attrs["prior_tau"] == "half-cauchy(5)" and tree.attrs["prior_mu"] == "normal(0, 20)"


def test_a_records_csv_fits_with_role_flags_and_named_treatment_levels(tmp_path, cli):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "school": np.repeat(["a", "b", "c", "d"], 20),
            "arm": np.tile(np.repeat(["coached", "control"], 10), 4),
            "score": rng.normal(size=80),
            "age": rng.normal(size=80),
        }
    )
    path = write_frame(frame, tmp_path / "students.csv")
    roles = ["--outcome", "score", "--treatment", "arm", "--site", "school", "--covariates", "age"]
    levels = ["--treatment-levels", "coached,control"]
    assert cli("fit", path, "--out", tmp_path / "out", *roles, *levels, *FAST).code == 0
    assert (tmp_path / "out" / "forest.png").is_file()


def scores_with_two_missing(tmp_path):
    """A records CSV (3 schools, ``small`` the treatment) whose ``score`` is missing at data
    rows 5 and 10."""
    frame = pd.DataFrame(
        {
            "school": np.repeat(["a", "b", "c"], 6),
            "small": np.tile([0, 0, 0, 1, 1, 1], 3),
            "score": np.arange(18.0),
        }
    )
    frame.loc[[4, 9], "score"] = np.nan  # data rows 5 and 10
    return write_frame(frame, tmp_path / "bad.csv")


def test_a_missing_outcome_exits_2_naming_its_rows_and_writes_nothing(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sitefx",
            "fit",
            str(scores_with_two_missing(tmp_path)),
            "--out",
            str(tmp_path / "o"),
            *RECORD_ROLES,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "column 'score' has 2 missing or non-finite values at rows 5, 10" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--outcome", "points", "--treatment", "small", "--site", "school"], "'points'"),
        ([*RECORD_ROLES, "--prior-tau", "normal(0,1)"], "positive support"),
        ([*RECORD_ROLES, "--prior-tau", "wide"], "cannot read prior"),
        (["--estimate", "score"], "site summaries also need: se"),
        ([*RECORD_ROLES, "--chains", "0"], "chains (--chains) must be a whole number"),
        ([*RECORD_ROLES, "--treatment-levels", "x"], "TREATED,CONTROL"),
        ([*RECORD_ROLES, "--method", "exact"], "the exact method needs site summaries"),
    ],
)
def test_bad_roles_and_options_exit_2_with_a_message(tmp_path, cli, extra, message):
    path = scores_with_two_missing(tmp_path)
    write_frame(pd.read_csv(path).fillna(1.0), path)
    run = cli("fit", path, "--out", tmp_path / "o", *FAST, *extra)
    assert run.code == 2
    assert message in run.err


def test_drop_missing_reports_the_rows_it_drops(tmp_path, cli):
    path = scores_with_two_missing(tmp_path)
    run = cli("fit", path, "--out", tmp_path / "o", *RECORD_ROLES, "--drop-missing", *FAST)
    assert run.code == 0
    assert "dropped 2 rows with a missing or non-finite 'score' (rows 5, 10)" in run.err


def test_moderators_flag_fits_a_meta_regression(tmp_path, cli):
    study = STUDIES / "teacher_expectancy"
    assert cli("fit", study, "--out", tmp_path, "--moderators", "weeks", "--quiet").code == 0
    table = pd.read_csv(tmp_path / "summary.csv")
    assert {"gamma[weeks]", "variance_explained"} <= set(table["parameter"])


def test_student_t_flags_fit_nu_with_its_prior(tmp_path, cli):
    student_t = ["--site-dist", "student-t", "--prior-nu", "gamma(2, 0.2)"]
    assert cli("fit", STUDIES / "eight_schools", "--out", tmp_path, *student_t, *FAST).code == 0
    import sitefx

    tree = sitefx.load_datatree(tmp_path / "posterior.nc")
    assert tree.attrs["prior_nu"] == "gamma(2, 0.2)" and "nu" in tree["posterior"]


def test_version_flag_prints_the_version_and_exits_0(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.startswith("sitefx 0.")


def test_a_three_level_study_fits_with_a_named_prior_for_the_district_sd(tmp_path, cli):
    prior = ["--prior", "tau_district=half-normal(0.3)"]
    assert cli("fit", STUDIES / "school_calendar", "--out", tmp_path, *prior, *FAST).code == 0
    import sitefx

    tree = sitefx.load_datatree(tmp_path / "posterior.nc")
    assert tree.attrs["prior_tau_district"] == "half-normal(0.3)"
    assert tree["posterior"]["theta_district"].sizes["district"] == 11
    table = pd.read_csv(tmp_path / "summary.csv")
    assert "tau_district" in set(table["parameter"])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--prior", "tau_county=half-normal(1)"], "unknown parameter 'tau_county'"),
        (["--prior", "half-normal(1)"], "--prior takes NAME=SPEC"),
        (["--method", "exact"], "no nesting levels"),
        (["--levels", "study"], "one site per group"),
    ],
)
def test_impossible_level_options_exit_2(tmp_path, cli, arguments, message):
    run = cli("fit", STUDIES / "school_calendar", "--out", tmp_path, *arguments)
    assert run.code == 2 and message in run.err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--moderators", "weeks", "--covariate-prior", "horseshoe"], "this model has 1"),
        (["--horseshoe-p0", "2"], "needs covariate_prior 'horseshoe'"),
        (["--prior", "mu=horseshoe(0.1, 1, 4)"], "coefficient vectors"),
    ],
)
def test_impossible_horseshoe_options_exit_2(tmp_path, cli, arguments, message):
    run = cli("fit", STUDIES / "teacher_expectancy", "--out", tmp_path, *arguments)
    assert run.code == 2 and message in run.err


def test_observational_studies_are_labelled(tmp_path, cli):
    """A comparison-group design (observational = true in study.toml) says so in the output."""
    folder = tmp_path / "sector"
    folder.mkdir()
    frame = pd.read_csv(STUDIES / "eight_schools" / "eight_schools.csv")
    write_frame(frame, folder / "effects.csv")
    (folder / "study.toml").write_text(
        'data = "effects.csv"\ndesign = "comparison-group design"\nobservational = true\n'
        '[roles]\nsite = "school"\nestimate = "effect"\nse = "se"\n'
    )
    run = cli("fit", folder, "--out", tmp_path / "out")
    assert run.code == 0
    assert "OBSERVATIONAL: treatment was not randomized" in run.out
    import sitefx

    tree = sitefx.load_datatree(tmp_path / "out" / "posterior.nc")
    assert tree.attrs["observational"] == 1
    assert tree.attrs["study_design"] == "comparison-group design"


def test_strict_fails_a_fit_whose_diagnostics_fail(tmp_path, cli):
    """Too few NUTS draws for a reliable ESS: a warning without --strict, exit 3 with it, and
    the files written either way (the diagnostics are stored in the posterior file)."""
    short = [STUDIES / "eight_schools", "--method", "nuts", "--quiet", "--chains", "2"]
    short += ["--draws", "50", "--warmup", "50"]
    lenient = cli("fit", *short, "--out", tmp_path / "lenient")
    assert lenient.code == 0 and "effective sample size" in lenient.err
    strict = cli("fit", *short, "--out", tmp_path / "strict", "--strict")
    assert strict.code == 3 and "failed under --strict" in strict.err
    assert (tmp_path / "strict" / "posterior.nc").is_file()
    tree = sitefx.report.load_datatree(tmp_path / "strict" / "posterior.nc")
    assert any("effective sample size" in text for text in json.loads(tree.attrs["diagnostics"]))


def test_sensitivity_warnings_name_unreliable_weights_and_failed_refits(tmp_path):
    diagnosis = ["", "prior-data conflict; unreliable likelihood weights (Pareto k > 0.7)"]
    write_frame(pd.DataFrame({"diagnosis": diagnosis}), tmp_path / "power_scaling.csv")
    write_frame(
        pd.DataFrame({"site": ["A", "B"], "warnings": [0, 2]}), tmp_path / "leave_one_out.csv"
    )
    write_frame(
        pd.DataFrame({"model": ["normal", "t"], "diag_elpd": ["", "k_psis > 0.7"]}),
        tmp_path / "model_comparison.csv",
    )
    assert sensitivity_warnings(tmp_path) == [
        "power-scaling: unreliable likelihood weights (Pareto k > 0.7)",
        "leave-one-site-out: the refits without B had sampler warnings",
        "model comparison, t: k_psis > 0.7",
    ]
