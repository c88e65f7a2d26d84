"""The output contract: DataTree groups, names, coords; lossless files; summary; forest plot."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import sitefx
from sitefx.report import SUMMARY_COLUMNS, forest_plot


def test_a_summaries_fit_stores_its_groups_variables_priors_and_provenance(eight_schools_fit):
    tree = eight_schools_fit.posterior_
    assert {"posterior", "sample_stats", "observed_data", "constant_data"} <= set(tree.children)
    posterior = tree["posterior"]
    assert set(posterior.data_vars) == {"mu", "tau", "theta", "theta_new"}
    assert posterior["theta"].dims == ("chain", "draw", "site")
    assert list(posterior["site"].values) == list("ABCDEFGH")
    assert posterior["mu"].dims == ("chain", "draw") and posterior["theta_new"].dims == (
        "chain",
        "draw",
    )
    assert (
        tree.attrs["prior_mu"] == "normal(0, 28)" and tree.attrs["prior_tau"] == "half-normal(11)"
    )
    assert json.loads(tree.attrs["data_accounting"])["rows_used"] == 8
    assert json.loads(tree.attrs["sampler"])["seed"] == 11
    assert tree.attrs["sitefx_version"]
    assert json.loads(tree.attrs["software"])["numpyro"]


def test_a_records_fit_stores_alpha_beta_sigma_and_rho(star_fit):
    posterior = star_fit.posterior_["posterior"]
    assert {"mu", "tau", "theta", "theta_new", "alpha", "beta", "sigma", "rho"} <= set(
        posterior.data_vars
    )
    assert list(posterior["beta"]["covariate"].values) == ["female", "minority", "free_lunch"]
    assert posterior["alpha"].dims == ("chain", "draw", "site") and posterior.sizes["site"] == 78
    assert star_fit.warnings_ == []


def test_theta_new_is_normal_around_mu(eight_schools_fit):
    posterior = eight_schools_fit.posterior_["posterior"]
    z = (posterior["theta_new"] - posterior["mu"]) / posterior["tau"]
    assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1) < 0.05


def test_files_round_trip_losslessly(eight_schools_fit, tmp_path):
    paths = eight_schools_fit.save(tmp_path)
    assert {path.name for path in paths.values()} == {
        "posterior.nc",
        "summary.csv",
        "estimands.csv",
        "sites.csv",
        "forest.png",
    }
    reloaded = sitefx.load_datatree(paths["posterior"])
    original = eight_schools_fit.posterior_
    groups = ["posterior", "sample_stats", "observed_data", "constant_data", "estimands"]
    for group in groups:
        xr.testing.assert_identical(reloaded[group].to_dataset(), original[group].to_dataset())
    assert reloaded.attrs == original.attrs
    assert reloaded["posterior"]["site"].values.tolist() == list("ABCDEFGH")


def test_summary_csv_has_its_columns_rows_and_the_draws_statistics(eight_schools_fit, tmp_path):
    eight_schools_fit.save(tmp_path)
    table = pd.read_csv(tmp_path / "summary.csv")
    mcse = ["mcse_mean", "mcse_sd", "mcse_q2.5", "mcse_q50", "mcse_q97.5"]
    assert table.columns.tolist() == SUMMARY_COLUMNS + mcse
    assert (table[mcse] > 0).all(axis=None)  # NUTS: every value carries its Monte-Carlo error
    expected_rows = ["mu", "tau", *[f"theta[{s}]" for s in "ABCDEFGH"], "theta_new"]
    assert table["parameter"].tolist() == expected_rows
    draws = eight_schools_fit.posterior_["posterior"]["mu"].values
    row = table.set_index("parameter").loc["mu"]
    assert row["mean"] == pytest.approx(draws.mean())
    assert row["q97.5"] == pytest.approx(np.quantile(draws, 0.975))
    assert (table["r_hat"] < 1.01).all() and (table["ess_bulk"] > 1000).all()


def test_a_records_summary_lists_site_effects_then_the_other_parameters(star_fit):
    names = star_fit.summary()["parameter"].tolist()
    assert names[:3] == ["mu", "tau", "theta[1]"]
    assert names.index("theta_new") == 2 + 78
    assert {"beta[female]", "sigma", "rho", "alpha[1]"} <= set(names)


def test_the_same_seed_gives_the_same_draws_and_another_seed_others(eight_schools):
    def fit(seed):
        return sitefx.SiteEffects(method="nuts", chains=2, draws=200, warmup=200, seed=seed).fit(
            eight_schools
        )

    with pytest.warns(sitefx.SamplingWarning):  # 400 draws are too few for the ESS check
        first, again, other = fit(1), fit(1), fit(2)
    # Identical draws; only the creation timestamps differ.
    xr.testing.assert_equal(first.posterior_["posterior"], again.posterior_["posterior"])
    assert not np.array_equal(
        first.posterior_["posterior"]["mu"], other.posterior_["posterior"]["mu"]
    )
    assert any("effective sample size" in problem for problem in first.warnings_)
    assert json.loads(first.posterior_.attrs["diagnostics"]) == first.warnings_


def test_forest_plot_stays_legible_with_80_sites():
    rng = np.random.default_rng(0)
    n_sites = 80
    sites = [f"school {j:02d}" for j in range(n_sites)]
    theta = rng.normal(size=(2, 50, n_sites))
    tree = xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset(
                {
                    "mu": (("chain", "draw"), theta.mean(axis=2)),
                    "tau": (("chain", "draw"), np.abs(rng.normal(size=(2, 50)))),
                    "theta": (("chain", "draw", "site"), theta),
                    "theta_new": (("chain", "draw"), rng.normal(size=(2, 50))),
                },
                coords={"site": sites},
            ),
            "constant_data": xr.Dataset(
                {
                    "raw_estimate": ("site", rng.normal(size=n_sites)),
                    "raw_se": ("site", np.ones(n_sites)),
                },
                coords={"site": sites},
            ),
        }
    )
    figure = forest_plot(tree, sort="shrunken")
    _width, height = figure.get_size_inches()
    sites_axes, population_axes = figure.axes
    assert len(sites_axes.get_yticklabels()) == n_sites
    assert len(population_axes.get_yticklabels()) == 2  # mu and a new site
    assert max(label.get_fontsize() for label in sites_axes.get_yticklabels()) >= 7
    # Each site row gets at least 0.2 inch, enough for a 7-point label.
    assert height / (n_sites + 3) >= 0.2
    figure.clear()
