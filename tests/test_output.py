"""The output contract: DataTree groups, names, coords; lossless files; summary; plots of few
and of many sites."""

import io
import json

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import sitefx
from sitefx.report import SUMMARY_COLUMNS, forest_plot, rank_plot, summary_text
from sitefx.report.numbers import NAMED_SITES, SHOWN_ENDS
from sitefx.report.plots import UNNAMED_SIZE


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
        "forest.svg",
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


def simulated_fit_tree(n_sites: int) -> xr.DataTree:
    """A DataTree with what the plots read: 100 standard normal draws of each site's effect
    (sites "school 000", "school 001", ...), raw estimates and unit SEs (seed 0)."""
    rng = np.random.default_rng(0)
    sites = [f"school {j:03d}" for j in range(n_sites)]
    theta = rng.normal(size=(2, 50, n_sites))
    return xr.DataTree.from_dict(
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


def test_forest_plot_stays_legible_with_80_sites():
    n_sites = 80
    figure = forest_plot(simulated_fit_tree(n_sites), sort="shrunken")
    _width, height = figure.get_size_inches()
    sites_axes, population_axes = figure.axes
    assert len(sites_axes.get_yticklabels()) == n_sites
    assert len(population_axes.get_yticklabels()) == 4  # mu, a new site, tau and I²
    assert max(label.get_fontsize() for label in sites_axes.get_yticklabels()) >= 7
    # Each site row gets at least 0.2 inch, enough for a 7-point label.
    assert height / (n_sites + 3) >= 0.2
    figure.clear()


@pytest.mark.parametrize("plot", [forest_plot, rank_plot])
def test_plots_name_every_site_up_to_named_sites(plot):
    figure = plot(simulated_fit_tree(NAMED_SITES))
    assert len(figure.axes[0].get_yticklabels()) == NAMED_SITES
    figure.clear()


@pytest.mark.parametrize("n_sites", [NAMED_SITES + 1, 1000])
def test_a_forest_plot_of_many_sites_is_a_caterpillar_of_fixed_size(n_sites):
    """Above NAMED_SITES sites: no site names, every site one line in order of its shrunken
    effect, the axis saying how many and where their numbers are; the figure and its PNG
    do not grow with the sites."""
    tree = simulated_fit_tree(n_sites)
    figure = forest_plot(tree)
    sites_axes, population_axes = figure.axes
    assert tuple(figure.get_size_inches()) == UNNAMED_SIZE
    assert not sites_axes.get_yticks().size
    assert sites_axes.get_ylabel().startswith(f"{n_sites:,} sites, by shrunken effect")
    assert "sites.csv" in sites_axes.get_ylabel()
    assert len(population_axes.get_yticklabels()) == 4  # mu, a new site, tau and I²
    means = sites_axes.containers[0][0].get_xdata()  # the shrunken means, top down
    assert len(means) == n_sites and np.all(np.diff(means) >= 0)
    assert len(sites_axes.get_children()) < 40  # one artist per kind of mark, not per site
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=150)
    png.seek(0)
    height, width, _ = matplotlib.image.imread(png).shape
    assert (width, height) == tuple(150 * inches for inches in UNNAMED_SIZE)
    figure.clear()


def test_a_rank_plot_of_many_sites_has_no_names_and_a_fixed_size():
    figure = rank_plot(simulated_fit_tree(NAMED_SITES + 1))
    (axes,) = figure.axes
    assert tuple(figure.get_size_inches()) == UNNAMED_SIZE
    assert not axes.get_yticks().size and "sites.csv" in axes.get_ylabel()
    figure.clear()


def test_summary_text_prints_the_ends_of_a_parameter_with_many_rows():
    n_sites = 1000
    table = pd.DataFrame(
        {
            "parameter": ["mu", "tau", *(f"theta[{j}]" for j in range(n_sites)), "theta_new"],
            **{column: 0.5 for column in ("mean", "sd", "q2.5", "q50", "q97.5")},
            "mcse_mean": 0.0,
        }
    )
    lines = summary_text(table).splitlines()
    parameters = [line.split()[0] for line in lines]
    shown = [f"theta[{j}]" for j in [*range(SHOWN_ENDS), *range(n_sites - SHOWN_ENDS, n_sites)]]
    assert [name for name in parameters if name.startswith("theta[")] == shown
    assert parameters[:3] == ["parameter", "mu", "tau"] and "theta_new" in parameters
    left_out = n_sites - 2 * SHOWN_ENDS
    assert (
        lines[3 + SHOWN_ENDS] == f"... {left_out} more rows of theta: every row is in summary.csv"
    )
    every_row = summary_text(table.iloc[: NAMED_SITES + 2]).splitlines()
    assert len(every_row) == 1 + NAMED_SITES + 2 + 1  # header, rows, the exact-values note
