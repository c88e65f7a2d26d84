"""Flags that mean something (issue 20): a flag that does not apply to the data kind, the
family or the method is refused (exit 2, one line naming the flag) before any fit starts, or,
when harmless, named in a warning; never silently ignored.

Each row runs ``sitefx fit`` on tiny data of one kind: site summaries, arm counts, Gaussian
or binary individual records, records read out of core (--engine dask). The check sits at
the layer that knows: roles against the data kind in the adapters, model options against
the family in its ``check``, the method in the estimator.
"""

import pandas as pd
import pytest

import sitefx
from sitefx import SitefxInputError
from tests.builders import (
    ARM_COUNTS_ROLES,
    EIGHT_SCHOOLS_ESTIMATES,
    EIGHT_SCHOOLS_SES,
    REFERENCE,
    STUDIES,
    assert_refused_in_one_line,
    flags,
    records_frame,
    write_frame,
)

SITES = list("ABCDEFGH")
# The data of each kind, as a file name in the data folder and the flags naming its columns.
SUMMARIES = ["summaries.csv", "--site", "school", "--estimate", "effect", "--se", "se"]
ARMS = ["arms.csv", *flags(ARM_COUNTS_ROLES)]
RECORDS = ["records.csv", "--site", "school", "--outcome", "y", "--treatment", "t"]
BINARY = ["binary.csv", "--site", "school", "--outcome", "y", "--treatment", "t"]
BINARY += ["--family", "binomial"]
OUT_OF_CORE = ["records.parquet", "--engine", "dask", "--site", "school", "--outcome", "y"]
OUT_OF_CORE += ["--treatment", "t"]
STUDENT_T = ["--site-dist", "student-t"]
HORSESHOE = ["--covariate-prior", "horseshoe"]

# (data and flags, what the one-line error names)
REFUSED = {
    # roles the data kind does not have (sitefx/data/adapters.py, partitioned.py)
    "summaries with --covariates": ([*SUMMARIES, "--covariates", "x"], "(--covariates)"),
    "summaries with --cluster": ([*SUMMARIES, "--cluster", "g"], "(--cluster)"),
    "summaries with --wave and --person": (
        [*SUMMARIES, "--wave", "x", "--person", "g"],
        "'wave' does not apply to site summaries; leave it out (--wave)",
    ),
    "summaries with --family": ([*SUMMARIES, "--family", "gaussian"], "(--family)"),
    "summaries with --treatment-levels": (
        [*SUMMARIES, "--treatment-levels", "a,b"],
        "(--treatment-levels)",
    ),
    "summaries with --drop-incomplete-sites": (
        [*SUMMARIES, "--drop-incomplete-sites"],
        "(--drop-incomplete-sites)",
    ),
    "summaries with --engine dask": (
        [*SUMMARIES, "--engine", "dask"],
        "--engine dask sums individual records out of core; site summaries are read in memory",
    ),
    "a study folder with --engine dask": (
        [STUDIES / "eight_schools", "--engine", "dask"],
        "not a study folder; leave out --engine dask",
    ),
    "arm counts with --moderators": ([*ARMS, "--moderators", "x"], "(--moderators)"),
    "arm counts with --n": ([*ARMS, "--n", "x"], "'n' does not apply to arm counts"),
    "arm counts with --levels": ([*ARMS, "--levels", "g"], "(--levels)"),
    "arm counts with --family": ([*ARMS, "--family", "binomial"], "leave --family out"),
    "arm counts with --engine dask": ([*ARMS, "--engine", "dask"], "--engine dask"),
    "records with --n": ([*RECORDS, "--n", "x"], "(--n)"),
    "records with --wave alone": ([*RECORDS, "--wave", "x"], "(--wave) and a person id"),
    "binary records over --wave": (
        [*BINARY, "--wave", "x", "--person", "g"],
        "growth over waves (--wave) needs a continuous outcome; leave out --family binomial",
    ),
    "out of core over --wave": (
        [*OUT_OF_CORE, "--wave", "x", "--person", "g"],
        "wave (--wave); read the records in memory (--engine memory)",
    ),
    "out of core with --drop-incomplete-sites": (
        [*OUT_OF_CORE, "--drop-incomplete-sites"],
        "(--drop-incomplete-sites); read the records in memory (--engine memory)",
    ),
    # model options the family does not have (sitefx/families/*.py, sitefx/models/priors.py)
    "arm counts with --site-dist student-t": ([*ARMS, *STUDENT_T], "(--site-dist student-t)"),
    "arm counts with the horseshoe": ([*ARMS, *HORSESHOE], "(--covariate-prior horseshoe)"),
    "the horseshoe without moderators": (
        [*SUMMARIES, *HORSESHOE],
        "(--covariate-prior horseshoe) shrinks among several moderators (--moderators); "
        "this model has 0",
    ),
    "the horseshoe on one covariate": (
        [*RECORDS, "--covariates", "x", *HORSESHOE],
        "(--covariate-prior horseshoe) shrinks among several covariates",
    ),
    "--prior-nu with normal site effects": (
        [*SUMMARIES, "--prior-nu", "gamma(2, 0.1)"],
        "nu (--prior-nu) is the prior of learned Student-t degrees of freedom",
    ),
    "--prior-nu with a fixed --site-df": (
        [*RECORDS, *STUDENT_T, "--site-df", "4", "--prior-nu", "gamma(2, 0.1)"],
        "it needs --site-dist student-t without --site-df",
    ),
    "--level-effect varying with records": (
        [*RECORDS, "--level-effect", "varying"],
        "(--level-effect varying) is for unbalanced repeated measures",
    ),
    "--outcome-sd with arm counts": (
        [*ARMS, "--outcome-sd", "1"],
        "outcome_sd (--outcome-sd) does not apply to binary outcomes (arm counts)",
    ),
    "--outcome-sd with binary records": ([*BINARY, "--outcome-sd", "1"], "(--outcome-sd)"),
    # the method (sitefx/estimator.py)
    "the exact method with Student-t": (
        [*SUMMARIES, "--method", "exact", *STUDENT_T],
        "(here: Student-t site effects); use method 'nuts' (--method nuts)",
    ),
    "the exact method with arm counts": ([*ARMS, "--method", "exact"], "(--method nuts)"),
    "the exact method with records": ([*RECORDS, "--method", "exact"], "(--method nuts)"),
}

# The prior of a parameter the model lacks (no moderators, no levels, no clusters).
LACKED = {"gamma": SUMMARIES, "tau_district": SUMMARIES, "cluster_sd": RECORDS}
REFUSED |= {
    f"a prior of {name} the model lacks": (
        [*data, "--prior", f"{name}=half-normal(1)"],
        f"{name} (--prior {name}=...): ",
    )
    for name, data in LACKED.items()
}

# (data and flags, what the one warning line names); the fit runs and exits 0.
WARNED = {
    "NUTS settings with the exact method": (
        [*SUMMARIES, "--method", "exact", "--max-tree-depth", "8", "--draws", "20"],
        "max_tree_depth (--max-tree-depth) ignored: the exact method has no sampler to tune",
    ),
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A folder holding tiny data of each kind (the file names of the tables above)."""
    folder = tmp_path_factory.mktemp("data")
    summaries = pd.DataFrame(
        {"school": SITES, "effect": EIGHT_SCHOOLS_ESTIMATES, "se": EIGHT_SCHOOLS_SES}
    )
    write_frame(summaries.assign(x=range(1, 9), g=list("aabbccdd")), folder / "summaries.csv")
    arms = pd.read_csv(REFERENCE / "binary_counts.csv").head(8)
    write_frame(arms.assign(x=range(1, 9), g=list("aabbccdd")), folder / "arms.csv")
    records = records_frame(4, 8, x=lambda frame: frame["y"] * 2, g=lambda f: f["school"])
    records["z"] = records["y"] ** 2
    write_frame(records, folder / "records.csv")
    write_frame(records[["school", "t", "y", "x", "z", "g"]], folder / "records.parquet")
    write_frame(records.assign(y=(records["y"] > 0).astype(int)), folder / "binary.csv")
    return folder


def _arguments(data_dir, data_and_flags):
    """The command line of a row: its data file (in ``data_dir``, or a bundled study)."""
    source, *rest = data_and_flags
    return [source if not isinstance(source, str) else data_dir / source, *rest]


@pytest.mark.parametrize(("data_and_flags", "named"), REFUSED.values(), ids=REFUSED)
def test_a_flag_that_cannot_apply_exits_2_naming_it_before_any_fit(
    data_dir, tmp_path, cli, data_and_flags, named
):
    out = tmp_path / "out"
    run = cli("fit", *_arguments(data_dir, data_and_flags), "--out", out, "--quiet")
    assert_refused_in_one_line(run, named)
    assert not out.exists()  # refused before fitting: nothing written


@pytest.mark.parametrize(("data_and_flags", "named"), WARNED.values(), ids=WARNED)
def test_a_harmless_flag_that_does_not_apply_is_named_in_a_warning(
    data_dir, tmp_path, cli, data_and_flags, named
):
    run = cli("fit", *_arguments(data_dir, data_and_flags), "--out", tmp_path, "--quiet")
    assert run.code == 0, run.err
    assert run.err.startswith("warning: ") and run.err.count("\n") == 1, run.err
    assert named in run.err


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"outcome_sd": 2.0}, r"outcome_sd \(--outcome-sd\) does not apply to binary outcomes"),
        ({"priors": {"nu": "gamma(2, 0.1)"}}, r"nu \(--prior-nu\)"),
    ],
)
def test_the_python_api_refuses_them_alike(data_dir, settings, message):
    study = sitefx.load(data_dir / "arms.csv", **ARM_COUNTS_ROLES)
    with pytest.raises(SitefxInputError, match=message):
        sitefx.SiteEffects(**settings).fit(study)
