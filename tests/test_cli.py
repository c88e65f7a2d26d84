"""The command line: end-to-end fits, exit codes, messages without tracebacks."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import sitefx.report
from sitefx.cli import main
from sitefx.report.sensitivity import sensitivity_warnings
from tests.builders import STUDIES

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
        "manifest.json",
        "posterior.nc",
        "sites.csv",
        "summary.csv",
    ]
    table = pd.read_csv(out / "summary.csv")
    assert table["parameter"].iloc[0] == "mu" and len(table) == 11
    assert pd.read_csv(out / "sites.csv")["site"].tolist() == list("ABCDEFGH")

    report = subprocess.run(
        [sys.executable, "-m", "sitefx", "report", str(out), "--threshold", "5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "had an effect above 5 SAT-V points" in page
    assert page.count("data:image/png;base64,") == 5  # self-contained: plots embedded
    assert "](figures/forest.png)" in (out / "report.md").read_text(encoding="utf-8")
    estimands = pd.read_csv(out / "estimands.csv").set_index("estimand")
    assert estimands.loc["share_above", "meaning"].endswith("above 5")


def test_report_needs_a_saved_fit(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "posterior.nc").write_text("not netcdf")
    assert main(["report", str(tmp_path)]) == 2
    assert "not a sitefx posterior file" in capsys.readouterr().err


def test_report_options_are_checked(tmp_path, capsys):
    study = str(STUDIES / "eight_schools")
    assert main(["fit", study, "--out", str(tmp_path), "--quiet", "--draws", "100"]) == 0
    assert main(["report", str(tmp_path), "--outcome-sd", "-1"]) == 2
    assert "must be > 0" in capsys.readouterr().err
    assert main(["report", str(tmp_path), "--threshold", "inf"]) == 2
    assert "finite" in capsys.readouterr().err
    assert main(["fit", study, "--out", str(tmp_path), "--threshold", "nan"]) == 2


def test_prior_flags_are_used(tmp_path, capsys):
    code = main(
        [
            "fit",
            str(STUDIES / "eight_schools"),
            "--out",
            str(tmp_path),
            "--prior-tau",
            "half-cauchy(5)",
            "--prior-mu",
            "normal(0, 20)",
            *FAST,
        ]
    )
    assert code == 0
    import sitefx

    tree = sitefx.load_datatree(tmp_path / "posterior.nc")
    assert tree.attrs["prior_tau"] == "half-cauchy(5)" and tree.attrs["prior_mu"] == "normal(0, 20)"


def test_csv_with_roles_and_treatment_levels(tmp_path):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "school": np.repeat(["a", "b", "c", "d"], 20),
            "arm": np.tile(np.repeat(["coached", "control"], 10), 4),
            "score": rng.normal(size=80),
            "age": rng.normal(size=80),
        }
    )
    frame.to_csv(tmp_path / "students.csv", index=False)
    code = main(
        [
            "fit",
            str(tmp_path / "students.csv"),
            "--out",
            str(tmp_path / "out"),
            "--outcome",
            "score",
            "--treatment",
            "arm",
            "--site",
            "school",
            "--covariates",
            "age",
            "--treatment-levels",
            "coached,control",
            *FAST,
        ]
    )
    assert code == 0
    assert (tmp_path / "out" / "forest.png").is_file()


def bad_csv(tmp_path):
    frame = pd.DataFrame(
        {
            "school": np.repeat(["a", "b", "c"], 6),
            "small": np.tile([0, 0, 0, 1, 1, 1], 3),
            "score": np.arange(18.0),
        }
    )
    frame.loc[[4, 9], "score"] = np.nan  # data rows 5 and 10
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return path


def test_nan_outcome_exits_2_naming_rows(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sitefx",
            "fit",
            str(bad_csv(tmp_path)),
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
def test_bad_input_exits_2_with_a_message(tmp_path, capsys, extra, message):
    path = bad_csv(tmp_path)
    frame = pd.read_csv(path).fillna(1.0)
    frame.to_csv(path, index=False)
    code = main(["fit", str(path), "--out", str(tmp_path / "o"), *FAST, *extra])
    assert code == 2
    assert message in capsys.readouterr().err


def test_drop_missing_reports_rows(tmp_path, capsys):
    code = main(
        [
            "fit",
            str(bad_csv(tmp_path)),
            "--out",
            str(tmp_path / "o"),
            *RECORD_ROLES,
            "--drop-missing",
            *FAST,
        ]
    )
    assert code == 0
    assert (
        "dropped 2 rows with a missing or non-finite 'score' (rows 5, 10)"
        in capsys.readouterr().err
    )


def test_moderators_flag(tmp_path, capsys):
    code = main(
        [
            "fit",
            str(STUDIES / "teacher_expectancy"),
            "--out",
            str(tmp_path),
            "--moderators",
            "weeks",
            "--quiet",
        ]
    )
    assert code == 0
    table = pd.read_csv(tmp_path / "summary.csv")
    assert {"gamma[weeks]", "variance_explained"} <= set(table["parameter"])


def test_student_t_flags(tmp_path):
    code = main(
        [
            "fit",
            str(STUDIES / "eight_schools"),
            "--out",
            str(tmp_path),
            "--site-dist",
            "student-t",
            "--prior-nu",
            "gamma(2, 0.2)",
            *FAST,
        ]
    )
    assert code == 0
    import sitefx

    tree = sitefx.load_datatree(tmp_path / "posterior.nc")
    assert tree.attrs["prior_nu"] == "gamma(2, 0.2)" and "nu" in tree["posterior"]


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.startswith("sitefx 0.")


def test_levels_and_named_prior_flags(tmp_path):
    """A three-level meta-analysis from the CLI, with a prior for the district-level SD."""
    code = main(
        [
            "fit",
            str(STUDIES / "school_calendar"),
            "--out",
            str(tmp_path),
            "--prior",
            "tau_district=half-normal(0.3)",
            *FAST,
        ]
    )
    assert code == 0
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
def test_impossible_level_options_exit_2(tmp_path, capsys, arguments, message):
    code = main(["fit", str(STUDIES / "school_calendar"), "--out", str(tmp_path), *arguments])
    assert code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--moderators", "weeks", "--covariate-prior", "horseshoe"], "this model has 1"),
        (["--horseshoe-p0", "2"], "needs covariate_prior 'horseshoe'"),
        (["--prior", "mu=horseshoe(0.1, 1, 4)"], "coefficient vectors"),
    ],
)
def test_impossible_horseshoe_options_exit_2(tmp_path, capsys, arguments, message):
    code = main(["fit", str(STUDIES / "teacher_expectancy"), "--out", str(tmp_path), *arguments])
    assert code == 2 and message in capsys.readouterr().err


def test_observational_studies_are_labelled(tmp_path, capsys):
    """A comparison-group design (observational = true in study.toml) says so in the output."""
    folder = tmp_path / "sector"
    folder.mkdir()
    frame = pd.read_csv(STUDIES / "eight_schools" / "eight_schools.csv")
    frame.to_csv(folder / "effects.csv", index=False)
    (folder / "study.toml").write_text(
        'data = "effects.csv"\ndesign = "comparison-group design"\nobservational = true\n'
        '[roles]\nsite = "school"\nestimate = "effect"\nse = "se"\n'
    )
    assert main(["fit", str(folder), "--out", str(tmp_path / "out")]) == 0
    assert "OBSERVATIONAL: treatment was not randomized" in capsys.readouterr().out
    import sitefx

    tree = sitefx.load_datatree(tmp_path / "out" / "posterior.nc")
    assert tree.attrs["observational"] == 1
    assert tree.attrs["study_design"] == "comparison-group design"


def test_strict_fails_a_fit_whose_diagnostics_fail(tmp_path, capsys):
    """Too few NUTS draws for a reliable ESS: a warning without --strict, exit 3 with it, and
    the files written either way (the diagnostics are stored in the posterior file)."""
    short = [str(STUDIES / "eight_schools"), "--method", "nuts", "--quiet", "--chains", "2"]
    short += ["--draws", "50", "--warmup", "50"]
    assert main(["fit", *short, "--out", str(tmp_path / "lenient")]) == 0
    assert "effective sample size" in capsys.readouterr().err
    assert main(["fit", *short, "--out", str(tmp_path / "strict"), "--strict"]) == 3
    assert "failed under --strict" in capsys.readouterr().err
    assert (tmp_path / "strict" / "posterior.nc").is_file()
    tree = sitefx.report.load_datatree(tmp_path / "strict" / "posterior.nc")
    assert any("effective sample size" in text for text in json.loads(tree.attrs["diagnostics"]))


def test_sensitivity_warnings_name_unreliable_weights_and_failed_refits(tmp_path):
    pd.DataFrame(
        {"diagnosis": ["", "prior-data conflict; unreliable likelihood weights (Pareto k > 0.7)"]}
    ).to_csv(tmp_path / "power_scaling.csv", index=False)
    pd.DataFrame({"site": ["A", "B"], "warnings": [0, 2]}).to_csv(
        tmp_path / "leave_one_out.csv", index=False
    )
    pd.DataFrame({"model": ["normal", "t"], "diag_elpd": ["", "k_psis > 0.7"]}).to_csv(
        tmp_path / "model_comparison.csv", index=False
    )
    assert sensitivity_warnings(tmp_path) == [
        "power-scaling: unreliable likelihood weights (Pareto k > 0.7)",
        "leave-one-site-out: the refits without B had sampler warnings",
        "model comparison, t: k_psis > 0.7",
    ]
