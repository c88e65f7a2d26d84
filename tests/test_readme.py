"""Every command line of README.md's bash blocks runs on a fresh clone, in the README's order,
in a folder holding only ``studies`` (as a reader's clone does): each reads a bundled study or
a file an earlier line wrote, exits with status 0 and writes what its ``--out`` names.

``.venv/bin/sitefx`` runs as ``python -m sitefx`` and ``.venv/bin/python`` as this Python,
both importing this checkout's sitefx. The default run leaves out the commands that take a
quarter of a minute or more on two busy cores (NUTS fits, borrowing, the sensitivity grid,
several fits, calibration); the ``slow`` test runs every command.
"""

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = {
    ".venv/bin/sitefx": [sys.executable, "-m", "sitefx"],
    ".venv/bin/python": [sys.executable],
}
NOT_RUN = {
    # `./run demo` sets up .venv and fits every bundled study (the lines below cover those
    # fits); `./run test` runs this suite, this test included.
    "./run demo",
    "./run test",
    # The benchmark suite runs for about an hour and writes benchmarks/results/.
    ".venv/bin/python -m pytest benchmarks",
}
# The --out of each command that takes a quarter of a minute or more.
SLOW = {
    "out/pass",
    "out/robust",
    "out/cal",
    "out/borrow",
    "out/ipd",
    "out/hs",
    "out/pass_ipd",
    "out/growth",
    "out/te",
    "out/star_outcomes",
    "out/calibration",
    "out/hc",
}


def readme_commands() -> list[list[str]]:
    """The words of each command line in README.md's bash blocks, in order, continuation
    lines joined, comments and the commands in ``NOT_RUN`` left out."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", readme, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and not any(line.startswith(skipped) for skipped in NOT_RUN):
                commands.append(words)
    return commands


def out_of(words: list[str]) -> str | None:
    return words[words.index("--out") + 1] if "--out" in words else None


def run(words: list[str], folder: Path) -> None:
    """Run one README command in ``folder``, printing its wall time (seen with ``-s``)."""
    assert words[0] in PROGRAMS, f"README runs a program the test does not know: {words[0]}"
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's sitefx
    start = time.perf_counter()
    result = subprocess.run(
        PROGRAMS[words[0]] + words[1:],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    seconds = time.perf_counter() - start
    command = shlex.join(words)
    assert result.returncode == 0, f"{command}\nexit {result.returncode}\n{result.stderr[-3000:]}"
    out = out_of(words)
    if out is not None:
        assert (folder / out).exists(), f"{command} did not write {out}"
    print(f"{seconds:7.1f} s  {command}")


@pytest.fixture
def clone(tmp_path):
    """A working folder with the bundled studies, as in a fresh clone."""
    (tmp_path / "studies").symlink_to(ROOT / "studies")
    return tmp_path


def test_readme_names_every_slow_command_it_has():
    assert SLOW <= {out_of(words) for words in readme_commands()}


def test_readme_commands_that_take_seconds_run_in_order(clone):
    for words in readme_commands():
        if out_of(words) not in SLOW:
            run(words, clone)


@pytest.mark.slow
def test_every_readme_command_runs_in_order(clone):
    for words in readme_commands():
        run(words, clone)
