"""The forest plot in the meta-analytic convention: its text columns, null line, diamond and
predictive bar, I², natural site order and the flags that reach it; read from the SVG's text
(exact fits of site summaries, fast)."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.lines import Line2D

import sitefx
from sitefx.report import forest_plot
from sitefx.report.forest import i_squared
from sitefx.report.numbers import decimals, number
from tests.builders import STUDIES, reference, svg_text

EIGHT_SCHOOLS_SE = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def summaries_fit(sites, estimates, ses, **columns):
    frame = pd.DataFrame({"site": sites, "d": estimates, "se": ses, **columns})
    roles = {"n": "n"} if "n" in columns else {}
    return sitefx.SiteEffects(seed=5).fit(
        sitefx.load(frame, site="site", estimate="d", se="se", **roles)
    )


def test_i_squared_is_higgins_and_thompsons_by_hand():
    """s² = (k - 1) Σw / ((Σw)² - Σw²), w = 1/SE², computed here by hand for the eight
    schools: Σw = 0.0603114, Σw² = 0.000533631, s² = 7 * 0.0603114 / 0.00310336 = 136.04;
    with tau = 4.169 (the exact posterior median), I² = 17.381 / (17.381 + 136.04) = 11.3%."""
    assert i_squared(EIGHT_SCHOOLS_SE, 4.169) == pytest.approx(0.1133, abs=5e-4)
    assert i_squared(EIGHT_SCHOOLS_SE, 0.0) == 0.0  # metafor's REML: tau² = 0, I² = 0%
    assert np.isnan(i_squared(np.array([1.0]), 1.0))


def test_i_squared_matches_metafor_for_the_teacher_expectancy_studies():
    """metafor's rma (REML) I² from its tau² and the studies' SEs (tests/reference)."""
    metafor = reference("metafor_rma")
    se = pd.read_csv(STUDIES / "teacher_expectancy" / "teacher_expectancy.csv")["se"].to_numpy()
    for name, ses in (("teacher_expectancy", se), ("eight_schools", EIGHT_SCHOOLS_SE)):
        tau = np.sqrt(metafor[name]["tau2"])
        assert 100 * i_squared(ses, tau) == pytest.approx(metafor[name]["I2"], rel=1e-6, abs=1e-9)


def test_the_forest_says_what_metafor_says_in_the_studys_words(eight_schools_exact, tmp_path):
    """Each school's "mean [95% interval]" and pooling factor, a new school's predictive
    interval, tau and I², the title and the effects' units, all as text."""
    tree = eight_schools_exact.posterior_
    figure = forest_plot(tree)
    svg = svg_text(figure, tmp_path)
    sites = eight_schools_exact.sites()
    places = decimals(sites["sd"].min())
    for mean, low, high, pooling in sites[["mean", "q2.5", "q97.5", "pooling_factor"]].values:
        interval = f"{number(mean, places)} [{number(low, places)}, {number(high, places)}]"
        assert interval in svg
        assert f"{100 * pooling:.0f}%" in svg
    for text in [
        "School effects: raw vs shrunken",
        "shrunken",
        "pooling",
        "average effect (mu)",
        "new school (95% predictive interval)",
        "tau (SD of school effects), median",
        "I² (share of variance between schools)",
        "11%",  # I² at the posterior median of tau (see the test by hand)
        "treatment effect (SAT-V points)",
        "null effect (0)",
    ]:
        assert text in svg, text
    assert ">n<" not in svg  # the eight schools give no sizes: no n column


def test_the_options_rename_the_unit_move_the_null_and_relabel(eight_schools_exact, tmp_path):
    figure = forest_plot(
        eight_schools_exact.posterior_,
        unit_name="coaching site",
        null=5.0,
        units="points",
        title="Coaching",
    )
    nulls = [
        line
        for line in figure.axes[0].lines
        if isinstance(line, Line2D) and list(line.get_xdata()) == [5.0, 5.0]
    ]
    assert nulls  # a vertical line at the null
    svg = svg_text(figure, tmp_path)
    for text in ["new coaching site", "coaching sites)", "null effect (5)", "(points)", "Coaching"]:
        assert text in svg, text


def test_sizes_give_an_n_column_and_names_sort_naturally(tmp_path):
    fit = summaries_fit(
        ["school 10", "school 2", "school 1"], [0.1, 0.3, 0.2], [0.1, 0.2, 0.15], n=[1500, 90, 240]
    )
    figure = forest_plot(fit.posterior_, sort="name")
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert labels == ["school 1", "school 2", "school 10"]  # from the top
    svg = svg_text(figure, tmp_path)
    assert ">n<" in svg and "1,500" in svg and "area: people" in svg


def test_a_forest_of_eight_sites_is_compact(eight_schools_exact):
    figure = forest_plot(eight_schools_exact.posterior_)
    width, height = figure.get_size_inches()
    assert (width, height) == (10.0, pytest.approx(4.84))
    figure.clear()


def test_site_names_with_markup_are_escaped_in_the_svg(tmp_path):
    fit = summaries_fit(["<script>alert(1)</script>", "b&b", "c"], [0.1, 0.3, 0.2], [0.1] * 3)
    svg = svg_text(forest_plot(fit.posterior_), tmp_path)
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "b&amp;b" in svg


def test_the_fit_and_report_flags_reach_the_forest(tmp_path, cli):
    out = tmp_path / "fit"
    run = cli("fit", "studies/eight_schools", "--null", "5", "--unit-name", "campus", "--out", out)
    assert run.code == 0, run.err
    assert "new campus" in (out / "forest.svg").read_text(encoding="utf-8")
    assert (out / "forest.png").is_file()
    report = tmp_path / "report"
    named = ["--unit-name", "academy", "--title", "Coaching <b>", "--units", "points"]
    assert cli("report", out, *named, "--out", report).code == 0
    svg = (report / "figures" / "forest.svg").read_text(encoding="utf-8")
    assert "new academy" in svg and "null effect (0)" in svg
    assert "Coaching &lt;b&gt;" in svg and "(points)" in svg
    refused = cli("fit", "studies/eight_schools", "--null", "inf", "--out", tmp_path / "x")
    assert refused.code == 2 and "--null" in refused.err


def test_student_t_effects_call_tau_a_scale_not_an_sd(eight_schools_exact, tmp_path):
    tree = eight_schools_exact.posterior_.copy()
    tree.attrs = {**tree.attrs, "site_dist": "student-t", "site_df": 4.0}
    svg = svg_text(forest_plot(tree), tmp_path)
    assert "tau (scale of school effects), median" in svg
    assert "tau (SD of" not in svg
