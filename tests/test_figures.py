"""The report's figures other than the forest plot: what they draw and that they read.

Each figure is checked as an image (its PNG has the figure's size, its SVG the texts a reader
needs) and for the numbers it draws: the exact posterior density, the regression line.
"""

import io

import matplotlib
import matplotlib.image
import numpy as np
import pytest

import sitefx
from sitefx.report import (
    Results,
    moderator_plot,
    prior_posterior_plot,
    rank_plot,
    shrinkage_plot,
    write_report,
)
from sitefx.report.plots import ARROW_SITES
from sitefx.sensitivity import prior_grid, prior_grid_plot
from tests.builders import bundled_study
from tests.test_output import simulated_fit_tree


@pytest.fixture(scope="module")
def expectancy_by_weeks():
    """Teacher expectancy with weeks of prior contact as moderator (exact: well under 1 s)."""
    study = bundled_study("teacher_expectancy", moderators=["weeks"])
    return sitefx.SiteEffects(seed=5).fit(study)


def svg_text(figure) -> str:
    """The figure as SVG with its texts as text (not glyph paths), to search them."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg")
    return buffer.getvalue()


def png_size(figure, dpi: int = 50) -> tuple[int, int]:
    """(width, height) in pixels of the figure's PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    buffer.seek(0)
    height, width, _ = matplotlib.image.imread(buffer).shape
    return width, height


def assert_image(figure, texts: list[str]) -> None:
    """The figure renders at its size, not blank, with each of ``texts`` in it."""
    width, height = figure.get_size_inches()
    assert png_size(figure) == (round(50 * width), round(50 * height))
    svg = svg_text(figure)
    assert svg.count("<path") > 10
    for text in texts:
        assert text in svg, text


def test_prior_posterior_plot_draws_the_exact_posterior_density(eight_schools_exact):
    tree = eight_schools_exact.posterior_
    figure = prior_posterior_plot(tree)
    exact = Results(tree).exact
    for ax, name in zip(figure.axes, ("mu", "tau"), strict=True):
        posterior, prior = ax.lines
        assert (posterior.get_label(), prior.get_label()) == ("posterior (exact)", "prior")
        x, density = posterior.get_xydata().T
        assert np.trapezoid(density, x) == pytest.approx(1.0, abs=0.005)
        mean = np.trapezoid(x * density, x)
        assert mean == pytest.approx(float(exact.mean(name)), rel=0.01)
    assert_image(figure, ["mu ~ normal(0, 28)", "tau ~ half-normal(11)", "density"])


def test_prior_posterior_plot_of_draws_is_a_kernel_density():
    figure = prior_posterior_plot(simulated_fit_tree(8))
    for ax in figure.axes:
        (posterior,) = ax.lines  # no prior stored: no prior curve
        x, density = posterior.get_xydata().T
        assert posterior.get_label() == "posterior (kernel density of the draws)"
        assert np.trapezoid(density, x) == pytest.approx(1.0, abs=0.02)
    assert figure.axes[1].lines[0].get_xdata().min() >= 0.0  # tau's density starts at 0


@pytest.mark.parametrize("n_sites", [8, 80, 150])
def test_rank_plot_names_sites_up_to_100_and_reads_at_150(n_sites):
    figure = rank_plot(simulated_fit_tree(n_sites))
    (ax,) = figure.axes
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert len(labels) == (n_sites if n_sites <= 100 else 0)
    assert_image(figure, ["rank (1 = largest effect)", *labels[:1]])


def test_shrinkage_plot_is_arrows_for_few_sites_and_a_scatter_for_many():
    few = shrinkage_plot(simulated_fit_tree(ARROW_SITES))
    assert [label.get_text() for label in few.axes[0].get_yticklabels()] == [
        "raw estimate",
        "shrunken",
    ]
    assert_image(few, ["raw estimate", "treatment effect"])
    many = shrinkage_plot(simulated_fit_tree(ARROW_SITES + 1))
    assert many.axes[0].get_ylabel() == "shrunken effect (posterior mean)"
    assert_image(many, ["raw estimate: treatment effect", "no pooling", "complete pooling"])


def test_moderator_plot_draws_the_posterior_regression_line(expectancy_by_weeks):
    tree = expectancy_by_weeks.posterior_
    figure = moderator_plot(tree)
    (ax,) = figure.axes
    weeks = tree["constant_data"]["moderators"].sel(moderator="weeks").values
    x, line = ax.lines[0].get_xydata().T
    mu = tree["posterior"]["mu"].mean().item()
    gamma = tree["posterior"]["gamma"].sel(moderator="weeks").mean().item()
    np.testing.assert_allclose(line, mu + gamma * (x - weeks.mean()), rtol=1e-9, atol=1e-12)
    assert gamma < 0  # effects shrink with weeks of prior contact
    (band,) = ax.collections[:1]
    assert band.get_label() == "95% interval"
    bubbles = ax.collections[1]
    se = tree["constant_data"]["raw_se"].values
    area = bubbles.get_sizes()
    np.testing.assert_allclose(area - 10, 290 * se.min() ** 2 / se**2)
    assert_image(figure, ["weeks", "effect by weeks", "standardized mean difference"])


def test_moderator_plot_refuses_a_fit_without_that_moderator(
    expectancy_by_weeks, eight_schools_exact
):
    with pytest.raises(ValueError, match="no moderators"):
        moderator_plot(eight_schools_exact.posterior_)
    with pytest.raises(ValueError, match="no moderator 'setting'; this fit has weeks"):
        moderator_plot(expectancy_by_weeks.posterior_, "setting")


def test_report_of_a_meta_regression_shows_the_moderator_plot(expectancy_by_weeks, tmp_path):
    paths = write_report(expectancy_by_weeks.posterior_, tmp_path, formats=["md"])
    assert "](figures/moderators.png)" in paths["md"].read_text(encoding="utf-8")
    assert (tmp_path / "figures" / "moderators.svg").stat().st_size > 1000


def test_prior_grid_plot_has_a_panel_per_tau_prior(eight_schools):
    grid = prior_grid(
        sitefx.SiteEffects(seed=5),
        eight_schools,
        alt_tau=["half-cauchy(5)", "half-normal(22)"],
        alt_mu=["normal(0, 11)"],
    )
    figure = prior_grid_plot(grid.table, units="points")
    titles = [ax.get_title().splitlines()[0] for ax in figure.axes]
    assert titles == ["tau ~ half-normal(11)", "tau ~ half-cauchy(5)", "tau ~ half-normal(22)"]
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert labels == ["mu ~ normal(0, 28)", "mu ~ normal(0, 11)"]
    assert_image(figure, ["mu (points): mean, 95% interval", "P 0.9", *titles])
