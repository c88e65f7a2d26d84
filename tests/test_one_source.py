"""One source of truth for every number (issue 16): exact values against bayesmeta, exact
tables that do not move with the seed, Monte-Carlo errors next to every draw-based number,
borderline conclusions, independent random streams, and the exact method on hostile inputs
against an independent quadrature."""

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

import sitefx
from sitefx import streams
from sitefx.infer.exact import normal_normal_exact
from sitefx.models.priors import Prior, Priors
from sitefx.report import Results
from sitefx.statistics import classify
from sitefx.testing import simulate_records
from tests.builders import (
    EIGHT_SCHOOLS_ESTIMATES,
    EIGHT_SCHOOLS_SES,
    ROOT,
    STUDIES,
    bundled_study,
    reference,
    write_frame,
)

BAYESMETA = reference("bayesmeta")
STATISTICS = ["mean", "sd", "q2.5", "q50", "q97.5"]
TOLERANCE = 0.002  # posterior SDs


def _case_fit(case: dict) -> sitefx.SiteEffects:
    columns = case["data_columns"]
    study = sitefx.load(
        ROOT / case["data_source"], site=columns["label"], estimate=columns["y"], se=columns["se"]
    )
    mu = "flat()" if case["prior_mu"] == "flat" else case["prior_mu"]
    return sitefx.SiteEffects(priors={"mu": mu, "tau": case["prior_tau"]}, seed=1).fit(study)


@pytest.mark.parametrize("case", BAYESMETA["cases"], ids=[c["name"] for c in BAYESMETA["cases"]])
def test_every_number_agrees_with_bayesmeta(case):
    """mu, tau, theta_new and each theta in summary.csv, estimands.csv and sites.csv: within
    0.002 posterior SD of bayesmeta 3.4 (DIRECT, tight settings); P(> 0) within 1e-4."""
    fit = _case_fit(case)
    assert fit.exact_ is not None
    summary = fit.summary().set_index("parameter")
    estimands = fit.estimands().set_index("estimand")
    sites = fit.sites().set_index("site")
    labels = list(case["theta"])
    assert list(sites.index) == labels
    for name in ["mu", "tau", "theta_new"]:
        expected = case[name]
        for statistic in STATISTICS:
            for table in (summary, estimands):
                gap = abs(table.at[name, statistic] - expected[statistic]) / expected["sd"]
                assert gap < TOLERANCE, (name, statistic, gap)
            assert summary.at[name, f"mcse_{statistic}"] == 0.0
        if "p_gt_0" in expected:
            assert estimands.at[name, "prob_positive"] == pytest.approx(
                expected["p_gt_0"], abs=1e-4
            )
    for label in labels:
        expected = case["theta"][label]
        for statistic in STATISTICS:
            for value in (summary.at[f"theta[{label}]", statistic], sites.at[label, statistic]):
                assert abs(value - expected[statistic]) / expected["sd"] < TOLERANCE, label
        assert sites.at[label, "prob_above"] == pytest.approx(expected["p_gt_0"], abs=1e-4)


def test_exact_tables_are_the_same_whatever_the_seed(tmp_path, cli):
    outputs = {}
    for seed in (1, 2):
        out = tmp_path / f"seed{seed}"
        study = STUDIES / "teacher_expectancy"
        options = ["--moderators", "weeks", "--seed", str(seed), "--quiet"]
        assert cli("fit", study, *options, "--out", out).code == 0
        outputs[seed] = out
    for name in ("summary.csv", "estimands.csv", "sites.csv"):
        first = (outputs[1] / name).read_bytes()
        assert first == (outputs[2] / name).read_bytes(), name
    draws = [
        sitefx.load_datatree(out / "posterior.nc")["posterior"]["mu"] for out in outputs.values()
    ]
    assert not np.array_equal(draws[0], draws[1])  # the seed still picks the draws


def test_the_exact_posterior_is_stored_and_read_back(tmp_path):
    fit = sitefx.SiteEffects(seed=3).fit(bundled_study("eight_schools"))
    group = fit.posterior_["exact"]
    assert set(group.data_vars) >= {"log_tau", "weight", "theta_mean", "theta_var"}
    np.testing.assert_allclose(group["weight"].sum(), 1.0)
    fit.save(tmp_path)
    reloaded = Results(sitefx.load_datatree(tmp_path / "posterior.nc"))
    pd.testing.assert_frame_equal(reloaded.sites, fit.sites())
    pd.testing.assert_frame_equal(reloaded.estimands, fit.estimands())
    # P(theta_j > 0) from the stored mixture moments alone, as a user would compute it
    weight = group["weight"].values[:, None, None] * group["component_weight"].values[..., None]
    z = group["theta_mean"].values / np.sqrt(group["theta_var"].values)
    by_hand = np.sum(weight * special.ndtr(z), axis=(0, 1))
    np.testing.assert_allclose(fit.sites()["prob_above"], by_hand, rtol=1e-12)


def test_exact_estimands_equal_those_of_400_000_exact_draws_within_monte_carlo_error():
    """Averages over sites, mean ranks, triple-goal estimates and the site level's pooling."""
    study = bundled_study("teacher_expectancy", moderators="weeks")
    fit = sitefx.SiteEffects(seed=1).fit(study)
    many = sitefx.SiteEffects(seed=2, chains=4, draws=100_000).fit(study)
    exact = fit.sites().set_index("site")
    posterior = many.posterior_["posterior"]
    theta = posterior["theta"].transpose("chain", "draw", "site").values
    from sitefx import estimands as e

    ranks = e.posterior_ranks(theta)
    np.testing.assert_allclose(exact["rank_mean"], ranks.reshape(-1, 19).mean(0), atol=0.02)
    np.testing.assert_allclose(exact["triple_goal"], e.triple_goal(theta, ranks), atol=0.01)
    deviation = theta - e.predicted_site_means(many.posterior_)
    table = fit.estimands().set_index("estimand")
    assert table.at["gelman_pardoe_pooling", "mean"] == pytest.approx(
        e.gelman_pardoe_pooling(deviation), abs=0.003
    )
    mu_sites = theta.mean(axis=2).ravel()
    assert table.at["mu_sites", "mean"] == pytest.approx(mu_sites.mean(), abs=0.002)
    assert table.at["mu_sites", "sd"] == pytest.approx(mu_sites.std(), rel=0.01)
    assert table.at["share_above", "mcse_mean"] == 0.0
    assert table.at["share_above", "mean"] == pytest.approx(
        float(e.share_above(theta).mean()), abs=0.002
    )


def test_nuts_numbers_carry_their_monte_carlo_error(eight_schools_fit):
    summary = eight_schools_fit.summary()
    mcse = [f"mcse_{name}" for name in STATISTICS]
    assert (summary[mcse] > 0).all(axis=None)
    sites = eight_schools_fit.sites()
    for column in ["mean", "q2.5", "q97.5", "prob_above", "pooling_factor", "triple_goal"]:
        assert (sites[f"mcse_{column}"] > 0).all(), column
    estimands = eight_schools_fit.estimands().set_index("estimand")
    assert estimands.loc[["mu", "theta_new", "mu_sites"], "mcse_prob_positive"].gt(0).all()
    # the MCSE of the mean is about sd / sqrt(ess)
    mu = summary.set_index("parameter").loc["mu"]
    assert mu["mcse_mean"] == pytest.approx(mu["sd"] / np.sqrt(mu["ess_bulk"]), rel=0.2)


def test_a_probability_within_monte_carlo_error_of_95_percent_is_borderline(eight_schools_fit):
    theta_a = eight_schools_fit.posterior_["posterior"]["theta"].sel(site="A").values
    threshold = float(np.quantile(theta_a, 0.05))  # P(theta_A > threshold) = 0.95 by draws
    results = Results(eight_schools_fit.posterior_, threshold=threshold)
    row = results.sites.set_index("site").loc["A"]
    assert abs(row["prob_above"] - 0.95) < 2 * row["mcse_prob_above"]
    assert row["conclusion"] == "borderline"
    sentences = sitefx.report.headline_sentences(eight_schools_fit.posterior_, results)
    borderline = [s for s in sentences if s.startswith("Too close to the 95% or 5% line")]
    assert borderline and borderline[0].endswith(": A.")
    assert not any("at least a 95% probability" in s and " A" in s for s in sentences)


def test_exact_probabilities_are_never_borderline():
    assert classify(0.9496) == "uncertain" and classify(0.95) == "above"
    assert classify(0.9496, 0.003) == "borderline" and classify(0.048, 0.003) == "borderline"
    assert classify(0.97, 0.003) == "above" and classify(0.5, 0.01) == "uncertain"


def test_random_streams_are_independent_by_purpose():
    normals = {p: streams.rng(5, p).standard_normal(20_000) for p in streams.PURPOSES}
    for first in streams.PURPOSES:
        for second in streams.PURPOSES:
            if first < second:
                correlation = np.corrcoef(normals[first], normals[second])[0, 1]
                assert abs(correlation) < 4 / np.sqrt(20_000), (first, second)
    with pytest.raises(sitefx.SitefxInputError, match="seed"):
        streams.check_seed(-1)


def test_new_site_noise_is_independent_of_the_site_effects_noise():
    """Collapsed records: theta_new's standardized noise is uncorrelated with the noise that
    drew the site effects (they used to be the same numbers)."""
    data, _ = simulate_records(6, 300, seed=4)
    seed, chains, draws = 9, 2, 1500
    fit = sitefx.SiteEffects(seed=seed, chains=chains, draws=draws, warmup=500).fit(data)
    posterior = fit.posterior_["posterior"]
    z_new = ((posterior["theta_new"] - posterior["mu"]) / posterior["tau"]).values.ravel()
    site_noise = streams.rng(seed, "site_effects").standard_normal((2, chains * draws, 6))
    old_noise = np.random.default_rng(seed).standard_normal((2, chains * draws, 6))
    limit = 4 / np.sqrt(z_new.size)
    for noise in (site_noise[0], site_noise[1], old_noise[0]):
        for site in range(6):
            assert abs(np.corrcoef(z_new, noise[:, site])[0, 1]) < limit
    assert abs(np.corrcoef(z_new, old_noise[0].ravel()[: z_new.size])[0, 1]) < limit


def _reference_moments(y, se, *, m0, s0, log_prior_tau, lower, upper):
    """mu and tau posterior moments by scipy's adaptive quadrature over tau in
    (lower, upper), written apart from sitefx (BDA3 section 5.4)."""

    def conditional(tau):
        v = se**2 + tau**2
        precision = 1 / s0**2 + np.sum(1 / v)
        mu_hat = (m0 / s0**2 + np.sum(y / v)) / precision
        log_marginal = (
            -0.5 * np.sum(np.log(v))
            - 0.5 * np.log(precision)
            - 0.5 * (np.sum(y**2 / v) + m0**2 / s0**2 - mu_hat**2 * precision)
        )
        return mu_hat, 1 / precision, log_marginal

    finite_upper = min(upper, 1e3)  # beyond it (infinite upper): one more piece, no points
    mid = np.sqrt(lower * finite_upper) if lower > 0 else finite_upper / 2
    shift = conditional(mid)[2] + log_prior_tau(mid)

    def expect(f):
        def integrand(t):
            return f(t) * np.exp(conditional(t)[2] + log_prior_tau(t) - shift)

        options = {"limit": 2000, "epsabs": 0, "epsrel": 1e-12}
        points = np.geomspace(max(lower, 1e-12), finite_upper, 60)[1:-1]
        total = integrate.quad(integrand, lower, finite_upper, points=points, **options)[0]
        if upper > finite_upper:
            total += integrate.quad(integrand, finite_upper, upper, **options)[0]
        return total

    norm = expect(lambda t: 1.0)
    mu_mean = expect(lambda t: conditional(t)[0]) / norm
    mu_second = expect(lambda t: conditional(t)[1] + conditional(t)[0] ** 2) / norm
    tau_mean = expect(lambda t: t) / norm
    tau_second = expect(lambda t: t**2) / norm
    return {
        "mu": (mu_mean, np.sqrt(mu_second - mu_mean**2)),
        "tau": (tau_mean, np.sqrt(tau_second - tau_mean**2)),
    }


Y, SE = EIGHT_SCHOOLS_ESTIMATES, EIGHT_SCHOOLS_SES


@pytest.mark.parametrize(
    ("label", "se", "tau_prior", "lower", "upper", "log_prior"),
    [
        (
            "narrow uniform",
            SE,
            "uniform(0.1368, 0.1376)",
            0.1368,
            0.1376,
            lambda t: 0.0,
        ),
        (
            "SEs from 1e-8 to 1e8",
            np.logspace(-8, 8, 8),
            "half-normal(11)",
            0.0,
            400.0,
            lambda t: stats.halfnorm.logpdf(t, scale=11),
        ),
        (
            "SEs of 1e-160",
            SE * 1e-160,
            "half-cauchy(5)",
            0.0,
            np.inf,
            lambda t: stats.halfcauchy.logpdf(t, scale=5),
        ),
    ],
)
def test_exact_method_on_hostile_inputs_against_quadrature(
    label, se, tau_prior, lower, upper, log_prior
):
    priors = Priors(mu=Prior.parse("normal(0, 28)"), tau=Prior.parse(tau_prior))
    posterior = normal_normal_exact(Y, se, priors=priors)
    reference = _reference_moments(
        Y, se, m0=0.0, s0=28.0, log_prior_tau=log_prior, lower=lower, upper=upper
    )
    for name in ("mu", "tau"):
        mean, sd = reference[name]
        assert float(posterior.mean(name)) == pytest.approx(mean, abs=1e-6 * sd), label
        assert float(posterior.sd(name)) == pytest.approx(sd, rel=1e-5), label
    low, high = posterior.quantile("tau", [1e-9, 1 - 1e-9])
    assert lower <= low <= high <= upper


def test_degenerate_summaries_exit_2_naming_the_sites(tmp_path, cli):
    frame = pd.DataFrame({"school": list("abcd"), "d": [3.0] * 4, "se": [1e-200] * 4})
    path = write_frame(frame, tmp_path / "tiny.csv")
    options = ["--site", "school", "--estimate", "d", "--se", "se", "--quiet"]
    run = cli("fit", path, *options, "--out", tmp_path / "out")
    assert run.code == 2
    error = run.err
    assert "too small" in error and "sites a, b, c, d" in error and "Traceback" not in error
    # through the Python API: sites known exactly (their SEs' squares underflow) are named
    priors = Priors(mu=Prior.parse("normal(0, 10)"), tau=Prior.parse("half-normal(2)"))
    y, se = np.array([3.0, 1.0, 2.0, 3.0]), np.array([1e-170, 1.0, 1.0, 1e-170])
    with pytest.raises(sitefx.SitefxInputError, match=r"sites 1, 4 .* underflow"):
        normal_normal_exact(y, se, priors=priors)
    with pytest.raises(sitefx.SitefxInputError, match="other units"):
        normal_normal_exact(y * 1e-120, np.ones(4) * 1e-120, priors=priors)


def test_calibrate_explains_its_result(tmp_path, cli):
    out = tmp_path / "calibration"
    run = cli("calibrate", STUDIES / "eight_schools", "--replicates", "20", "--quiet", "--out", out)
    assert run.code == 0
    printed = run.out
    assert "theta: one site's rank per replicate" in printed
    assert "not independent" in printed
    summary = pd.read_csv(out / "calibration_summary.csv")
    assert summary["verdict"].str.startswith(("calibrated", "NOT calibrated")).all()


def test_sensitivity_tables_carry_their_monte_carlo_errors(eight_schools):
    """Prior grid: exact pairs have MCSE 0, a NUTS pair (a Student-t prior on mu) its own;
    leave-one-site-out of an exact fit: MCSE 0; effect sizes: their MCSE scaled too."""
    from sitefx.sensitivity import leave_one_site_out, prior_grid

    model = sitefx.SiteEffects(seed=1, chains=2, draws=500, warmup=500)
    grid = prior_grid(
        model, eight_schools, alt_tau=[], alt_mu=["student-t(3, 0, 20)"]
    ).table.set_index("prior_mu")
    exact_row, nuts_row = grid.iloc[0], grid.loc["student-t(3, 0, 20)"]
    mcse = [f"mcse_{name}_{statistic}" for name in ("mu", "tau") for statistic in STATISTICS[:1]]
    assert (exact_row[mcse] == 0).all() and exact_row["mcse_prob_mu_above"] == 0
    assert (nuts_row[mcse] > 0).all() and nuts_row["mcse_prob_mu_above"] > 0
    fit = sitefx.SiteEffects(seed=1, outcome_sd=10.0).fit(eight_schools)
    influence = leave_one_site_out(fit)
    assert (influence[["mcse_mu_mean", "mcse_prob_mu_positive"]] == 0).all(axis=None)
    table = fit.estimands().set_index("estimand")
    assert table.at["mu", "mcse_es_mean"] == 0.0
    assert table.at["sd_sites", "mcse_es_mean"] == pytest.approx(
        table.at["sd_sites", "mcse_mean"] / 10.0
    )
