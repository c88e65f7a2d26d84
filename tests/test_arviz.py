"""A saved fit works in ArviZ: the groups it reads are in the file, with the meanings the
issue names, and ArviZ's own functions agree with sitefx's.

The prior draws are checked against closed forms (a normal prior's mean and SD, the
half-normal's mean), not against sitefx itself.
"""

import math

import numpy as np
import pandas as pd
import pytest

import sitefx
from sitefx.report.datatree import load_datatree, save_datatree
from sitefx.sensitivity.comparison import site_loo

GROUPS = {"posterior_predictive", "log_likelihood", "prior", "prior_predictive"}


@pytest.fixture(scope="module", params=["exact", "nuts"])
def reloaded(request, eight_schools, tmp_path_factory):
    """An eight-schools fit by each method, and the same fit written and read back."""
    fit = sitefx.SiteEffects(method=request.param, seed=4).fit(eight_schools)
    path = save_datatree(fit.posterior_, tmp_path_factory.mktemp("fit") / "posterior.nc")
    return fit, load_datatree(path)


def test_a_saved_fit_has_the_groups_arviz_reads(reloaded):
    _, tree = reloaded
    assert GROUPS <= set(tree.children)
    assert tree["log_likelihood"]["site_marginal"].dims == ("chain", "draw", "site")
    assert tree["posterior_predictive"]["estimate"].dims == ("chain", "draw", "site")
    assert list(tree["prior"]["theta"]["site"].values) == list("ABCDEFGH")


def test_arviz_loo_on_the_file_is_sitefx_leave_one_site_out(reloaded):
    from sitefx.backend import arviz_stats

    fit, tree = reloaded
    assert arviz_stats.loo(tree).elpd == pytest.approx(site_loo(fit).elpd, rel=1e-12)


def test_the_arviz_meta_package_summarises_the_file(reloaded):
    import arviz

    _, tree = reloaded
    assert arviz.__version__.startswith("1.")
    table = arviz.summary(tree, var_names=["mu", "tau"])
    assert list(table.index) == ["mu", "tau"]


def test_replicated_estimates_scatter_around_each_site_effect_by_its_se(reloaded):
    _, tree = reloaded
    theta = tree["posterior"]["theta"]
    replicated = tree["posterior_predictive"]["estimate"]
    se = tree["constant_data"]["se"]
    noise = (replicated - theta) / se  # standard normal draws
    n = noise.size
    assert abs(float(noise.mean())) < 4 / math.sqrt(n)
    assert float(noise.std()) == pytest.approx(1, abs=4 / math.sqrt(2 * n))


def test_prior_draws_follow_the_priors_closed_forms(reloaded):
    """Eight schools' default priors: mu ~ normal(0, 28), tau ~ half-normal(11)."""
    _, tree = reloaded
    assert tree.attrs["prior_mu"] == "normal(0, 28)"
    assert tree.attrs["prior_tau"] == "half-normal(11)"
    prior = tree["prior"]
    n = prior["mu"].size
    assert abs(float(prior["mu"].mean())) < 4 * 28 / math.sqrt(n)
    assert float(prior["mu"].std()) == pytest.approx(28, rel=4 / math.sqrt(2 * n))
    half_normal_mean, half_normal_sd = 11 * math.sqrt(2 / math.pi), 11 * math.sqrt(1 - 2 / math.pi)
    assert abs(float(prior["tau"].mean()) - half_normal_mean) < 4 * half_normal_sd / math.sqrt(n)
    # estimate_j = mu + tau z + se_j e: variance 28^2 + E[tau^2] + se_j^2, E[tau^2] = 11^2
    se = tree["constant_data"]["se"].values
    variance = tree["prior_predictive"]["estimate"].var(("chain", "draw")).values
    np.testing.assert_allclose(variance, 28**2 + 11**2 + se**2, rtol=0.1)


def test_prior_groups_are_left_out_where_the_priors_cannot_be_drawn(eight_schools):
    fit = sitefx.SiteEffects(seed=4, priors={"mu": "flat()"}).fit(eight_schools)
    assert {"posterior_predictive", "log_likelihood"} <= set(fit.posterior_.children)
    assert not {"prior", "prior_predictive"} & set(fit.posterior_.children)


def test_draws_command_writes_the_posterior_in_the_r_posterior_layout(tmp_path, cli):
    out = tmp_path / "fit"
    assert cli("fit", "studies/eight_schools", "--out", out, "--quiet").code == 0
    run = cli("draws", out)
    assert run.code == 0, run.err
    table = pd.read_csv(out / "draws.csv")
    posterior = load_datatree(out / "posterior.nc")["posterior"]
    assert list(table.columns[:6]) == [".chain", ".iteration", ".draw", "mu", "tau", "theta[A]"]
    assert table[".draw"].tolist() == list(range(1, 4001))
    assert (table[".chain"].unique() == [1, 2, 3, 4]).all()
    np.testing.assert_array_equal(table["mu"], posterior["mu"].values.ravel())
    theta_h = posterior["theta"].sel(site="H").values.ravel()
    np.testing.assert_array_equal(table["theta[H]"], theta_h)
    assert cli("report", out).code == 0  # the fit's folder is still a complete, unedited fit

    elsewhere = tmp_path / "long"
    run = cli("draws", out, "--long", "--format", "parquet", "--out", elsewhere)
    assert run.code == 0, run.err
    tidy = pd.read_parquet(elsewhere / "draws.parquet")
    assert list(tidy.columns) == [".chain", ".iteration", ".draw", "parameter", "value"]
    assert len(tidy) == 4000 * (table.shape[1] - 3)
    first = tidy[tidy[".draw"] == 1].set_index("parameter")["value"]
    assert first["tau"] == table.loc[0, "tau"]


def test_a_reopened_fit_is_the_fitted_estimator(tmp_path, cli, eight_schools):
    out = tmp_path / "fit"
    flags = ("--prior-tau", "half-cauchy(5)", "--seed", "9", "--quiet")
    assert cli("fit", "studies/eight_schools", "--out", out, *flags).code == 0
    fit = sitefx.open_fit(out)
    pd.testing.assert_frame_equal(fit.summary(), pd.read_csv(out / "summary.csv"))
    assert fit.priors_.as_strings() == {"mu": "normal(0, 28)", "tau": "half-cauchy(5)"}
    assert fit.exact_ is not None and fit.warnings_ == []
    assert fit.get_params()["seed"] == 9
    assert "average effect was" in fit._repr_html_()
    refit = fit.with_settings(priors={"tau": "half-normal(5)"}).fit(eight_schools)
    assert refit.priors_.as_strings()["tau"] == "half-normal(5)"
    assert refit.get_params()["seed"] == 9  # the saved fit's other settings are kept


def test_the_notebook_view_escapes_site_names():
    hostile = "<script>alert(1)</script>"
    data = sitefx.load(
        pd.DataFrame({"site": [hostile, "b", "c"], "d": [1.0, 2, 3], "se": [1.0, 1, 1]}),
        site="site",
        estimate="d",
        se="se",
    )
    page = sitefx.SiteEffects(seed=1).fit(data)._repr_html_()
    assert hostile not in page and "&lt;script&gt;" in page


def test_nuts_sample_stats_have_arviz_names(eight_schools_fit):
    stats = eight_schools_fit.posterior_["sample_stats"]
    names = {"diverging", "acceptance_rate", "n_steps", "tree_depth", "energy", "lp", "step_size"}
    assert names <= set(stats.data_vars)
    steps, depth = stats["n_steps"].values, stats["tree_depth"].values
    assert ((steps <= 2**depth - 1) & (steps >= 2 ** (depth - 1))).all()
    assert (stats["step_size"].std("draw") < 1e-12).all()  # fixed after warm-up, per chain
