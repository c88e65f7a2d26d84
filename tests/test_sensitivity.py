"""Sensitivity analysis against references: exact power-scaled posteriors, separate fits,
refits without a site, and closed-form marginal likelihoods."""

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import sitefx
from sitefx.cli import main
from sitefx.data.statistics import SiteStatistics
from sitefx.families.summaries import student_t_marginal
from sitefx.infer.exact import normal_normal_exact
from sitefx.models.collapsed import collapsed_log_likelihood
from sitefx.models.priors import Prior
from sitefx.report.sensitivity import describe_sensitivity
from sitefx.sensitivity import influence as influence_module
from sitefx.sensitivity import leave_one_site_out, power_scaling, prior_grid
from sitefx.sensitivity import power as power_module
from sitefx.sensitivity.comparison import compare_models, site_loo
from sitefx.sensitivity.densities import site_log_likelihood
from sitefx.sensitivity.power import cjs_distance
from sitefx.testing import simulate_records
from tests.builders import STUDIES, bundled_study


@pytest.fixture(scope="module")
def exact_fit():
    """Eight schools, exact method, many independent draws (small Monte-Carlo error)."""
    study = bundled_study("eight_schools")
    return sitefx.SiteEffects(seed=3, chains=4, draws=10_000).fit(study)


@pytest.fixture(scope="module")
def mu_prior_sensitivity(exact_fit):
    """Raising normal(0, s) and half-normal(S) to the power alpha gives normal(0, s/sqrt(alpha))
    and half-normal(S/sqrt(alpha)): the exact method computes the power-scaled posteriors,
    whose CDFs at the draws give the sensitivity without importance sampling."""
    priors, data = exact_fit.priors_, exact_fit.data_
    mu = np.sort(exact_fit.posterior_["posterior"]["mu"].values.ravel())
    binwidth = np.diff(mu)

    def mu_cdf(alpha):
        scaled = sitefx.Priors(
            mu=Prior("normal", (priors.mu.params[0], priors.mu.params[1] / np.sqrt(alpha))),
            tau=Prior("half-normal", (priors.tau.params[0] / np.sqrt(alpha),)),
        )
        posterior = normal_normal_exact(data.estimate, data.se, priors=scaled)
        means, variances = posterior.components("mu")
        cdf = stats.norm.cdf(mu[:-1, None], means, np.sqrt(variances)) @ posterior.weight
        return cdf

    base = mu_cdf(1.0)
    gradients = []
    for alpha in (0.99, 1.01):
        moved = mu_cdf(alpha)
        distance = max(
            cjs_distance(base, moved, binwidth),
            cjs_distance(1 - base[::-1], 1 - moved[::-1], binwidth[::-1]),  # the -mu side
        )
        gradients.append(distance / abs(np.log2(alpha)))
    return np.mean(gradients)


def test_prior_power_scaling_matches_the_exact_power_scaled_posteriors(
    exact_fit, mu_prior_sensitivity
):
    table = power_scaling(exact_fit.posterior_).set_index("parameter")
    assert table.loc["mu", "prior"] == pytest.approx(mu_prior_sensitivity, rel=0.15, abs=0.002)


def test_power_scaling_flags_a_strong_prior(eight_schools):
    fit = sitefx.SiteEffects(seed=1, priors={"tau": "half-normal(1)"}).fit(eight_schools)
    table = power_scaling(fit.posterior_).set_index("parameter")
    assert table.loc["tau", "prior"] > 0.05 and table.loc["tau", "likelihood"] < 0.05
    assert table.loc["tau", "diagnosis"] == "strong prior / weak likelihood"
    assert table.loc["mu", "diagnosis"] == ""
    assert (table[["prior_pareto_k", "likelihood_pareto_k"]] < 0.7).all(axis=None)


def test_power_scaling_says_when_its_weights_are_unreliable(exact_fit, monkeypatch):
    monkeypatch.setattr(power_module, "MAX_PARETO_K", -np.inf)  # every weight "unreliable"
    table = power_scaling(exact_fit.posterior_).set_index("parameter")
    notes = "; ".join(power_module.UNRELIABLE.values())
    assert table.loc["mu", "diagnosis"] == notes
    assert table.loc["tau", "diagnosis"].endswith("; " + notes)
    assert set(table["prior_method"]) == {"importance weights"}


def test_unreliable_prior_weights_of_an_exact_fit_are_replaced_by_exact_refits(
    exact_fit, mu_prior_sensitivity, monkeypatch
):
    """Refitting the exact posterior with the priors raised to 0.99 and 1.01 is the
    closed-form power-scaled posterior itself: no importance sampling left."""
    monkeypatch.setattr(power_module, "MAX_PARETO_K", -np.inf)
    table = power_scaling(exact_fit).set_index("parameter")
    assert set(table["prior_method"]) == {"refit"}
    assert table.loc["mu", "prior"] == pytest.approx(mu_prior_sensitivity, rel=0.03)
    assert table.loc["mu", "diagnosis"] == power_module.UNRELIABLE["likelihood"]


def test_unreliable_prior_weights_of_a_nuts_fit_are_replaced_by_refits(monkeypatch):
    """NUTS refits with the prior half and twice as strong find the strong tau prior too."""
    study = bundled_study("eight_schools")
    settings = {"seed": 1, "method": "nuts", "draws": 1000, "progress": False}
    fit = sitefx.SiteEffects(**settings, priors={"tau": "half-normal(1)"}).fit(study)
    weighted = power_scaling(fit).set_index("parameter")
    monkeypatch.setattr(power_module, "MAX_PARETO_K", -np.inf)
    refitted = power_scaling(fit).set_index("parameter")
    assert set(refitted["prior_method"]) == {"refit"}
    assert refitted.loc["tau", "prior"] > 0.05
    assert refitted.loc["tau", "diagnosis"].startswith("strong prior / weak likelihood")
    # a finite difference over a wider power, against the derivative at 1
    assert refitted.loc["tau", "prior"] == pytest.approx(weighted.loc["tau", "prior"], rel=0.5)


def test_site_likelihood_is_the_marginal_normal(exact_fit):
    tree = exact_fit.posterior_
    posterior = tree["posterior"]
    data = exact_fit.data_
    expected = stats.norm.logpdf(
        data.estimate,
        posterior["mu"].values[..., None],
        np.sqrt(posterior["tau"].values[..., None] ** 2 + data.se**2),
    )
    np.testing.assert_allclose(site_log_likelihood(tree).values, expected, rtol=1e-12)


@pytest.mark.filterwarnings("ignore::sitefx.SamplingWarning")  # algebra, not sampling, on test
def test_site_likelihood_with_districts_centres_on_the_district_effect():
    study = bundled_study("school_calendar")
    fit = sitefx.SiteEffects(seed=2, chains=2, draws=300, warmup=500).fit(study)
    posterior, constant = fit.posterior_["posterior"], fit.posterior_["constant_data"]
    district = posterior["theta_district"].sel(district=constant["site_district"])
    scale = np.sqrt(posterior["tau"] ** 2 + constant["se"] ** 2)
    z = (constant["raw_estimate"] - district) / scale
    expected = -0.5 * z**2 - np.log(scale) - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(
        site_log_likelihood(fit.posterior_).values,
        expected.transpose("chain", "draw", "site").values,
        rtol=1e-10,
    )


@pytest.mark.parametrize(
    ("tau", "se", "df"), [(0.05, 1.0, 3.0), (1.0, 1.0, 4.0), (5.0, 0.2, 2.5), (0.01, 2.0, 1.5)]
)
def test_student_t_marginal_likelihood_against_adaptive_quadrature(tau, se, df):
    y, m = 0.7, -0.2
    reference, _ = integrate.quad(
        lambda t: stats.norm.pdf(y, t, se) * stats.t.pdf(t, df, m, tau),
        -np.inf,
        np.inf,
        epsabs=1e-14,
        limit=400,
    )
    ours = student_t_marginal(
        np.array([y]), np.array([se]), np.array([[[m]]]), np.array([[tau]]), df
    )
    assert float(np.exp(ours).ravel()[0]) == pytest.approx(reference, rel=1e-4)


def test_prior_grid_rows_equal_separate_fits(eight_schools):
    """Exact rows equal the exact summaries of a separate fit with those priors."""
    model = sitefx.SiteEffects(seed=5)
    grid = prior_grid(model, eight_schools, alt_tau=["half-cauchy(5)"], alt_mu=["flat()"])
    assert len(grid.table) == 4 and len(grid.sites) == 4 * 8
    row = grid.table.set_index(["prior_mu", "prior_tau"]).loc[("flat()", "half-cauchy(5)")]
    single = sitefx.SiteEffects(seed=5, priors={"mu": "flat()", "tau": "half-cauchy(5)"})
    single.fit(eight_schools)
    summary = single.summary().set_index("parameter")
    assert row["mu_mean"] == pytest.approx(summary.loc["mu", "mean"], rel=1e-12)
    assert row["tau_q97.5"] == pytest.approx(summary.loc["tau", "q97.5"], rel=1e-12)
    assert row["theta_new_q2.5"] == pytest.approx(summary.loc["theta_new", "q2.5"], rel=1e-12)
    draws = single.posterior_["posterior"]
    assert row["prob_mu_above"] == pytest.approx(float((draws["mu"] > 0).mean()), abs=0.01)
    sites = grid.sites.set_index(["prior_mu", "prior_tau", "site"])
    theta_a = sites.loc[("flat()", "half-cauchy(5)", "A")]
    assert theta_a["theta_mean"] == pytest.approx(summary.loc["theta[A]", "mean"], rel=1e-12)
    prob_a = float((draws["theta"].sel(site="A") > 0).mean())
    assert theta_a["prob_above"] == pytest.approx(prob_a, abs=0.01)
    assert grid.table["prior_tau"].iloc[0] == "half-normal(11)"  # the model's own first


def test_prior_grid_flags_conclusions_that_flip():
    frame = pd.DataFrame(
        {"site": list("abcdef"), "d": [0.9, 0.7, 1.1, 0.8, 1.0, 0.6], "se": [0.4] * 6}
    )
    study = sitefx.load(frame, site="site", estimate="d", se="se")
    grid = prior_grid(sitefx.SiteEffects(seed=1), study, alt_tau=[], alt_mu=["normal(0, 0.05)"])
    assert grid.table["conclusion"].tolist() == ["above", "uncertain"]
    assert grid.table["flipped"].tolist() == [False, True] and grid.flips


def test_leave_one_out_refits_equal_fits_without_the_site(exact_fit, eight_schools):
    table = leave_one_site_out(exact_fit).set_index("site")
    keep = np.array(eight_schools.data.site) != "C"
    model = sitefx.SiteEffects(
        **exact_fit.get_params() | {"priors": exact_fit.priors_.as_strings()}
    )
    without = model.fit(eight_schools.data.subset(keep))
    exact = without.exact_  # every number of an exact refit is exact, not from its draws
    assert table.loc["C", "method"] == "exact"
    assert table.loc["C", "mu_mean"] == pytest.approx(float(exact.mean("mu")), rel=1e-12)
    assert table.loc["C", "tau_mean"] == pytest.approx(float(exact.mean("tau")), rel=1e-12)
    assert table.loc["C", "mu_q97.5"] == pytest.approx(exact.quantile("mu", [0.975])[0])
    assert table.loc["C", "prob_mu_positive"] == pytest.approx(1 - exact.cdf("mu", 0.0))
    summary = without.summary().set_index("parameter")
    assert table.loc["C", "mu_q2.5"] == pytest.approx(summary.at["mu", "q2.5"], rel=1e-9)
    assert list(without.posterior_["posterior"]["site"].values) == list("ABDEFGH")


def test_psis_leave_one_out_agrees_with_exact_refits(exact_fit, eight_schools_fit):
    exact = leave_one_site_out(exact_fit).set_index("site")
    psis = leave_one_site_out(eight_schools_fit).set_index("site")
    assert (psis["method"] == "psis").all() and (psis["pareto_k"] < 0.7).all()
    mu_sd = float(eight_schools_fit.posterior_["posterior"]["mu"].std())
    np.testing.assert_allclose(psis["mu_mean"], exact["mu_mean"], atol=0.1 * mu_sd)
    np.testing.assert_allclose(psis["tau_mean"], exact["tau_mean"], rtol=0.08)


@pytest.mark.filterwarnings("ignore::sitefx.SamplingWarning")  # short runs on purpose
def test_high_pareto_k_sites_are_refitted(eight_schools_fit, monkeypatch):
    monkeypatch.setattr(influence_module, "MAX_PARETO_K", -np.inf)  # every site "unreliable"
    small = sitefx.SiteEffects(**eight_schools_fit.get_params() | {"draws": 300, "warmup": 300})
    three = eight_schools_fit.data_.subset(np.arange(8) < 3)  # A, B, C: three refits
    fit = small.fit(three)
    table = leave_one_site_out(fit).set_index("site")
    assert (table["method"] == "refit").all()
    again = sitefx.SiteEffects(**small.get_params() | {"priors": fit.priors_.as_strings()})
    without = again.fit(three.subset(np.array([False, True, True]))).posterior_["posterior"]
    assert table.loc["A", "mu_mean"] == pytest.approx(float(without["mu"].mean()), rel=1e-12)


def test_psis_loo_over_sites_matches_exact_leave_one_out(exact_fit):
    """elpd_loo against its definition: for each site, log E[p(y_j | mu, tau)] over the
    exact posterior refitted without the site."""
    data = exact_fit.data_
    model = sitefx.SiteEffects(
        **exact_fit.get_params() | {"priors": exact_fit.priors_.as_strings()}
    )
    pointwise = []
    for j in range(data.n_sites):
        keep = np.arange(data.n_sites) != j
        posterior = model.fit(data.subset(keep)).posterior_["posterior"]
        mu, tau = posterior["mu"].values.ravel(), posterior["tau"].values.ravel()
        density = stats.norm.pdf(data.estimate[j], mu, np.sqrt(tau**2 + data.se[j] ** 2))
        pointwise.append(np.log(density.mean()))
    loo = site_loo(exact_fit)
    np.testing.assert_allclose(loo.elpd_i.values, pointwise, atol=0.02)
    assert loo.elpd == pytest.approx(sum(pointwise), abs=0.05)
    assert (loo.pareto_k.values < 0.7).all()


def test_model_comparison_ranks_the_model_that_predicts_left_out_sites_better():
    study = bundled_study("teacher_expectancy")
    with_weeks = bundled_study("teacher_expectancy", moderators=["weeks"])
    fits = {
        "no moderator": sitefx.SiteEffects(seed=1).fit(study),
        "weeks": sitefx.SiteEffects(seed=1).fit(with_weeks),
    }
    table = compare_models(fits)
    assert table["model"].tolist() == ["weeks", "no moderator"]  # the classic finding
    elpd = {name: site_loo(fit).elpd for name, fit in fits.items()}
    assert table["elpd"].tolist() == pytest.approx([elpd["weeks"], elpd["no moderator"]])


def test_sensitivity_command_writes_tables_plots_and_a_report_section(tmp_path, capsys):
    out = tmp_path / "sens"
    arguments = ["sensitivity", str(STUDIES / "teacher_expectancy"), "--out", str(out)]
    assert main([*arguments, "--alt-tau", "half-cauchy(0.3)", "--alt-mu", "flat()"]) == 0
    printed = capsys.readouterr().out
    assert "Under 4 pairs of priors" in printed and "Leaving one site out" in printed
    assert "Predicting a left-out site (PSIS-LOO)" in printed
    files = ["prior_grid.csv", "power_scaling.csv", "leave_one_out.csv", "influence.png"]
    for name in [*files, "model_comparison.csv"]:
        assert (out / name).is_file()
    models = pd.read_csv(out / "model_comparison.csv")["model"]
    assert set(models) == {"normal site effects", "student-t site effects"}
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<h2>Sensitivity</h2>" in page and page.count("data:image/png;base64,") == 7


@pytest.fixture(scope="module")
def records_fit():
    """Students in classrooms in 8 schools, with covariates (simulated)."""
    data, _ = simulate_records(8, 800, n_covariates=2, clusters_per_site=3, seed=4)
    return sitefx.SiteEffects(seed=1, chains=4, draws=800, warmup=800).fit(data)


@pytest.mark.usefixtures("x64")  # the collapsed likelihood called directly
def test_records_site_likelihoods_sum_to_the_collapsed_likelihood(records_fit):
    """Each draw's per-site terms add up to the model's own collapsed likelihood."""
    data, posterior = records_fit.data_, records_fit.posterior_["posterior"]
    terms = site_log_likelihood(records_fit.posterior_, data)
    covariates = data.covariates - data.covariates.mean(axis=0)
    stats = SiteStatistics.from_records(data, covariates)
    draw = posterior.isel(chain=1, draw=17)
    rho = float(draw["rho"])
    scale_tril = (
        np.array([[1.0, 0.0], [rho, np.sqrt(1 - rho**2)]])
        * np.array([float(draw["alpha_sd"]), float(draw["tau"])])[:, None]
    )
    total = collapsed_log_likelihood(
        stats,
        mean=np.array([float(draw["alpha_mean"]), float(draw["mu"])]),
        scale_tril=scale_tril,
        sigma=float(draw["sigma"]),
        beta=draw["beta"].values,
        cluster_sd=float(draw["cluster_sd"]),
    )
    assert float(terms.isel(chain=1, draw=17).sum()) == pytest.approx(float(total), rel=1e-9)


def test_records_psis_leave_one_out_agrees_with_a_refit(records_fit, monkeypatch):
    monkeypatch.setattr(influence_module, "MAX_PARETO_K", np.inf)  # PSIS for every site
    table = leave_one_site_out(records_fit).set_index("site")
    best = table["pareto_k"].idxmin()
    keep = np.array(records_fit.data_.site) != best
    model = sitefx.SiteEffects(
        **records_fit.get_params() | {"priors": records_fit.priors_.as_strings()}
    )
    refit = model.fit(records_fit.data_.subset(keep)).posterior_["posterior"]
    mu_sd = float(refit["mu"].std())
    assert table.loc[best, "mu_mean"] == pytest.approx(float(refit["mu"].mean()), abs=0.2 * mu_sd)
    assert table.loc[best, "tau_mean"] == pytest.approx(float(refit["tau"].mean()), rel=0.15)
    power = power_scaling(records_fit.posterior_, data=records_fit.data_)
    assert {"mu", "tau", "theta_new"} <= set(power["parameter"])


def test_records_subset_keeps_the_other_sites_records(records_fit):
    data = records_fit.data_
    keep = np.arange(data.n_sites) != 2
    smaller = data.subset(keep)
    assert smaller.n_sites == 7 and smaller.n_records == (data.site_index != 2).sum()
    np.testing.assert_array_equal(smaller.outcome, data.outcome[data.site_index != 2])
    assert set(np.unique(smaller.site_index)) == set(range(7))
    assert smaller.site == tuple(s for j, s in enumerate(data.site) if j != 2)


@pytest.mark.filterwarnings("ignore::sitefx.SamplingWarning")  # short runs on purpose
def test_sensitivity_of_binary_records_with_covariates_runs_the_prior_grid_only(tmp_path):
    """With a covariate the arm counts are not sufficient: no per-site likelihood yet (site
    and arm alone have one, see tests/test_arviz.py)."""
    from sitefx.sensitivity.files import write_sensitivity
    from sitefx.testing import simulate_binary_records

    data, _ = simulate_binary_records(8, 800, n_covariates=1, seed=2)
    fit = sitefx.SiteEffects(seed=2, chains=2, draws=300, warmup=300).fit(data)
    paths = write_sensitivity(fit, tmp_path, alt_tau=["half-cauchy(0.5)"], alt_mu=[])
    assert set(paths) == {"prior_grid", "prior_grid_sites", "prior_grid_plot"}
    assert len(pd.read_csv(paths["prior_grid"])) == 2
    with pytest.raises(sitefx.SitefxInputError, match="binary records"):
        leave_one_site_out(fit)


def test_report_says_when_prior_sensitivities_come_from_refits(tmp_path):
    table = pd.DataFrame(
        {
            "parameter": ["mu"],
            "prior": [0.01],
            "likelihood": [0.2],
            "diagnosis": [""],
            "prior_pareto_k": [0.9],
            "likelihood_pareto_k": [0.1],
            "prior_method": ["refit"],
        }
    )
    table.to_csv(tmp_path / "power_scaling.csv", index=False)
    lines = describe_sensitivity(tmp_path)
    assert "come from refits with the priors raised to the power" in lines[0]
    assert lines[1].endswith("no parameter is sensitive to a small change of the priors.")
