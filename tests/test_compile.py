"""Compile once, start fast: compiled samplers are reused within a process and across
processes (JAX's persistent cache in SITEFX_CACHE_DIR), the cache can be shown and cleared,
and long commands log their phases on a terminal only."""

import os
import pty
import subprocess
import sys

import numpy as np

from sitefx.backend import CACHE_ENV, cache_dir
from sitefx.infer.nuts import SamplerSettings, run_nuts
from sitefx.models.hierarchical import normal_normal
from sitefx.models.priors import Prior, Priors
from tests.builders import ROOT

EIGHT_SCHOOLS = str(ROOT / "studies" / "eight_schools")
SHORT_NUTS = ["--method", "nuts", "--chains", "2", "--draws", "50", "--warmup", "50"]


def run_on_terminal(argv: list[str], cache: str, cwd) -> tuple[int, str]:
    """Run ``python -m sitefx argv`` with standard error on a pseudo-terminal; return the
    exit status and what it wrote there."""
    leader, follower = pty.openpty()
    run = subprocess.Popen(
        [sys.executable, "-m", "sitefx", *argv],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        cwd=cwd,
        env=os.environ | {CACHE_ENV: cache},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return run.wait(), b"".join(chunks).decode(errors="replace")


def test_a_second_process_reads_the_sampler_from_the_cache(tmp_path):
    cache = str(tmp_path / "cache")
    argv = ["fit", EIGHT_SCHOOLS, *SHORT_NUTS]
    status, first = run_on_terminal([*argv, "--out", "first"], cache, tmp_path)
    assert status == 0, first
    assert "reading" in first and "compiled, kept in" in first
    status, second = run_on_terminal([*argv, "--out", "second"], cache, tmp_path)
    assert status == 0, second
    assert "from the compilation cache" in second
    assert "compiled, kept in" not in second
    assert (tmp_path / "second" / "summary.csv").read_bytes() == (
        tmp_path / "first" / "summary.csv"
    ).read_bytes()


def test_phases_are_not_logged_off_a_terminal(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "sitefx", "fit", EIGHT_SCHOOLS, "--out", "fit"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert "…" not in run.stderr and "reading" not in run.stderr


def test_fits_that_differ_in_values_reuse_one_compiled_sampler(x64, capsys):
    settings = SamplerSettings(chains=2, draws=20, warmup=20, progress=True)
    data = {"estimate": np.array([28.0, 8, -3]), "se": np.array([15.0, 10, 16])}
    draws = {}
    for scale in (5.0, 2.0):  # a prior grid over the scale of tau
        priors = Priors(mu=Prior("normal", (0.0, 20.0)), tau=Prior("half-normal", (scale,)))
        draws[scale], _ = run_nuts(normal_normal, settings, **data, priors=priors)
    assert "reused from an earlier fit" in capsys.readouterr().err
    assert draws[5.0]["theta"].shape == (2, 20, 3)
    assert not np.array_equal(draws[5.0]["tau"], draws[2.0]["tau"])  # the prior did change


def test_the_same_seed_gives_the_same_draws_from_a_reused_sampler(x64):
    settings = SamplerSettings(chains=2, draws=20, warmup=20, seed=4)
    data = {"estimate": np.array([1.0, 2, 3, 4]), "se": np.array([1.0, 1, 2, 2])}
    priors = Priors(mu=Prior("normal", (0.0, 5.0)), tau=Prior("half-normal", (1.0,)))
    first, _ = run_nuts(normal_normal, settings, **data, priors=priors)
    again, _ = run_nuts(normal_normal, settings, **data, priors=priors)
    np.testing.assert_array_equal(first["mu"], again["mu"])


def test_cache_info_and_clear(cli, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    (tmp_path / "cache" / "jax").mkdir(parents=True)
    (tmp_path / "cache" / "jax" / "program").write_bytes(b"x" * 2_000_000)
    info = cli("cache", "info")
    assert info.code == 0 and f"{tmp_path / 'cache'} (2.0 MB)" in info.out
    cleared = cli("cache", "clear")
    assert cleared.code == 0 and "cleared" in cleared.out
    assert not cache_dir().exists()


def test_the_cache_folder_follows_xdg_without_sitefx_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "sitefx"
