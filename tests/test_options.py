"""The option catalogue: every bad or conflicting option stops with exit code 2 and one line
naming its flag, before any data is read or any fit starts (never a traceback); options a
fit ignores are named in a warning. The Python API refuses and warns alike."""

import pandas as pd
import pytest

import sitefx
from sitefx import IgnoredOptionWarning, SitefxInputError
from sitefx.report.datatree import DIMENSIONS
from tests.builders import STUDIES, assert_refused_in_one_line, bundled_study, write_frame

# Never read: each flag below is refused before the data are.
MISSING = "no/such/study"
EIGHT_SCHOOLS = str(STUDIES / "eight_schools")
HORSESHOE = ["--covariate-prior", "horseshoe"]

BAD_FIT_FLAGS = {
    "negative seed": (["--seed", "-1"], "seed (--seed)"),
    "seed of 2**63": (["--seed", str(2**63)], "seed (--seed)"),
    "no chains": (["--chains", "0"], "chains (--chains)"),
    "chains beyond 1000": (["--chains", "1001"], "chains (--chains)"),
    "negative draws": (["--draws", "-10"], "draws (--draws)"),
    "draws that overflow int64": (["--draws", str(2**64)], "draws (--draws)"),
    "chains x draws above 10 million": (
        ["--chains", "1000", "--draws", "10001"],
        "chains x draws (--chains x --draws) is 10001000",
    ),
    "negative warmup": (["--warmup", "-1"], "warmup (--warmup)"),
    "warmup that overflows": (["--warmup", str(2**70)], "warmup (--warmup)"),
    "target accept 1": (["--target-accept", "1"], "target_accept (--target-accept)"),
    "target accept 0": (["--target-accept", "0"], "target_accept (--target-accept)"),
    "target accept nan": (["--target-accept", "nan"], "target_accept (--target-accept)"),
    "tree depth 0": (["--max-tree-depth", "0"], "max_tree_depth (--max-tree-depth)"),
    "tree depth 21": (["--max-tree-depth", "21"], "max_tree_depth (--max-tree-depth)"),
    "site df of inf": (["--site-dist", "student-t", "--site-df", "inf"], "site_df (--site-df)"),
    "site df of 0": (["--site-dist", "student-t", "--site-df", "0"], "site_df (--site-df)"),
    "site df without student-t": (["--site-df", "4"], "site_df (--site-df) needs site_dist"),
    "threshold of inf": (["--threshold", "inf"], "threshold (--threshold)"),
    "threshold of nan": (["--threshold", "nan"], "threshold (--threshold)"),
    "outcome SD of 0": (["--outcome-sd", "0"], "outcome_sd (--outcome-sd)"),
    "outcome SD of inf": (["--outcome-sd", "inf"], "outcome_sd (--outcome-sd)"),
    "slab scale of inf": ([*HORSESHOE, "--slab-scale", "inf"], "slab_scale (--slab-scale)"),
    "negative slab df": ([*HORSESHOE, "--slab-df", "-4"], "slab_df (--slab-df)"),
    "p0 of nan": ([*HORSESHOE, "--horseshoe-p0", "nan"], "horseshoe_p0 (--horseshoe-p0)"),
    "slab scale without horseshoe": (
        ["--slab-scale", "1"],
        "slab_scale (--slab-scale) needs covariate_prior 'horseshoe'",
    ),
    "map weight of 1": (
        ["--historical", MISSING, "--borrow-weight", "1"],
        "borrow_weight (--borrow-weight) of map must be in (0, 1)",
    ),
    "power weight of 0": (
        ["--historical", MISSING, "--borrow", "power", "--borrow-weight", "0"],
        "borrow_weight (--borrow-weight) of power must be in (0, 1]",
    ),
    "borrow without historical": (["--borrow", "power"], "--borrow and --borrow-weight need"),
    "borrow weight without historical": (
        ["--borrow-weight", "0.5"],
        "--borrow and --borrow-weight need --historical",
    ),
    "tau prior given twice": (
        ["--prior", "tau=half-normal(1)", "--prior-tau", "half-normal(2)"],
        "--prior tau=... and --prior-tau both give the prior of tau",
    ),
    "mu prior given twice": (
        ["--prior-mu", "normal(0, 1)", "--prior", "mu=normal(0, 2)"],
        "--prior mu=... and --prior-mu both give the prior of mu",
    ),
    "nu prior given twice": (
        ["--prior", "nu=gamma(2, 0.1)", "--prior-nu", "gamma(2, 0.1)"],
        "--prior nu=... and --prior-nu both give the prior of nu",
    ),
    "one --prior twice": (
        ["--prior", "gamma=normal(0, 1)", "--prior", "gamma=normal(0, 2)"],
        "--prior gives the prior of gamma twice",
    ),
    "non-finite prior": (["--prior-tau", "half-normal(inf)"], "tau (--prior-tau)"),
    "prior whose square overflows": (
        ["--prior-mu", "normal(0, 1e200)"],
        "mu (--prior-mu): prior normal(0, 1e+200): sd beyond 1e100 is absurd",
    ),
    "prior scale whose square underflows": (
        ["--prior", "gamma=normal(0, 1e-200)"],
        "gamma (--prior gamma=...): prior normal(0, 1e-200): sd below 1e-100 is absurd",
    ),
}

BAD_OTHER_FLAGS = {
    "one replicate": (["calibrate", MISSING, "--replicates", "1"], "replicates (--replicates)"),
    "a million replicates": (
        ["calibrate", MISSING, "--replicates", "1000000"],
        "replicates (--replicates)",
    ),
    "no workers": (["sensitivity", MISSING, "--workers", "0"], "workers (--workers)"),
    "a thousand workers": (["sensitivity", MISSING, "--workers", "1000"], "workers (--workers)"),
    "absurd alternative tau prior": (
        ["sensitivity", MISSING, "--alt-tau", "half-normal(1e-300)"],
        "--alt-tau: prior half-normal(1e-300)",
    ),
    "non-finite alternative mu prior": (
        ["sensitivity", MISSING, "--alt-mu", "normal(0, inf)"],
        "--alt-mu: prior normal(0, inf)",
    ),
    "fit-many with a negative seed": (["fit-many", MISSING, "--seed", "-3"], "seed (--seed)"),
    "report with a threshold of inf": (["report", MISSING, "--threshold", "inf"], "--threshold"),
    "report with an outcome SD of -1": (["report", MISSING, "--outcome-sd", "-1"], "--outcome-sd"),
}


@pytest.mark.parametrize(("flags", "message"), BAD_FIT_FLAGS.values(), ids=BAD_FIT_FLAGS)
def test_bad_fit_flags_exit_2_before_reading_the_data(tmp_path, cli, flags, message):
    assert_refused_in_one_line(cli("fit", MISSING, "--out", tmp_path / "out", *flags), message)


@pytest.mark.parametrize(("arguments", "message"), BAD_OTHER_FLAGS.values(), ids=BAD_OTHER_FLAGS)
def test_bad_flags_of_other_commands_exit_2(tmp_path, cli, arguments, message):
    assert_refused_in_one_line(cli(*arguments, "--out", tmp_path / "out"), message)


def test_out_must_not_be_a_file(tmp_path, cli):
    path = tmp_path / "results.txt"
    path.write_text("earlier results")
    assert_refused_in_one_line(cli("fit", MISSING, "--out", path), "a file is there")
    assert_refused_in_one_line(cli("report", MISSING, "--out", path), "a file is there")
    inside = cli("fit", MISSING, "--out", path / "fit")
    assert_refused_in_one_line(inside, f"{path} is a file, not a folder")
    assert path.read_text() == "earlier results"


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--method", "exact", "--warmup", "50"], ["warmup (--warmup)"]),
        (
            ["--method", "exact", "--target-accept", "0.9", "--max-tree-depth", "8"],
            ["target_accept (--target-accept)", "max_tree_depth (--max-tree-depth)"],
        ),
        (["--warmup", "50"], ["warmup (--warmup)"]),  # auto chose the exact method
    ],
    ids=["exact with warmup", "exact with two sampler flags", "auto ending exact"],
)
def test_sampler_flags_with_the_exact_method_are_named_as_ignored(tmp_path, cli, flags, named):
    run = cli("fit", EIGHT_SCHOOLS, "--out", tmp_path, "--draws", "100", "--quiet", *flags)
    assert run.code == 0
    error = run.err
    assert error.count("\n") == 1 and error.startswith("warning: "), error
    assert all(name in error for name in named) and "ignored" in error


def test_an_exact_fit_without_sampler_flags_says_nothing(tmp_path, cli):
    run = cli("fit", EIGHT_SCHOOLS, "--out", tmp_path, "--draws", "100", "--quiet")
    assert run.code == 0 and run.err == ""


@pytest.mark.parametrize(
    ("role", "column", "message"),
    [
        ("--moderators", "draw", "the moderator column 'draw' (--moderators)"),
        ("--moderators", "site", "the moderator column 'site' (--moderators)"),
        ("--moderators", "coefficient", "the moderator column 'coefficient' (--moderators)"),
        ("--levels", "chain", "the nesting level column 'chain' (--levels)"),
        ("--levels", "moderator", "the nesting level column 'moderator' (--levels)"),
        ("--levels", "new", "would add the variable theta_new"),
    ],
)
def test_columns_named_like_the_fit_s_dimensions_exit_2(tmp_path, cli, role, column, message):
    frame = pd.read_csv(STUDIES / "eight_schools" / "eight_schools.csv")
    levels = ["north"] * 4 + ["south"] * 4
    frame[column] = levels if role == "--levels" else [1.0, 2, 3, 4, 5, 6, 7, 9]
    path = write_frame(frame, tmp_path / "schools.csv")
    roles = ["--site", "school", "--estimate", "effect", "--se", "se", role, column]
    assert_refused_in_one_line(cli("fit", path, *roles, "--out", tmp_path / "out"), message)


def test_a_covariate_named_like_a_dimension_exits_2(tmp_path, cli):
    rows = [(f"s{j}", i % 2, float(i + j), float(i * j % 3)) for j in range(3) for i in range(6)]
    frame = pd.DataFrame(rows, columns=["school", "t", "y", "record"])
    path = write_frame(frame, tmp_path / "records.csv")
    roles = ["--site", "school", "--outcome", "y", "--treatment", "t", "--covariates", "record"]
    message = "the covariate column 'record' (--covariates)"
    assert_refused_in_one_line(cli("fit", path, *roles, "--out", tmp_path / "out"), message)


def test_dimensions_cover_every_dimension_of_a_fit():
    study = bundled_study("teacher_expectancy", moderators="weeks")
    tree = sitefx.SiteEffects(draws=100).fit(study).posterior_
    used = {dim for node in tree.subtree for dim in node.dims}
    assert used <= set(DIMENSIONS), used - set(DIMENSIONS)
    assert {"exact", "estimands"} <= set(tree.children)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"seed": -1}, r"seed \(--seed\)"),
        ({"chains": 2.5}, r"chains \(--chains\) must be a whole number"),
        ({"draws": True}, r"draws \(--draws\) must be a whole number"),
        ({"chains": 100, "draws": 200_000}, r"chains x draws"),
        ({"site_dist": "student-t", "site_df": float("inf")}, r"site_df \(--site-df\)"),
        ({"threshold": "1"}, r"threshold \(--threshold\) must be a finite number"),
        ({"priors": {"tau": "half-cauchy(1e101)"}}, r"tau \(--prior-tau\).*absurd"),
        ({"borrow": "power"}, r"need historical data \(--historical\)"),
    ],
)
def test_the_python_api_refuses_the_same_settings(eight_schools, settings, message):
    with pytest.raises(SitefxInputError, match=message):
        sitefx.SiteEffects(**settings).fit(eight_schools)


def test_the_python_api_warns_of_ignored_sampler_settings(eight_schools):
    with pytest.warns(IgnoredOptionWarning, match=r"max_tree_depth \(--max-tree-depth\)"):
        fit = sitefx.SiteEffects(draws=100, max_tree_depth=12).fit(eight_schools)
    assert fit.exact_ is not None
