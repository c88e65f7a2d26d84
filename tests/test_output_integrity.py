"""Nothing lost, nothing mixed, nothing injected (issue 17): output folders written all or
nothing with a manifest, saved folders checked before they are read, user-supplied text
escaped in HTML and Markdown, CSV cells safe in a spreadsheet, long names cut in plots, and
local dask clusters on the loopback interface only."""

import errno
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

import sitefx
from sitefx import parallel
from sitefx.report import folders
from tests.builders import STUDIES, write_frame

EIGHT = STUDIES / "eight_schools"


def _fingerprint(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _leftovers(parent: Path) -> list[str]:
    return [path.name for path in parent.iterdir() if ".sitefx-" in path.name]


def test_a_fit_folder_has_a_manifest_of_its_files_and_inputs(tmp_path, cli):
    out = tmp_path / "fit"
    assert cli("fit", EIGHT, "--quiet", "--out", out).code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == {
        "posterior.nc",
        "summary.csv",
        "estimands.csv",
        "sites.csv",
        "forest.png",
        "forest.svg",
    }
    assert manifest["commands"] == [["sitefx", *manifest["commands"][0][1:]]]
    inputs = {Path(item["path"]).name: item["sha256"] for item in manifest["inputs"]}
    data = STUDIES / "eight_schools" / "eight_schools.csv"
    assert inputs["eight_schools.csv"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert "study.toml" in inputs
    assert cli("report", out).code == 0  # adds the report; the manifest lists it too
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"report.html", "report.md", "figures/forest.svg"} <= set(manifest["files"])
    assert len(manifest["commands"]) == 2


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda out: (out / "summary.csv").write_text("parameter,mean\nmu,99\n"), "changed"),
        (lambda out: (out / "sites.csv").unlink(), "missing sites.csv"),
        (lambda out: (out / "posterior.nc").write_bytes(b"\x89HDF truncated"), "changed"),
    ],
    ids=["edited", "incomplete", "truncated"],
)
def test_an_edited_or_incomplete_folder_is_refused(tmp_path, cli, damage, message):
    out = tmp_path / "fit"
    assert cli("fit", EIGHT, "--quiet", "--out", out).code == 0
    damage(out)
    run = cli("report", out)
    assert run.code == 2
    error = run.err
    assert message in error and "Traceback" not in error and error.count("\n") == 1


def test_a_folder_without_manifest_must_hold_a_complete_fit(tmp_path, cli):
    out = tmp_path / "old"
    assert cli("fit", EIGHT, "--quiet", "--out", out).code == 0
    (out / "manifest.json").unlink()  # as written by an earlier version: still readable
    assert cli("report", out).code == 0
    tree = sitefx.load_datatree(out / "posterior.nc")
    del tree["posterior"]["theta_new"]
    (out / "manifest.json").unlink()
    (out / "posterior.nc").unlink()
    tree.to_netcdf(out / "posterior.nc", engine="h5netcdf")
    run = cli("report", out)
    assert run.code == 2 and "missing posterior/theta_new" in run.err


@pytest.mark.parametrize(
    "failing", ["matplotlib.figure.Figure.savefig", "pathlib.Path.write_bytes"]
)
def test_an_interrupted_refit_leaves_the_old_folder_as_it_was(tmp_path, cli, monkeypatch, failing):
    """The disk fills while the plot, or the posterior file (written by Python from memory,
    so HDF5 never meets the full disk), is written."""
    out = tmp_path / "fit"
    assert cli("fit", EIGHT, "--quiet", "--out", out).code == 0
    before = _fingerprint(out)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "file")

    monkeypatch.setattr(failing, disk_full)
    run = cli("fit", EIGHT, "--quiet", "--seed", "2", "--out", out)
    assert run.code == 1
    error = run.err
    assert "No space left on device" in error and error.count("\n") == 1
    assert _fingerprint(out) == before  # the old fit, whole: no new posterior.nc beside it
    assert _leftovers(tmp_path) == []


def test_an_out_that_cannot_be_used_is_refused_before_fitting(tmp_path, cli, monkeypatch):
    occupied = tmp_path / "mine"
    occupied.mkdir()
    (occupied / "thesis.docx").write_text("not sitefx's")
    run = cli("fit", EIGHT, "--quiet", "--out", occupied)
    assert run.code == 2 and "files sitefx did not write (thesis.docx)" in run.err
    assert [path.name for path in occupied.iterdir()] == ["thesis.docx"]
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    run = cli("fit", EIGHT, "--quiet", "--out", a_file)
    assert run.code == 2 and "a file is there" in run.err
    fitted = []
    monkeypatch.setattr(sitefx.SiteEffects, "fit", lambda *args: fitted.append(1))
    monkeypatch.setattr(folders.os, "access", lambda *args: False)
    run = cli("fit", EIGHT, "--quiet", "--out", tmp_path / "new")
    assert run.code == 1 and "permission denied" in run.err and not fitted


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


HOSTILE_LEVEL = 'd"><img src=x onerror=alert(1)>'
HOSTILE_SITES = [
    "<script>alert('site')</script>",
    '=HYPERLINK("http://evil.example","click")',
    "[click](javascript:alert(1))",
    "+1-555 | **bold**",
    "@SUM(A1:A9)",
    "-2+3",
]


def test_hostile_names_are_escaped_in_html_and_markdown_and_neutralized_in_csv(tmp_path, cli):
    frame = pd.DataFrame(
        {
            "site": HOSTILE_SITES,
            HOSTILE_LEVEL: ["<b>north</b>", "<b>north</b>", "south", "south", "east", "east"],
            "d": [0.3, 0.1, 0.5, -0.2, 0.4, 0.2],
            "se": [0.2, 0.25, 0.3, 0.2, 0.25, 0.3],
        }
    )
    path = write_frame(frame, tmp_path / "hostile.csv")
    out = tmp_path / "fit"
    options = ["--site", "site", "--estimate", "d", "--se", "se", "--levels", HOSTILE_LEVEL]
    options += ["--draws", "200", "--warmup", "200", "--chains", "2", "--quiet"]
    assert cli("fit", path, *options, "--out", out).code == 0
    assert cli("report", out).code == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    parsed = _Page()
    parsed.feed(page)
    tags = [tag for tag, _ in parsed.tags]
    assert "script" not in tags and "b" not in tags
    images = [attrs for tag, attrs in parsed.tags if tag == "img"]
    assert len(images) == 5 and all(set(attrs) == {"alt", "src"} for attrs in images)
    assert all(attrs["src"].startswith("data:image/png;base64,") for attrs in images)
    assert "&lt;script&gt;" in page
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "<script>" not in markdown and "<img" not in markdown
    assert not re.search(r"(?<!\\)\]\(javascript:", markdown)  # no link: brackets escaped
    sites = pd.read_csv(out / "sites.csv", dtype=str, keep_default_na=False)
    for name in sites["site"]:
        assert not name.startswith(("=", "+", "-", "@"))
    assert '\'=HYPERLINK("http://evil.example","click")' in set(sites["site"])
    assert sites.columns[1] == HOSTILE_LEVEL  # the level column's name, kept as written
    assert "[click](javascript:alert(1))" in set(sites["site"])  # plain text, as written


def test_a_million_character_site_name_does_not_stall_the_plots(tmp_path):
    frame = pd.DataFrame(
        {"site": ["s" * 1_000_000, "short", "third"], "d": [0.1, 0.3, 0.2], "se": [0.1] * 3}
    )
    study = sitefx.load(frame, site="site", estimate="d", se="se")
    fit = sitefx.SiteEffects(seed=1).fit(study)
    figure = sitefx.forest_plot(fit.posterior_)
    labels = [text.get_text() for text in figure.axes[0].get_yticklabels()]
    assert max(len(text) for text in labels) == 40 and labels[0].endswith("…")
    figure.clear()
    fit.report(tmp_path / "report")  # the whole report, plots included
    assert (tmp_path / "report" / "report.html").stat().st_size > 1_000_000


def test_a_local_cluster_listens_on_the_loopback_interface_only(monkeypatch):
    seen = {}

    class Cluster:
        def __init__(self, **options):
            seen.update(options)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    class Client:
        def __init__(self, cluster):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    import distributed

    monkeypatch.setattr(distributed, "LocalCluster", Cluster)
    monkeypatch.setattr(distributed, "Client", Client)
    with parallel.Workers(n=2).client():
        pass
    assert seen["host"] == "127.0.0.1"
    assert seen["dashboard_address"].startswith("127.0.0.1:")
