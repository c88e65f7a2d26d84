"""Reports: every bundled study renders; the HTML page displays in a headless browser;
plots, tables and effect sizes behave as documented."""

import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.colors
import matplotlib.image
import numpy as np
import pandas as pd
import pytest

import sitefx
from sitefx.report import (
    Results,
    document,
    forest,
    forest_plot,
    headline_sentences,
    numbers,
    plots,
    site_table,
    write_report,
)
from tests.builders import BUNDLED, STUDIES, svg_text


@pytest.fixture(scope="module")
def reports(tmp_path_factory, bundled_fit):
    """A fit (shared, tests/conftest.py) and report of every bundled study with the default
    sampler settings, which the reference tests share: their compiled samplers serve each
    other."""
    written = {}
    for name in BUNDLED:
        fit = bundled_fit(name)
        written[name] = (fit, write_report(fit.posterior_, tmp_path_factory.mktemp(name)))
    return written


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.parametrize("name", BUNDLED)
def test_report_renders_for_every_bundled_study(reports, name):
    fit, paths = reports[name]
    page = _Page()
    page.feed(paths["html"].read_text(encoding="utf-8"))
    images = [attrs["src"] for tag, attrs in page.tags if tag == "img"]
    assert len(images) == 5 and all(src.startswith("data:image/png;base64,") for src in images)
    assert not [attrs for tag, attrs in page.tags if tag in {"script", "link"}]  # self-contained
    text = " ".join(page.text)
    for sentence in headline_sentences(fit.posterior_):
        assert sentence in text
    for heading in ["In brief", "Estimates", "Model and priors", "Data", "Diagnostics", "Software"]:
        assert heading in text
    assert f"rows read {fit.data_.accounting.rows_read:,}".capitalize() in text
    markdown = paths["md"].read_text(encoding="utf-8")
    headings = [
        line.strip("#*> ") for line in markdown.splitlines() if line.startswith(("#", "> **"))
    ]
    assert headings[1:3] == ["Warnings", "In brief"] or headings[1] == "In brief"
    first = text.index("In brief")
    for problem in fit.warnings_:  # sampler warnings are shown first, never hidden
        assert problem in text[:first]
        # as Markdown shows text literally: "R-hat ... (&gt; 1.01)"
        assert document._markdown_text(problem) in markdown[: markdown.index("## In brief")]
    if fit.data_.accounting.rows_dropped or fit.warnings_:
        assert "were dropped" in text[:first] or fit.warnings_
        assert [attrs for tag, attrs in page.tags if attrs.get("role") == "alert"]
    assert markdown.count("](figures/") == 5
    for stem in ["forest", "predictive", "shrinkage", "ranks", "prior_posterior"]:
        assert (paths["html"].parent / "figures" / f"{stem}.svg").stat().st_size > 1000
    sites = pd.read_csv(paths["sites"])
    assert sites["site"].astype(str).tolist() == list(fit.data_.site)


def test_observational_studies_say_so_in_the_report(tmp_path):
    folder = tmp_path / "study"
    shutil.copytree(STUDIES / "eight_schools", folder)
    spec = folder / "study.toml"
    spec.write_text("observational = true\n" + spec.read_text())
    fit = sitefx.SiteEffects(seed=1).fit(sitefx.load(folder))
    assert any("not randomized" in sentence for sentence in headline_sentences(fit.posterior_))


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


WIDTHS = (400, 800, 1280)  # a phone, a tablet or narrow window, a laptop
SHOT_HEIGHT = 3000


def _show(page: Path, width: int, folder: Path) -> tuple[int, int]:
    """Show ``page`` in a frame ``width`` px wide and screenshot it to
    ``folder/report-<width>.png``; return the page's scroll width and client width.

    The page is shown in an iframe (``srcdoc``: the same origin, so a script can measure
    it), because Chromium's window is at least 500 px wide.
    """
    frame = html.escape(page.read_text(encoding="utf-8"), quote=True)
    probe = folder / f"probe-{width}.html"
    probe.write_text(
        f'<!DOCTYPE html><body style="margin:0"><iframe id="page" srcdoc="{frame}" '
        f'style="border:0;width:{width}px;height:{SHOT_HEIGHT}px;display:block"></iframe>'
        "<script>document.getElementById('page').onload = () => {"
        " const root = document.getElementById('page').contentDocument.documentElement;"
        " document.body.dataset.widths = root.scrollWidth + ' ' + root.clientWidth; };"
        "</script></body>",
        encoding="utf-8",
    )
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={folder / 'profile'}",
        f"--screenshot={folder / f'report-{width}.png'}",
        f"--window-size={width},{SHOT_HEIGHT}",
        "--dump-dom",
        probe.as_uri(),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    scroll, client = re.search(r'data-widths="(\d+) (\d+)"', run.stdout).groups()
    return int(scroll), int(client)


@pytest.mark.skipif(_chromium() is None, reason="Debian chromium is not installed")
def test_html_report_fits_a_phone_a_tablet_and_a_laptop(reports, tmp_path):
    """Chromium shows the page 400, 800 and 1280 px wide: it never scrolls sideways (wide
    tables scroll in their own boxes), and the screenshots hold dark text and the plots'
    blue marks.

    The screenshots, ``report-<width>.png``, are in the test's ``tmp_path``; with the
    environment variable ``SITEFX_ARTIFACTS`` set to a folder (e.g. ``out/test-artifacts``),
    they are copied there to look at.
    """
    page = reports["school_calendar"][1]["html"]
    for width in WIDTHS:
        scroll, client = _show(page, width, tmp_path)
        assert (scroll, client) == (width, width), width  # no sideways scrolling
        pixels = matplotlib.image.imread(tmp_path / f"report-{width}.png")[..., :3]
        assert pixels.shape[:2] == (SHOT_HEIGHT, width)
        dark = (pixels.max(axis=-1) < 0.3).mean()
        assert 0.002 < dark < 0.3  # text is drawn, the page is not blank or black
        shrunk = matplotlib.colors.to_rgb(plots.SHRUNK_COLOR)
        blue = np.abs(pixels - np.array(shrunk)).max(axis=-1) < 0.08
        assert blue.sum() > 100  # the forest plot's shrunken intervals are on screen
    if os.environ.get("SITEFX_ARTIFACTS"):
        artifacts = Path(os.environ["SITEFX_ARTIFACTS"])
        artifacts.mkdir(parents=True, exist_ok=True)
        for width in WIDTHS:
            shutil.copy(tmp_path / f"report-{width}.png", artifacts)


def test_threshold_and_outcome_sd_recompute_the_estimands(reports):
    fit = reports["eight_schools"][0]
    tree = fit.posterior_
    raised = Results(tree, threshold=10.0, outcome_sd=100.0)
    exact = fit.exact_  # eight schools: an exact fit, so P(theta_j > 10) is exact
    np.testing.assert_allclose(raised.sites["prob_above"], 1 - exact.cdf("theta", 10.0))
    table = raised.estimands.set_index("estimand")
    assert table.loc["mu", "es_mean"] == pytest.approx(table.loc["mu", "mean"] / 100.0)
    assert table.loc["mu", "prob_above"] == pytest.approx(1 - exact.cdf("mu", 10.0))
    assert np.isnan(table.loc["share_above", "es_mean"])  # shares have no effect size
    assert "es_mean" not in sitefx.estimand_table(tree).columns  # SAT points: no SD given
    with pytest.raises(sitefx.SitefxInputError, match="must be > 0"):
        Results(tree, outcome_sd=0.0)
    with pytest.raises(sitefx.SitefxInputError, match="finite"):
        Results(tree, threshold=float("nan"))


def test_records_report_effect_sizes_in_pooled_outcome_sds(reports):
    fit = reports["star"][0]
    data = fit.data_
    arms = [data.outcome[data.treatment == arm] for arm in (0, 1)]
    squares = sum(((arm - arm.mean()) ** 2).sum() for arm in arms)
    pooled = np.sqrt(squares / (data.n_records - 2))
    assert fit.posterior_.attrs["outcome_sd"] == pytest.approx(pooled)
    mu = fit.estimands().set_index("estimand").loc["mu"]
    assert mu["es_mean"] == pytest.approx(mu["mean"] / pooled)


def test_binary_outcomes_report_the_average_risk_difference(reports):
    fit = reports["reading_pass"][0]
    row = fit.estimands().set_index("estimand").loc["risk_difference_sites"]
    by_hand = fit.posterior_["posterior"]["risk_difference"].mean("site")
    assert row["mean"] == pytest.approx(float(by_hand.mean()))
    assert any("percentage points" in line for line in headline_sentences(fit.posterior_))


def test_growth_effect_sizes_use_the_first_waves_sd(reports):
    fit = reports["tutoring_growth"][0]
    frame = sitefx.read_table(STUDIES / "tutoring_growth" / "tutoring_growth.csv")
    first = frame[frame["year"] == frame["year"].min()]
    within = first.groupby("tutored")["score"].transform("mean")
    expected = np.sqrt(((first["score"] - within) ** 2).sum() / (len(first) - 2))
    assert fit.posterior_.attrs["outcome_sd"] == pytest.approx(expected)


def test_site_table_has_levels_ranks_pooling_and_ordered_triple_goal_values(reports):
    fit = reports["school_calendar"][0]
    table = site_table(fit.posterior_)
    assert table.columns[:3].tolist() == ["site", "district", "n"]
    assert table["n"].isna().all()  # no sample sizes in these data
    posterior = fit.posterior_["posterior"]
    n_draws = posterior.sizes["chain"] * posterior.sizes["draw"]  # mean ranks count draws
    assert set(table["rank_mean"].round(6)) <= set(np.arange(1, 57, 1 / n_draws).round(6))
    assert (table["rank_q2.5"] <= table["rank_q97.5"]).all()
    assert table["pooling_factor"].between(0, 1).all()
    # the triple-goal estimates keep the order of the mean ranks (ties broken either way)
    ordered = table.sort_values(["rank_mean", "triple_goal"], ascending=[True, False])
    assert ordered["triple_goal"].is_monotonic_decreasing


@pytest.mark.parametrize("sort", ["data", "raw", "shrunken", "name", "group"])
def test_forest_plot_sorts_keep_every_site(reports, sort):
    tree = reports["school_calendar"][0].posterior_
    figure = forest_plot(tree, sort=sort, panels=False)
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert sorted(labels) == sorted(tree["posterior"]["site"].values.astype(str))
    if sort == "name":
        assert labels == sorted(labels, key=int)  # numeric ids in numeric order, from the top
    figure.clear()


def test_forest_plot_panels_per_district(reports):
    tree = reports["school_calendar"][0].posterior_
    figure = forest_plot(tree, panels=True)
    districts = np.unique(tree["constant_data"]["site_district"].values)
    assert len(figure.axes) == len(districts) + 1  # one per district, then mu and a new site
    with pytest.raises(ValueError, match="no nesting level 'region'"):
        forest_plot(tree, group="region")
    with pytest.raises(ValueError, match="needs an upper nesting level"):
        forest_plot(reports["eight_schools"][0].posterior_, sort="group")
    figure.clear()


def test_a_multilevel_forest_shows_its_districts_in_natural_order(reports, tmp_path):
    """By default, a block per district ("11" before "108"), each ending in its district's
    average effect, a diamond with its interval as text; then the SDs of both levels."""
    fit = reports["school_calendar"][0]
    figure = forest_plot(fit.posterior_)
    titles = [ax.get_title(loc="left") for ax in figure.axes[:-1]]
    districts = sorted(set(fit.sites()["district"].astype(str)), key=int)
    assert titles == [f"district {name}" for name in districts]
    assert all(ax.get_yticklabels()[-1].get_text() == "district average" for ax in figure.axes[:-1])
    labels = [label.get_text() for label in figure.axes[-1].get_yticklabels()]
    assert labels[:2] == ["average effect (mu)", "new study (95% predictive interval)"]
    assert "tau_district (SD of district effects), median" in labels
    svg = svg_text(figure, tmp_path)
    assert svg.index("district 11<") < svg.index("district 108<") < svg.index("district 644<")


def test_a_caterpillar_of_grouped_sites_marks_each_group(reports, monkeypatch):
    """Above NAMED_SITES sites (lowered here to 20), panels become one block of lines per
    district in a single panel: each district's average effect, and the names of the
    districts whose blocks are tall enough to read."""
    monkeypatch.setattr(forest, "NAMED_SITES", 20)
    tree = reports["school_calendar"][0].posterior_
    figure = forest_plot(tree, panels=True)
    sites_axes, _population_axes = figure.axes
    districts = set(tree["constant_data"]["site_district"].values.astype(str))
    assert sites_axes.get_ylabel().startswith("56 sites, by district, then by shrunken effect")
    names = [label.get_text() for label in sites_axes.get_yticklabels()]
    assert names and set(names) <= districts
    (averages,) = [
        c for c in sites_axes.collections if c.get_label() == "district's average effect"
    ]
    assert len(averages.get_segments()) == len(districts)
    figure.clear()


def test_report_of_a_file_written_before_estimands_existed(reports, tmp_path):
    """Older posterior files have no estimands group: the report computes it."""
    tree = reports["eight_schools"][0].posterior_.copy()
    del tree["estimands"]
    tree.attrs.pop("software")
    paths = write_report(tree, tmp_path, formats=("md",))
    assert set(paths) == {"estimands", "sites", "md"}
    assert "sitefx" in paths["md"].read_text(encoding="utf-8")
    assert json.loads(reports["eight_schools"][0].posterior_.attrs["software"])["python"]


def _shown_value(cell: str) -> tuple[float, float, bool] | None:
    """A number as a table or sentence shows it: (value, half a unit of its last digit,
    whether it is a percentage), or None for a blank or a bound like '>99.9%'."""
    text = cell.split(" ± ")[0].replace(",", "").strip()
    percent = text.endswith("%")
    text = text.rstrip("%")
    if not text or text[0] in "<>":
        return None
    decimals = len(text.split(".")[1]) if "." in text else 0
    return float(text), 0.5 * 10.0**-decimals, percent


def _agrees(shown: tuple[float, float, bool], value: float) -> bool:
    number, half_unit, percent = shown
    scaled = 100 * value if percent else value
    return abs(scaled - number) <= half_unit * (1 + 1e-9) + 1e-12


def _markdown_tables(markdown: str) -> list[pd.DataFrame]:
    tables, rows = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            cells = re.split(r"(?<!\\) \| ", line[2:-2])  # "| a | b |": unescaped bars
            rows.append([html.unescape(re.sub(r"\\(.)", r"\1", cell.strip())) for cell in cells])
        elif rows:
            tables.append(pd.DataFrame(rows[2:], columns=rows[0]))
            rows = []
    return tables


@pytest.mark.parametrize("name", BUNDLED)
def test_every_number_in_the_report_is_the_csv_value(reports, name):
    """Same quantity, same number: each number of the Markdown report's tables equals the
    matching cell of estimands.csv, sites.csv or the summary (summary.csv) after rounding,
    and each number in the headline sentences is one of those values, rounded.

    The tables' rows are the CSV files' rows, in order; their headers are the report's own
    (``_headers``), an interval's two ends in one column."""
    fit, paths = reports[name]
    csv = {
        "estimand": pd.read_csv(paths["estimands"]),
        "site": pd.read_csv(paths["sites"], dtype={"site": str}),
        "parameter": fit.summary(),
    }
    one, _ = numbers.site_nouns(fit.posterior_)
    headers = document._headers(one, Results(fit.posterior_).threshold)
    columns = {shown: column for column, shown in headers.items()}
    sources = {"Quantity": "estimand", one.capitalize(): "site", "Parameter": "parameter"}
    checked = 0
    for table in _markdown_tables(paths["md"].read_text(encoding="utf-8")):
        if table.columns[0] not in sources:
            continue
        source = csv[sources[table.columns[0]]]
        assert len(table) == len(source)
        for (_, row), (_, values) in zip(table.iterrows(), source.iterrows(), strict=True):
            for header in table.columns[1:]:
                column = columns.get(header)  # None for the levels' columns (district)
                ends = (
                    [column, document.INTERVALS[column]]
                    if column in document.INTERVALS
                    else [column]
                )
                for cell, end in zip(row[header].split(" to "), ends, strict=False):
                    value = values.get(end)
                    shown = _shown_value(cell) if isinstance(value, float) else None
                    if shown is not None:
                        assert _agrees(shown, value), (name, row.iloc[0], end, cell, value)
                        checked += 1
    assert checked > 50
    candidates = [
        value
        for frame in csv.values()
        for value in frame.select_dtypes("number").to_numpy().ravel()
        if np.isfinite(value)
    ]
    names = sorted(csv["site"]["site"], key=len, reverse=True)  # site names hold numbers too
    for sentence in headline_sentences(fit.posterior_):
        for site in names:
            sentence = sentence.replace(f" {site},", " ,").replace(f" {site}.", " .")
            sentence = sentence.replace(f" {site})", " )")
        text = re.sub(r"95% (interval|probability)|95% or 5% line|at least a 95%", "", sentence)
        text = re.sub(r"these \d+ |[\d,]+ (posterior )?draws|above -?[\d.]+(?! is)", "", text)
        for token in re.findall(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?%?", text):
            shown = _shown_value(token)
            matches = any(
                _agrees(shown, value) or _agrees(shown, 100 * value)  # percentage points
                for value in candidates
            )
            assert matches, (name, token, sentence)


def test_the_report_says_in_words_what_the_moderators_explain():
    """With moderators, a paragraph after the summary gives each one's change in the effect
    and the share of the variation between studies they explain, as the tables show them."""
    study = sitefx.load(STUDIES / "teacher_expectancy", moderators="weeks")
    results = Results(sitefx.SiteEffects(seed=5).fit(study).posterior_)
    titles = [section.title for section in document._sections(results)]
    assert titles[:3] == ["In brief", "Moderators", "More results in words"]
    (paragraph,) = document._sections(results)[1].paragraphs
    gamma = results.summary.set_index("parameter").loc["gamma[weeks]"]
    share = results.estimands.set_index("estimand").loc["variance_explained"]
    assert paragraph == (
        f"Each one-unit increase in weeks changed the effect by {gamma['mean']:.4f} "
        f"standardized mean difference (95% interval {gamma['q2.5']:.4f} to "
        f"{gamma['q97.5']:.4f}). Together, the moderators explain {100 * share['mean']:.0f}% "
        f"(95% interval {100 * share['q2.5']:.0f}% to {100 * share['q97.5']:.0f}%) of the "
        "variation in effects between studies. The average effects above are those of a "
        "study at the moderators' means."
    )
    (estimates,) = document._sections(results)[3].tables
    assert estimates.columns[:4].tolist() == [
        "Quantity",
        "Posterior mean",
        "Posterior SD",
        "95% interval",
    ]
    assert "Effect in a new study" in estimates["Quantity"].tolist()
