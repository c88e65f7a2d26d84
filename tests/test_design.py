"""The assurance of the next trial (sitefx.design.assurance, ``sitefx design``): the simulator
against the closed-form power, the vectorized exact analysis against exact refits, and the
command end to end."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import integrate, stats

import sitefx
from sitefx.design import classical
from sitefx.design.assurance import (
    Criterion,
    Learned,
    Trial,
    analysis_priors,
    cluster_posterior_above,
    design_table,
    posterior_above,
    successes,
)
from sitefx.infer.exact import normal_normal_exact
from sitefx.models.priors import Prior, Priors
from tests.builders import BUNDLED, ROOT, STUDIES, assert_refused_in_one_line

REPLICATES = 4000


def point_mass(mu: float, tau: float) -> Learned:
    """A posterior that is sure of ``mu`` and ``tau``."""
    return Learned(np.full(100, mu), np.full(100, tau), None)


@pytest.mark.parametrize(
    "design, sites, per_arm, icc, mu, tau",
    [
        ("multisite", 20, 25, 0.15, 0.2, 0.1),
        ("multisite", 8, 10, 0.3, 0.3, 0.25),
        ("cluster", 40, 20, 0.2, 0.3, 0.0),
    ],
)
def test_assurance_of_a_sure_posterior_is_the_closed_form_power(
    design, sites, per_arm, icc, mu, tau
):
    trial = Trial(design, sites=sites, per_arm=per_arm, icc=icc)
    table = design_table(point_mass(mu, tau), [trial], Criterion("test"), replicates=REPLICATES)
    closed = classical.power(design, mu, tau=tau, **trial.settings())
    mcse = np.sqrt(closed * (1 - closed) / REPLICATES)
    for column in ("assurance", "power"):
        assert abs(table[column].iloc[0] - closed) < 4 * mcse, (column, table, closed)
    assert table["mdes"].iloc[0] == pytest.approx(
        classical.mdes(design, tau=tau, **trial.settings())
    )


@pytest.mark.parametrize("sites, se", [(5, 0.1), (12, 0.26), (60, 0.4)])
def test_the_vectorized_analysis_is_the_exact_posterior(sites, se):
    rng = np.random.default_rng(sites)
    estimates = 0.2 + 0.15 * rng.standard_normal((5, sites)) + se * rng.standard_normal((5, sites))
    priors = analysis_priors()
    fast = posterior_above(estimates, se, 0.1, priors)
    exact = [
        1 - normal_normal_exact(row, np.full(sites, se), priors=priors).cdf("mu", 0.1)
        for row in estimates
    ]
    np.testing.assert_allclose(fast, exact, atol=1e-6)


@pytest.mark.parametrize("criterion", [Criterion(), Criterion("interval"), Criterion("test")])
@pytest.mark.parametrize("design", ["multisite", "cluster"])
def test_assurance_grows_with_the_number_of_sites(criterion, design):
    learned = Learned(
        np.random.default_rng(0).normal(0.2, 0.05, 1000), np.full(1000, 0.1), icc=None
    )
    trials = [Trial(design, sites=sites, per_arm=20, icc=0.15) for sites in (6, 24, 96)]
    table = design_table(learned, trials, criterion, replicates=1000)
    assert table["assurance"].is_monotonic_increasing, table
    assert table["power"].is_monotonic_increasing, table


def test_a_trial_without_an_effect_succeeds_about_as_often_as_its_level():
    trial = Trial("cluster", sites=60, per_arm=20, icc=0.2)
    none = np.zeros(REPLICATES)
    rng = np.random.default_rng(3)
    for criterion in (Criterion(), Criterion("interval"), Criterion("test")):
        assert successes(trial, criterion, none, none, rng).mean() < 0.075, criterion


def test_effects_are_put_in_outcome_sds(eight_schools_exact):
    tree = eight_schools_exact.posterior_
    learned = Learned.from_tree(tree, outcome_sd=100.0)
    assert learned.mu.mean() == pytest.approx(tree["posterior"]["mu"].mean() / 100)
    assert learned.icc is None
    with pytest.raises(sitefx.SitefxInputError, match="--outcome-sd"):
        Learned.from_tree(tree)


@pytest.fixture(scope="module")
def teacher_fit(tmp_path_factory):
    """A saved exact fit of the teacher expectancy studies (standardized mean differences)."""
    folder = tmp_path_factory.mktemp("design") / "teacher"
    sitefx.SiteEffects(method="exact").fit(sitefx.load(ROOT / "studies/teacher_expectancy")).save(
        folder
    )
    return folder


def test_sitefx_design_writes_the_table_and_the_figure(cli, teacher_fit, tmp_path):
    out = tmp_path / "design"
    flags = ["--sites", "20,10", "--per-arm", "20", "--icc", "0.15", "--out", out]
    run = cli("design", teacher_fit, *flags)
    assert run.code == 0, run.err
    table = pd.read_csv(out / "design.csv")
    first = ["sites", "per_arm", "assurance", "assurance_mcse", "power", "mdes"]
    assert list(table.columns[:6]) == first
    assert table[["sites", "per_arm"]].values.tolist() == [[10, 20], [20, 20]]
    assert table["assurance"].between(0, 1).all()
    assert (out / "assurance.png").stat().st_size > 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"design.csv", "assurance.png", "design.json"} <= set(manifest["files"])
    settings = json.loads((out / "design.json").read_text())["settings"]
    assert settings["icc"] == 0.15 and settings["name"] == "posterior"
    assert "With 10 sites and 20 students per arm, the chance that the trial shows" in run.out
    assert "students per arm" in run.out.splitlines()[-2]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--sites", "10,x", "--per-arm", "20", "--icc", "0.1"], "--sites"),
        (["--sites", "1", "--per-arm", "20", "--icc", "0.1"], "--sites"),
        (["--sites", "10", "--per-arm", "20", "--icc", "1.5"], "--icc"),
        (["--sites", "10", "--per-arm", "20", "--icc", "0.1", "--prob", "1"], "--prob"),
        (["--sites", "10", "--per-arm", "20", "--icc", "0.1", "--target", "0"], "--target"),
        (["--sites", "10", "--per-arm", "20"], "--icc"),
    ],
)
def test_sitefx_design_refuses_bad_flags_in_one_line(cli, teacher_fit, tmp_path, flags, message):
    run = cli("design", teacher_fit, *flags, "--out", tmp_path / "design")
    assert_refused_in_one_line(run, message)
    assert not (tmp_path / "design").exists()


@pytest.mark.slow
def test_the_fast_analysis_agrees_with_full_exact_refits():
    """200 simulated trials, each refitted by SiteEffects(method="exact") with the analysis
    priors: the same posterior probabilities, so the same successes."""
    trial = Trial("multisite", sites=12, per_arm=20, icc=0.15)
    rng = np.random.default_rng(23)
    mu, tau = rng.normal(0.2, 0.1, 200), np.abs(rng.normal(0.1, 0.05, 200))
    theta = mu[:, None] + tau[:, None] * rng.standard_normal((200, trial.sites))
    estimates = theta + trial.site_se * rng.standard_normal(theta.shape)
    fast = posterior_above(estimates, trial.site_se, 0.0, analysis_priors())
    model = sitefx.SiteEffects(
        method="exact", priors={"mu": "normal(0, 2.5)", "tau": "half-normal(1)"}
    )
    refits = []
    for row in estimates:
        frame = pd.DataFrame({"site": np.arange(trial.sites).astype(str), "d": row})
        frame["se"] = trial.site_se
        study = sitefx.load(frame, site="site", estimate="d", se="se")
        refits.append(1 - float(model.fit(study).exact_.cdf("mu", 0.0)))
    refits = np.array(refits)
    np.testing.assert_allclose(fast, refits, atol=1e-5)
    share, again = (fast > 0.95).mean(), (refits > 0.95).mean()
    assert abs(share - again) <= 2 * np.sqrt(share * (1 - share) / 200) + 1e-12


def test_a_records_fit_gives_its_intraclass_correlation_and_outcome_sd():
    draws = {"mu": 2.0, "tau": 1.0, "alpha_sd": 3.0, "sigma": 4.0}
    posterior = xr.Dataset(
        {name: (("chain", "draw"), np.full((2, 5), value)) for name, value in draws.items()}
    )
    tree = xr.DataTree.from_dict({"posterior": posterior})
    tree.attrs.update(data_kind="individual", outcome_sd=5.0)
    learned = Learned.from_tree(tree)
    assert learned.icc == pytest.approx(9 / 25)
    assert learned.mu.mean() == pytest.approx(0.4) and learned.tau.mean() == pytest.approx(0.2)
    tree["posterior"] = posterior.drop_vars("sigma")  # a binary outcome: log odds ratios
    binary = Learned.from_tree(tree)  # on the logistic latent scale, SD pi / sqrt(3)
    assert binary.mu.mean() == pytest.approx(2.0 * np.sqrt(3) / np.pi)
    assert binary.icc == pytest.approx(9 / (9 + np.pi**2 / 3))


def test_a_design_from_priors_alone(cli, tmp_path):
    out = tmp_path / "design"
    priors = ["--prior-mu", "normal(0.2, 0.05)", "--prior-tau", "half-normal(0.1)"]
    run = cli(
        "design", *priors, "--sites", "10,40", "--per-arm", "25", "--icc", "0.15", "--out", out
    )
    assert run.code == 0, run.err
    table = pd.read_csv(out / "design.csv")
    assert table["assurance"].is_monotonic_increasing and table["assurance"].iloc[-1] > 0.9
    assert "With 40 sites and 25 students per arm" in run.out
    assert_refused_in_one_line(cli("design", "--sites", "10", "--per-arm", "5"), "--prior-mu")
    bad = cli(
        "design",
        *priors[:2],
        "--prior-tau",
        "half-normal(",
        "--sites",
        "10",
        "--per-arm",
        "5",
        "--icc",
        "0.1",
        "--out",
        tmp_path / "x",
    )
    assert_refused_in_one_line(bad, "--prior-tau")


def test_a_design_in_the_fits_folder_becomes_a_report_section(cli, tmp_path):
    folder = tmp_path / "eight"
    assert cli("fit", ROOT / "studies/eight_schools", "--out", folder, "--quiet").code == 0
    flags = ["--sites", "20,40", "--per-arm", "25", "--outcome-sd", "100", "--icc", "0.2"]
    run = cli("design", folder, *flags, "--criterion", "test", "--replicates", "500")
    assert run.code == 0, run.err
    assert "With 40 schools and 25 students per arm, the chance that the trial rejects" in run.out
    sitefx.open_fit(folder)  # still a complete, unedited fit
    assert cli("report", folder, "--format", "md").code == 0
    report = (folder / "report.md").read_text(encoding="utf-8")
    assert "Designing the next trial" in report and "With 40 schools" in report
    assert (folder / "figures" / "assurance.png").stat().st_size > 0


def test_costs_name_the_cheapest_design_that_reaches_the_target(cli, tmp_path):
    out = tmp_path / "design"
    priors = ["--prior-mu", "normal(0.2, 0.05)", "--prior-tau", "half-normal(0.1)"]
    costs = ["--cost-site", "5000", "--cost-student", "100", "--budget", "200000"]
    trial = ["--sites", "10,20,40", "--per-arm", "10,25", "--icc", "0.15"]
    run = cli("design", *priors, *trial, *costs, "--out", out)
    assert run.code == 0, run.err
    table = pd.read_csv(out / "design.csv")
    assert (table["cost"] == table["sites"] * (5000 + 2 * table["per_arm"] * 100)).all()
    reached = table[(table["assurance"] >= 0.8) & (table["cost"] <= 200000)]
    best = reached.loc[reached["cost"].idxmin()]
    assert f"is {best['sites']:.0f} sites with {best['per_arm']:.0f} students per arm" in run.out
    assert_refused_in_one_line(
        cli("design", *priors, *trial, "--cost-site", "-1", "--out", tmp_path / "x"),
        "--cost-site",
    )


def test_a_design_from_the_map_prior_of_earlier_studies(cli, tmp_path):
    history = ["--historical", STUDIES / "teacher_expectancy", "--prior-tau", "half-normal(0.1)"]
    trial = ["--sites", "20,80", "--per-arm", "25", "--icc", "0.15"]
    run = cli("design", *history, *trial, "--out", tmp_path / "design")
    assert run.code == 0, run.err
    assert "meta-analytic-predictive prior of the average effect is worth about" in run.out
    assert pd.read_csv(tmp_path / "design" / "design.csv")["assurance"].is_monotonic_increasing
    both = cli("design", *history, "--prior-mu", "normal(0, 1)", *trial, "--out", tmp_path / "x")
    assert_refused_in_one_line(both, "--prior-mu or --historical")


def test_earlier_studies_from_a_data_file_equal_their_study_folder(cli, tmp_path):
    tau = ["--prior-tau", "half-normal(0.1)", "--sites", "20", "--per-arm", "25", "--icc", "0.15"]
    folder = STUDIES / "teacher_expectancy"
    table = folder / "teacher_expectancy.csv"
    columns = ["--site", "study", "--estimate", "d", "--se", "se", "--n", "n"]
    by_folder = cli("design", "--historical", folder, *tau, "--out", tmp_path / "folder")
    by_file = cli("design", "--historical", table, *columns, *tau, "--out", tmp_path / "file")
    assert by_folder.code == by_file.code == 0, by_file.err
    assert by_file.out.splitlines()[:-1] == by_folder.out.splitlines()[:-1]  # all but "wrote"
    unnamed = cli("design", "--historical", table, *tau, "--out", tmp_path / "x")
    assert_refused_in_one_line(unnamed, "--site, --estimate and --se")
    se = ["--se", "se"]
    for_a_folder = cli("design", "--historical", folder, *se, *tau, "--out", tmp_path / "y")
    assert_refused_in_one_line(for_a_folder, "--se: only for a --historical data file")


def test_the_cluster_posterior_is_the_t_likelihood_times_the_prior():
    priors = Priors(mu=Prior("normal", (0.2, 0.1)), tau=Prior("half-normal", (1.0,)))
    difference, se, df = np.array([0.35, -0.1, 0.02]), np.array([0.12, 0.3, 0.05]), 4
    fast = cluster_posterior_above(difference, se, df, 0.1, priors)

    def density(mu, row):
        return stats.t.pdf((mu - difference[row]) / se[row], df) * stats.norm.pdf(mu, 0.2, 0.1)

    for row in range(3):
        above, below = (
            integrate.quad(density, *ends, args=(row,), epsabs=1e-13)[0]
            for ends in ((0.1, np.inf), (-np.inf, 0.1))
        )
        assert fast[row] == pytest.approx(above / (above + below), abs=1e-8)


def test_a_cluster_trial_with_a_flat_prior_succeeds_exactly_when_the_t_test_rejects():
    trial = Trial("cluster", sites=12, per_arm=20, icc=0.2)
    flat = Priors(mu=Prior("normal", (0.0, 1e9)), tau=Prior("half-normal", (1.0,)))
    mu, tau = np.full(2000, 0.3), np.full(2000, 0.1)
    interval = successes(trial, Criterion("interval"), mu, tau, np.random.default_rng(5), flat)
    test = successes(trial, Criterion("test"), mu, tau, np.random.default_rng(5), flat)
    assert (interval == test).all()


# What a fit of summaries does not know: the ICC, and for eight schools the outcome's SD.
DESIGN_EXTRAS = {
    "eight_schools": {"outcome_sd": 100.0, "icc": 0.2},
    "school_calendar": {"icc": 0.15},
    "teacher_expectancy": {"icc": 0.15},
}


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_study_s_fit_designs_the_next_trial(name, bundled_fit):
    """What `sitefx design DIR` does with each bundled study's fit (the command itself is
    tested on a saved fit above)."""
    extras = DESIGN_EXTRAS.get(name, {})
    learned = Learned.from_tree(bundled_fit(name).posterior_, extras.get("outcome_sd"))
    icc = extras.get("icc", learned.icc)
    trials = [Trial("multisite", sites=sites, per_arm=20, icc=icc) for sites in (10, 40)]
    table = design_table(learned, trials, Criterion(), replicates=500)
    assert table["assurance"].between(0, 1).all() and len(table) == 2, table
