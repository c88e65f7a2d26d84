"""Binary outcomes from arm-level counts: validation, raw log odds ratios, recovery."""

import numpy as np
import pandas as pd
import pytest

import sitefx
from sitefx import StudyDataError
from tests.builders import (
    ARM_COUNTS_ROLES,
    REFERENCE,
    assert_agrees_with_brms,
    assert_same_posterior,
    assert_site_effects_near,
    flags,
    reference,
    write_frame,
)

ROLES = ARM_COUNTS_ROLES


def counts(n_sites=30, mu=0.4, tau=0.2, seed=0):
    """Simulated arm counts (``ROLES``) of ``n_sites`` schools, rows numbered from 1."""
    rng = np.random.default_rng(seed)
    n_t, n_c = rng.integers(60, 300, n_sites), rng.integers(60, 300, n_sites)
    alpha, theta = rng.normal(-0.5, 0.5, n_sites), rng.normal(mu, tau, n_sites)
    frame = pd.DataFrame(
        {
            "school": [f"school {j}" for j in range(n_sites)],
            "pass_t": rng.binomial(n_t, 1 / (1 + np.exp(-(alpha + theta)))),
            "n_t": n_t,
            "pass_c": rng.binomial(n_c, 1 / (1 + np.exp(-alpha))),
            "n_c": n_c,
        }
    )
    frame.index = pd.RangeIndex(1, n_sites + 1)
    return frame


def test_raw_log_odds_ratios_and_their_ses_match_hand_computation():
    frame = pd.DataFrame(
        {
            "school": ["a", "b"],
            "pass_t": [30, 0],
            "n_t": [50, 10],
            "pass_c": [20, 4],
            "n_c": [50, 10],
        }
    )
    raw = sitefx.load(frame, **ROLES).data.raw_site_effects()
    assert raw.estimate[0] == pytest.approx(np.log(30 / 20) - np.log(20 / 30))
    assert raw.se[0] == pytest.approx(np.sqrt(1 / 30 + 1 / 20 + 1 / 20 + 1 / 30))
    # an empty cell: 0.5 added to each cell of that site (Haldane-Anscombe)
    assert raw.estimate[1] == pytest.approx(np.log(0.5 / 10.5) - np.log(4.5 / 6.5))


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("pass_t", 500, r"need 0 <= 'pass_t' <= 'n_t'.*school 3"),
        ("pass_c", -1, r"'pass_c' must hold whole counts >= 0.*school 3"),
        ("n_c", 12.5, r"'n_c' must hold whole counts"),
        ("n_t", 0, r"'n_t' > 0.*school 3"),
    ],
)
def test_bad_counts_name_the_sites(column, value, message):
    frame = counts(5).astype({column: float})
    frame.loc[4, column] = value
    with pytest.raises(StudyDataError, match=message):
        sitefx.load(frame, **ROLES)


def test_missing_count_roles_and_repeated_sites_are_refused():
    with pytest.raises(StudyDataError, match="arm counts also need: events_control, n_control"):
        sitefx.load(counts(5), site="school", events_treated="pass_t", n_treated="n_t")
    frame = counts(5)
    frame.loc[2, "school"] = "school 0"
    with pytest.raises(StudyDataError, match="repeated: school 0"):
        sitefx.load(frame, **ROLES)


def test_recovers_the_average_log_odds_ratio():
    fit = sitefx.SiteEffects(seed=2, target_accept=0.99).fit(
        sitefx.load(counts(40, seed=4), **ROLES)
    )
    table = fit.summary().set_index("parameter")
    assert table.at["mu", "q2.5"] < 0.4 < table.at["mu", "q97.5"]
    assert table.at["tau", "q2.5"] < 0.2 < table.at["tau", "q97.5"]
    posterior = fit.posterior_["posterior"]
    assert posterior["risk_difference"].dims == ("chain", "draw", "site")
    assert {"events_treated", "events_control"} <= set(fit.posterior_["observed_data"].data_vars)
    assert fit.exact_ is None and "binomial_arms" in fit.posterior_.attrs["sampler"]


def test_arm_count_flags_fit_a_csv_of_counts(tmp_path, cli):
    path = write_frame(counts(12), tmp_path / "pass.csv")
    arms = flags(ROLES)
    fast = ["--draws", "300", "--warmup", "300", "--quiet"]
    assert cli("fit", path, "--out", tmp_path / "out", *arms, *fast).code == 0
    table = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert "risk_difference[school 0]" in set(table["parameter"])


def test_arm_counts_match_brms_with_identical_priors():
    """Same model and priors as brms/rstan (tests/reference/binary_brms.json): posterior means
    within 4x the combined Monte-Carlo error, SDs within 10%."""
    brms = reference("binary_brms")
    study = sitefx.load(REFERENCE / "binary_counts.csv", **ROLES)
    fit = sitefx.SiteEffects(draws=2500, target_accept=0.99, seed=5).fit(study)
    assert_agrees_with_brms(fit, brms["parameters"])


# Binary individual records (--family binomial).


@pytest.mark.slow  # a long statistical check; run with -m slow
def test_binary_records_arm_counts_and_per_record_agree():
    """Without covariates the per-site arm counts are sufficient: the counts model and the
    per-record logit give the same posterior (within MC error)."""
    from sitefx.testing import simulate_binary_records

    data, _ = simulate_binary_records(12, 1200, seed=3)
    counts = sitefx.SiteEffects(seed=1).fit(data)
    per_record = sitefx.SiteEffects(seed=2, collapse=False).fit(data)
    assert "binomial_arms" in counts.posterior_.attrs["sampler"]
    assert "per_record_logit" in per_record.posterior_.attrs["sampler"]
    assert_same_posterior(
        counts, per_record, ["mu", "tau", "alpha_mean", "alpha_sd", "theta", "risk_difference"]
    )
    raw = counts.posterior_["constant_data"]["raw_estimate"].values
    np.testing.assert_allclose(raw, data.arm_counts().raw_site_effects().estimate)


@pytest.mark.slow  # a long statistical check; run with -m slow
def test_binary_records_with_covariates_recover_truth():
    from sitefx.testing import simulate_binary_records

    data, truth = simulate_binary_records(20, 3000, n_covariates=2, seed=5)
    fit = sitefx.SiteEffects(seed=3).fit(data)
    posterior = fit.posterior_["posterior"]
    for name in ["mu", "alpha_mean", "beta"]:
        z = (posterior[name].mean(("chain", "draw")) - truth[name]) / posterior[name].std(
            ("chain", "draw")
        )
        assert (np.abs(z) < 3.5).all(), (name, z.values)
    assert "sigma" not in posterior and "rho" not in posterior
    assert fit.priors_.beta is not None and fit.warnings_ == []


def test_binary_outcome_must_be_zero_or_one(tmp_path, cli):
    frame = pd.DataFrame(
        {"school": ["a"] * 4 + ["b"] * 4, "t": [0, 0, 1, 1] * 2, "passed": [0, 1, 1, 2] + [1] * 4}
    )
    path = write_frame(frame, tmp_path / "pass.csv")
    roles = ["--site", "school", "--treatment", "t", "--outcome", "passed"]
    run = cli("fit", path, "--out", tmp_path / "out", *roles, "--family", "binomial")
    err = run.err
    assert run.code == 2, err
    assert (
        "'passed' must be a binary outcome coded 0/1 for family binomial; values 2 at rows 4" in err
    )
    with pytest.raises(StudyDataError, match=r"values 2 at rows 4"):
        sitefx.load(
            frame.set_axis(range(1, 9)),
            site="school",
            treatment="t",
            outcome="passed",
            family="binomial",
        )


def test_binary_records_match_brms():
    """Binary records with two covariates, same model and priors as brms
    (tests/reference/binary_records_brms.json): means within 4 combined MC errors, SDs within
    10%, and every school's log odds ratio."""
    brms = reference("binary_records_brms")
    frame = pd.read_csv(REFERENCE / "binary_records.csv")
    study = sitefx.load(
        frame,
        site="school",
        outcome="passed",
        treatment="treat",
        covariates=["x1", "x2"],
        family="binomial",
    )
    priors = {
        "mu": "normal(0, 2.5)",
        "tau": "half-normal(1)",
        "alpha_mean": "normal(0, 2.5)",
        "alpha_sd": "half-normal(2.5)",
        "beta": "normal(0, 2.5)",
    }
    fit = sitefx.SiteEffects(priors=priors, draws=2500, seed=7).fit(study)
    assert_agrees_with_brms(fit, brms["parameters"])
    assert_site_effects_near(fit, brms["theta"], "school", sds=0.15)
