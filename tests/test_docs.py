"""The user documentation in docs/ says what the code does: every command, flag, default,
choice, output file, column, DataTree group, variable and attribute.

Facts are read from the code (the parser, the constants that name files and columns) and from
one real saved fit (eight schools, exact method: well under a second), never from lists kept
here, so a flag, file or variable added to the code fails these tests until it is documented.
"""

import argparse
import re
import shlex
import warnings
from pathlib import Path

import pytest

# Every sitefx import of these tests, in one place (module paths may move).
from sitefx.bias.models import TABLE_COLUMNS as BIAS_COLUMNS
from sitefx.cli import EXIT_BAD_INPUT, EXIT_DIAGNOSTICS, build_parser, main
from sitefx.design.assurance import COLUMNS as DESIGN_COLUMNS
from sitefx.estimator import OUTPUT_FILES
from sitefx.report.datatree import _DATA_DIMS, DIMENSIONS, POSTERIOR_DIMS, load_datatree
from sitefx.report.datatree import _level_dims as level_dims
from sitefx.report.folders import MANIFEST
from sitefx.report.sensitivity import FILES, LEAVE_ONE_OUT_COLUMNS, POWER_SCALING_COLUMNS
from sitefx.report.tables import (
    ESTIMAND_COLUMNS,
    SITE_COLUMNS,
    SITE_STATISTICS,
    STATISTICS,
    SUMMARY_COLUMNS,
    mcse_name,
)

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SAMPLE_DIMS = ["chain", "draw"]
LEVEL = "<level>"  # how the docs write a nesting level's name
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
TICKED = re.compile(r"`([^`\n]+)`")


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def sections(text: str, level: int) -> list[tuple[str, str]]:
    """``(heading, body)`` for each heading of ``level`` (``#`` count) in ``text``; code
    blocks are not searched for headings."""
    marker = "#" * level + " "
    parts, heading, lines, fenced = [], None, [], False
    for line in text.splitlines():
        fenced ^= line.startswith("```")
        if not fenced and line.startswith(marker):
            if heading is not None:
                parts.append((heading, "\n".join(lines)))
            heading, lines = line[len(marker) :].strip(), []
        elif heading is not None:
            lines.append(line)
    if heading is not None:
        parts.append((heading, "\n".join(lines)))
    return parts


def section(text: str, level: int, name: str) -> str:
    """The body of the one heading whose first backticked word, or else whose text, is
    ``name``."""
    found = [
        body
        for heading, body in sections(text, level)
        if (TICKED.findall(heading) or [heading])[0] == name
    ]
    assert len(found) == 1, f"expected one {'#' * level} heading `{name}`, found {len(found)}"
    return found[0]


def table_rows(text: str) -> list[list[str]]:
    """The cells of each Markdown table row in ``text`` (header and rule rows left out)."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or set(line) <= set("|- "):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows.append(cells)
    return [row for row in rows if row[0] not in ("flag", "argument", "column", "variable")]


def first_column(text: str) -> list[str]:
    """The backticked name opening each table row's first cell, in order."""
    return [TICKED.findall(row[0])[0] for row in table_rows(text) if TICKED.findall(row[0])]


def ticked(text: str) -> set[str]:
    """The backticked words of ``text`` (code fences left out)."""
    return set(TICKED.findall(re.sub(r"^```.*$", "", text, flags=re.M)))


def dims_of(row: list[str]) -> set[str]:
    return ticked(row[1])


# The command line ------------------------------------------------------------------------


def commands() -> dict[str, argparse.ArgumentParser]:
    """Each command's parser by name; ``""`` is ``sitefx`` itself."""
    parser = build_parser()
    (choices,) = [a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"": parser, **choices}


def documented_options(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.Action]]:
    """``(group title, action)`` for each option a user gives (not ``--help``, not the
    command choice)."""
    return [
        (group.title, action)
        for group in parser._action_groups
        for action in group._group_actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
    ]


def long_flag(action: argparse.Action) -> str | None:
    return next((s for s in action.option_strings if s.startswith("--")), None)


def cli_sections() -> list[tuple[set[str], str]]:
    """Each ``##`` section of cli.md that names commands in its heading (`sitefx fit`,
    `sitefx` for the command itself), with the commands it names and its body."""
    named = []
    for heading, body in sections(page("cli.md"), 2):
        quoted = [m for m in TICKED.findall(heading) if m.split(" ")[0] == "sitefx"]
        if quoted:
            named.append(({m.removeprefix("sitefx").strip() for m in quoted}, body))
    return named


def flag_rows(name: str) -> dict[str, tuple[str, list[str]]]:
    """The documented rows of command ``name``'s flags: ``{flag: (### heading, cells)}``,
    from every cli.md section whose heading names the command."""
    rows = {}
    for names, body in cli_sections():
        if name not in names:
            continue
        for heading, text in sections(body, 3):
            for cells in table_rows(text):
                for flag in FLAG.findall(cells[0])[:1]:
                    assert flag not in rows, f"{flag} of '{name}' is documented twice"
                    rows[flag] = (heading, cells)
    return rows


def example_commands() -> list[str]:
    """Every ``sitefx`` command line in the docs' bash blocks, continuation lines joined."""
    lines = []
    for path in sorted(DOCS.glob("*.md")):
        for block in re.findall(r"```bash\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #")[0].strip()
                if line.startswith((".venv/bin/sitefx ", "sitefx ")):
                    lines.append(line)
    return lines


def test_every_command_has_its_own_section_with_an_example():
    own = {next(iter(names)): body for names, body in cli_sections() if len(names) == 1}
    for name in commands():
        assert name in own, f"docs/cli.md has no section of its own for `sitefx {name}`"
        if name:
            assert re.search(rf"```bash\n(.*\n)*?\S*sitefx {name} ", own[name]), (
                f"the section of `sitefx {name}` has no example"
            )


@pytest.mark.parametrize("name", [name for name in commands() if name])
def test_every_positional_argument_is_documented_in_its_command_section(name):
    own = next(body for names, body in cli_sections() if names == {name})
    arguments = dict(sections(own, 3)).get("positional arguments", "")
    for action in commands()[name]._actions:
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction):
            assert f"`{action.metavar}`" in arguments, (
                f"`sitefx {name}`: argument {action.metavar} is missing from its positional "
                "arguments table"
            )


@pytest.mark.parametrize("name", list(commands()))
def test_every_flag_is_documented_under_its_command_in_its_argparse_group(name):
    rows = flag_rows(name)
    for title, action in documented_options(commands()[name]):
        flag = long_flag(action)
        if flag is None:
            continue
        assert flag in rows, f"`sitefx {name}` {flag} is not in docs/cli.md"
        heading, _ = rows[flag]
        group = title.split(" (")[0]
        assert heading.lower().startswith(group), (
            f"`sitefx {name}` {flag} is documented under '### {heading}', not under its "
            f"group '{group}'"
        )


@pytest.mark.parametrize("name", list(commands()))
def test_every_documented_default_and_choice_is_the_parsers(name):
    rows = flag_rows(name)
    for _, action in documented_options(commands()[name]):
        flag = long_flag(action)
        if flag is None:
            continue
        _, cells = rows[flag]
        flag_cell, values, default = cells[0], cells[1], cells[2]
        if action.metavar is not None:
            assert f"{flag} {action.metavar}" in flag_cell, f"{flag}: metavar {action.metavar}"
        for choice in action.choices or ():
            assert f"`{choice}`" in values, f"{flag}: choice {choice} is not documented"
        if action.required:
            assert default == "required", f"{flag} is required"
        elif action.default not in (None, False, [], argparse.SUPPRESS) and action.nargs != 0:
            assert f"`{action.default}`" in default, (
                f"{flag}: the documented default '{default}' is not `{action.default}`"
            )


def test_command_sections_mention_only_their_commands_flags():
    for names, body in cli_sections():
        known = set.intersection(
            *({long_flag(a) for _, a in documented_options(commands()[n])} for n in names)
        )
        stray = set(FLAG.findall(body)) - known - {"--help"}
        assert not stray, f"docs/cli.md section for {sorted(names)} mentions {sorted(stray)}"


def test_docs_mention_no_flag_the_parser_lacks():
    known = {"--help"} | {
        long_flag(action)
        for parser in commands().values()
        for _, action in documented_options(parser)
    }
    for path in sorted(DOCS.glob("*.md")):
        unknown = set(FLAG.findall(path.read_text(encoding="utf-8"))) - known
        assert not unknown, f"{path.name} mentions flags sitefx does not have: {sorted(unknown)}"


def test_every_example_command_parses():
    examples = example_commands()
    assert len(examples) >= len(commands())
    parser = build_parser()
    for line in examples:
        words = shlex.split(line)[1:]
        try:
            parser.parse_args(words)
        except SystemExit as error:
            assert error.code == 0, f"example does not parse: {line}"


def test_exit_codes_page_lists_the_codes_main_returns():
    documented = {int(row[0]) for row in table_rows(page("exit-codes.md")) if row[0].isdigit()}
    assert documented == {0, 1, EXIT_BAD_INPUT, EXIT_DIAGNOSTICS}


# Files ---------------------------------------------------------------------------------


def help_texts() -> str:
    """Every description and help text of the command line (they name output files)."""
    texts = []
    for parser in commands().values():
        texts.append(parser.description or "")
        texts += [action.help or "" for action in parser._actions]
    subparsers = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    texts += [choice.help or "" for choice in subparsers[0]._choices_actions]
    return "\n".join(texts)


def test_every_output_file_is_documented():
    names = {*OUTPUT_FILES.values(), *FILES.values(), MANIFEST}
    names |= set(re.findall(r"[\w%]+\.(?:nc|csv|png|html|md|json)\b", help_texts()))
    documented = ticked(page("files.md"))
    missing = sorted(name for name in names if name not in documented)
    assert not missing, f"docs/files.md does not describe {missing}"


def columns_of(file_name: str) -> list[str]:
    return first_column(section(page("files.md"), 4, file_name))


def test_summary_csv_columns_are_documented_in_order():
    assert columns_of("summary.csv") == SUMMARY_COLUMNS + [mcse_name(s) for s in STATISTICS]


@pytest.mark.parametrize(
    ("file_name", "columns"),
    [
        (
            "estimands.csv",
            ESTIMAND_COLUMNS + [mcse_name(s) for s in (*STATISTICS, "prob_positive", "prob_above")],
        ),
        ("sites.csv", SITE_COLUMNS + [mcse_name(s) for s in SITE_STATISTICS]),
        ("leave_one_out.csv", LEAVE_ONE_OUT_COLUMNS),
        ("power_scaling.csv", POWER_SCALING_COLUMNS),
        ("bias.csv", BIAS_COLUMNS),
        ("design.csv", list(DESIGN_COLUMNS)),
    ],
)
def test_table_columns_are_documented_in_the_order_written(file_name, columns):
    documented = columns_of(file_name)
    assert [c for c in documented if c in columns] == columns, f"{file_name}: {documented}"


# The DataTree --------------------------------------------------------------------------


def variable_rows(group: str) -> dict[str, set[str]]:
    """``{variable: its documented dims}`` in the section of ``group`` in datatree.md."""
    rows = table_rows(section(page("datatree.md"), 2, group))
    return {TICKED.findall(row[0])[0]: dims_of(row) for row in rows if TICKED.findall(row[0])}


def test_every_posterior_variable_is_documented_with_its_dims():
    documented = variable_rows("posterior")
    levels = level_dims(LEVEL)[0]
    for name, dims in {**POSTERIOR_DIMS, **levels}.items():
        assert documented.get(name) == set(SAMPLE_DIMS + dims), f"posterior {name}: {dims}"


def test_every_data_variable_is_documented_with_its_dims():
    documented = variable_rows("observed_data") | variable_rows("constant_data")
    for name, dims in {**_DATA_DIMS, **level_dims(LEVEL)[1]}.items():
        assert documented.get(name) == set(dims), f"data variable {name}: {dims}"


def test_every_dimension_is_documented():
    documented = set(first_column(section(page("datatree.md"), 2, "Dimensions")))
    assert documented >= {*DIMENSIONS, LEVEL}


@pytest.fixture(scope="module")
def saved_fit(tmp_path_factory):
    """One fit as the command line saves it (eight schools, exact method)."""
    out = tmp_path_factory.mktemp("docs") / "fit"
    assert main(["fit", str(ROOT / "studies/eight_schools"), "--out", str(out), "--quiet"]) == 0
    return out


def test_every_group_variable_and_attribute_of_a_saved_fit_is_documented(saved_fit):
    tree = load_datatree(saved_fit / OUTPUT_FILES["posterior"])
    text = page("datatree.md")
    for group in tree.children:
        documented = variable_rows(group)
        for name, variable in tree[group].data_vars.items():
            assert documented.get(name) == set(variable.dims), f"{group}/{name}: {variable.dims}"
    assert set(tree.attrs) <= ticked(section(text, 2, "Root attributes"))
    assert set(tree["exact"].attrs) | set(tree["estimands"].attrs) <= ticked(text)


def test_every_file_and_column_a_saved_fit_writes_is_documented(saved_fit):
    for path in saved_fit.iterdir():
        assert f"`{path.name}`" in page("files.md")
        if path.suffix == ".csv":
            header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
            assert set(header) <= set(columns_of(path.name)), path.name


# Links ---------------------------------------------------------------------------------


def test_readme_points_into_docs_and_every_relative_link_resolves():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "shared/CONTRACT.md" not in readme
    assert "docs/README.md" in readme
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for target, anchor in re.findall(r"\]\(([^)#]*)(?:#([^)]*))?\)", text):
            if "://" in target:
                continue
            linked = (path.parent / target) if target else path
            assert linked.exists(), f"{path.name} links to {target}"
            if anchor and linked.suffix == ".md":
                assert anchor in anchors(linked), f"{path.name} links to {target}#{anchor}"


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def python_examples() -> list[tuple[str, str]]:
    """Every Python block of README.md and docs/*.md: ``(file name, code)``."""
    return [
        (path.name, code)
        for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
        for code in re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
    ]


@pytest.mark.parametrize(("name", "code"), python_examples())
def test_every_python_example_runs(name, code, tmp_path, monkeypatch):
    """Run as a reader would, in a clone after ``./run demo`` (which wrote out/eight_schools)."""
    import matplotlib

    import sitefx

    matplotlib.use("Agg")
    (tmp_path / "studies").symlink_to(ROOT / "studies")
    monkeypatch.chdir(tmp_path)
    sitefx.SiteEffects().fit(sitefx.load("studies/eight_schools")).save("out/eight_schools")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sitefx.DataDropWarning)  # STAR's rows without a score
        exec(compile(code, f"{name} example", "exec"), {"__name__": "__example__"})
