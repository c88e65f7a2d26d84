"""A saved fit is refitted without retyping a flag: ``sitefx refit``, ``sitefx sensitivity
DIR``, ``SiteEffects.refit``; its data come again from the files it read, checked unchanged."""

import dataclasses
import inspect
import json
import shutil

import numpy as np
import pandas as pd
import pytest

import sitefx
from sitefx.cli import build_parser
from sitefx.commands import _spec, check_flags
from sitefx.data.adapters import Roles
from sitefx.estimator import saved_study
from sitefx.sensitivity.files import write_sensitivity
from sitefx.spec import ATTRIBUTE, ModelSpec
from tests.builders import STUDIES


@pytest.fixture
def saved(tmp_path, cli):
    """Eight schools fitted (exactly) from a copy of its folder, with non-default settings."""
    data = tmp_path / "data"
    shutil.copytree(STUDIES / "eight_schools", data)
    out = tmp_path / "fit"
    flags = ["--prior-mu", "normal(0, 50)", "--seed", "4", "--draws", "500", "--threshold", "5"]
    assert cli("fit", data, *flags, "--out", out, "--quiet").code == 0
    return data, out


def test_refit_changes_only_the_flags_given(saved, tmp_path, cli):
    data, fit = saved
    out = tmp_path / "refit"
    run = cli("refit", fit, "--prior-tau", "half-cauchy(5)", "--out", out, "--quiet")
    assert run.code == 0, run.err
    spec = ModelSpec.from_tree(sitefx.read_fit(out))
    assert spec.priors == {"mu": "normal(0, 50)", "tau": "half-cauchy(5)"}
    assert (spec.seed, spec.draws, spec.threshold) == (4, 500, 5.0)
    manifest = json.loads((out / "manifest.json").read_text())
    assert {entry["path"] for entry in manifest["inputs"]} == {
        str(path.absolute()) for path in data.iterdir()
    }
    # The same as fitting the data afresh with all the settings typed out.
    model = sitefx.SiteEffects(
        priors={"mu": "normal(0, 50)", "tau": "half-cauchy(5)"}, seed=4, draws=500, threshold=5
    )
    expected = model.fit(sitefx.load(data)).summary()
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv"), expected, check_dtype=False)


def test_python_refit_matches_the_command(saved, tmp_path, cli):
    _, fit = saved
    assert cli("refit", fit, "--seed", "9", "--out", tmp_path / "cli", "--quiet").code == 0
    again = sitefx.open_fit(fit).refit(seed=9)
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "cli" / "summary.csv"), again.summary(), check_dtype=False
    )


def test_refit_refuses_changed_data_unless_given_again(saved, tmp_path, cli):
    data, fit = saved
    table = data / "eight_schools.csv"
    table.write_text(table.read_text() + "I,3,9\n")
    run = cli("refit", fit, "--out", tmp_path / "refit", "--quiet")
    assert run.code == 2
    assert "changed since it was fitted" in run.err and "eight_schools.csv" in run.err
    assert "Traceback" not in run.err
    run = cli("refit", fit, "--data", data, "--out", tmp_path / "refit", "--quiet")
    assert run.code == 0, run.err
    assert sitefx.read_fit(tmp_path / "refit")["posterior"].sizes["site"] == 9


def test_refit_needs_a_saved_fit_and_files(tmp_path, cli, eight_schools):
    run = cli("refit", STUDIES / "eight_schools", "--out", tmp_path / "o")
    assert run.code == 2 and "not a saved fit" in run.err
    frame = pd.read_csv(STUDIES / "eight_schools" / "eight_schools.csv")
    study = sitefx.load(frame, site="school", estimate="effect", se="se")
    sitefx.SiteEffects(draws=100).fit(study).save(tmp_path / "fit")
    run = cli("refit", tmp_path / "fit", "--out", tmp_path / "o")
    assert run.code == 2 and "were not read from files" in run.err and "--data" in run.err


def test_changing_a_setting_drops_the_ones_that_depend_on_it(saved):
    """A refit to normal site effects forgets a saved Student-t's fixed df (and the horseshoe
    settings a change of covariate prior), instead of refusing them."""
    _, fit = saved
    args = build_parser().parse_args(["refit", str(fit), "--site-dist", "normal", "--out", "o"])
    robust = ModelSpec(site_dist="student-t", site_df=4.0, priors={"tau": "half-normal(5)"})
    tree = sitefx.read_fit(fit)
    tree.attrs[ATTRIBUTE] = robust.to_json()
    check_flags(args)  # reads the saved fit; then the edited one takes its place
    args.saved = tree
    spec = _spec(args)
    assert (spec.site_dist, spec.site_df, spec.priors) == ("normal", None, robust.priors)


def test_saved_records_come_back_with_their_roles(star, star_fit):
    with pytest.warns(sitefx.DataDropWarning):  # rows without a score, as the first time
        again = saved_study(star_fit.posterior_)
    assert again.roles == star.roles
    for field in ("site", "outcome", "treatment"):
        assert np.array_equal(getattr(again.data, field), getattr(star.data, field))


def test_borrowing_is_refitted_from_the_historical_files(tmp_path, cli):
    history = ["--historical", STUDIES / "teacher_expectancy", "--borrow-weight", "0.3"]
    fit = tmp_path / "fit"
    assert cli("fit", STUDIES / "eight_schools", *history, "--out", fit, "--quiet").code == 0
    run = cli("refit", fit, "--seed", "2", "--out", tmp_path / "refit", "--quiet")
    assert run.code == 0, run.err
    tree = sitefx.read_fit(tmp_path / "refit")
    assert json.loads(tree.attrs["borrowing"]) == json.loads(
        sitefx.read_fit(fit).attrs["borrowing"]
    )
    assert ModelSpec.from_tree(tree).borrow_weight == 0.3


def test_sensitivity_of_a_saved_fit(saved, tmp_path, cli):
    _, fit = saved
    out = tmp_path / "sensitivity"
    run = cli("sensitivity", fit, "--alt-tau", "half-cauchy(5)", "--out", out, "--quiet")
    assert run.code == 0, run.err
    assert ModelSpec.from_tree(sitefx.read_fit(out)).priors["mu"] == "normal(0, 50)"
    assert (out / "prior_grid.csv").is_file()


def test_a_reopened_fit_loads_its_data_when_first_used(saved, tmp_path):
    _, fit = saved
    reopened = sitefx.open_fit(fit)
    assert reopened.data_.site == sitefx.load(STUDIES / "eight_schools").data.site
    paths = write_sensitivity(reopened, tmp_path / "s", alt_tau=["half-cauchy(5)"], alt_mu=[])
    assert paths["prior_grid"].is_file()


def test_flags_keep_their_names_in_python():
    """Every flag is an argument of the same name (dashes as underscores) of its Python
    equivalent (docs/cli.md, "The same in Python"); the forest plot's of ``sitefx.forest_plot``
    (``fit.save(out, forest={...})``, ``write_report(..., forest={...})``)."""
    from sitefx.report.document import write_report
    from sitefx.report.tables import draws_table

    def arguments(*functions) -> set[str]:
        return {name for function in functions for name in inspect.signature(function).parameters}

    fitting = {field.name for field in dataclasses.fields(Roles)}
    fitting |= arguments(sitefx.SiteEffects, sitefx.forest_plot)
    python = {
        "fit": fitting,
        "refit": fitting | arguments(sitefx.SiteEffects.refit),
        "sensitivity": fitting | arguments(write_sensitivity),
        "report": arguments(write_report, sitefx.forest_plot),
        "draws": arguments(draws_table),
    }
    # The priors are one mapping in Python (priors={"tau": ...}); the rest have no argument:
    # files and folders, the progress switch, --strict, --engine (a function of its own),
    # --format (the caller writes the file).
    no_argument = {"command", "source", "fit_dir", "out", "prior", "prior_mu", "prior_tau"}
    no_argument |= {"prior_nu", "quiet", "strict", "engine", "format", "workers", "scheduler"}
    for command, names in python.items():
        arguments_of = {"refit": ["refit", "x", "--out", "o"], "report": ["report", "x"]}
        argv = arguments_of.get(command, [command, "x", "--out", "o"])
        flags = set(vars(build_parser().parse_args(argv))) - no_argument
        assert flags <= names, f"sitefx {command}: {sorted(flags - names)} have no Python name"
