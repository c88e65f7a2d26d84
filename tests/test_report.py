"""Reports: every bundled study renders; the HTML page displays in a headless browser;
plots, tables and effect sizes behave as documented."""

import html
import json
import re
import shutil
import subprocess
import warnings
from html.parser import HTMLParser

import matplotlib.colors
import matplotlib.image
import numpy as np
import pandas as pd
import pytest

import sitefx
from sitefx.report import (
    Results,
    forest,
    forest_plot,
    headline_sentences,
    site_table,
    write_report,
)
from tests.builders import STUDIES, bundled_study, svg_text

BUNDLED = sorted(path.name for path in STUDIES.iterdir() if (path / "study.toml").is_file())


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """A fit and report of every bundled study with the default sampler settings, which
    the reference tests share: their compiled samplers serve each other (sampler warnings
    are reported, not under test here)."""
    written = {}
    for name in BUNDLED:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sitefx.DataDropWarning)
            warnings.simplefilter("ignore", sitefx.SamplingWarning)
            warnings.simplefilter("ignore", sitefx.IgnoredOptionWarning)  # warmup: NUTS only
            study = bundled_study(name)
            fit = sitefx.SiteEffects(seed=5).fit(study)
        out = tmp_path_factory.mktemp(name)
        written[name] = (fit, write_report(fit.posterior_, out))
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
    assert f"rows read {fit.data_.accounting.rows_read}".capitalize() in text
    for problem in fit.warnings_:  # sampler warnings are shown, never hidden
        assert problem in text
    markdown = paths["md"].read_text(encoding="utf-8")
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


@pytest.mark.skipif(_chromium() is None, reason="Debian chromium is not installed")
def test_html_report_displays_in_a_headless_browser(reports, tmp_path):
    """Chromium renders the page, text and embedded plots: the screenshot holds dark text
    and the plots' blue marks."""
    html = reports["school_calendar"][1]["html"]
    shot = tmp_path / "page.png"
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
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,4000",
        html.as_uri(),
    ]
    subprocess.run(command, capture_output=True, timeout=120, check=True)
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (4000, 1200)
    dark = (pixels.max(axis=-1) < 0.3).mean()
    assert 0.002 < dark < 0.3  # text is drawn, the page is not blank or black
    blue = np.abs(pixels - matplotlib.colors.to_rgb(forest.SHRUNK_COLOR)).max(axis=-1) < 0.08
    assert blue.sum() > 500  # the forest plot's shrunken intervals are on screen


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
    and each number in the headline sentences is one of those values, rounded."""
    fit, paths = reports[name]
    csv = {
        "estimand": pd.read_csv(paths["estimands"]),
        "site": pd.read_csv(paths["sites"], dtype={"site": str}),
        "parameter": fit.summary(),
    }
    checked = 0
    for table in _markdown_tables(paths["md"].read_text(encoding="utf-8")):
        key = table.columns[0]
        if key not in csv:
            continue
        source = csv[key].set_index(key)
        for _, row in table.iterrows():
            for column in table.columns[1:]:
                value = source.at[row[key], column]
                shown = _shown_value(row[column]) if isinstance(value, float) else None
                if shown is not None:
                    assert _agrees(shown, value), (name, row[key], column, row[column], value)
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
