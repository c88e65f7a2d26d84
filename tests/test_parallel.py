"""Many fits on a dask cluster: the same results as in one process, failures retried or
reported by name, nothing silently missing."""

import os
import time
from pathlib import Path

import pandas as pd
import pytest

import sitefx
from sitefx.calibration import calibrate
from sitefx.parallel import TaskFailedError, Workers, map_tasks
from sitefx.sensitivity import prior_grid
from sitefx.testing import simulate_records
from tests.builders import STUDIES, bundled_study, write_frame

SHORT_NUTS = {"method": "nuts", "chains": 2, "draws": 150, "warmup": 150, "seed": 4}


def _square_unless_odd(item: int, *, tries: Path) -> int:
    """Fails for odd items, always; counts every try in a file per item."""
    with (tries / f"{item}.txt").open("a") as file:
        file.write("try\n")
    if item % 2:
        raise ValueError(f"odd item {item}")
    return item**2


def _die_once(item: int, *, marker: Path) -> int:
    """Kills its worker process the first time it runs (a crashed worker, not an error)."""
    if item == 1 and not marker.exists():
        marker.touch()
        os._exit(1)
    return item * 10


def _worker_address(item: int) -> str:
    """The address of the worker that runs the task (which takes a moment, as a fit would)."""
    from distributed import get_worker

    time.sleep(0.3)
    return get_worker().address


@pytest.fixture(scope="module")
def two_workers():
    """Two worker processes on the loopback interface, shared by this module's tests."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0"
    )
    with cluster, Client(cluster):
        yield Workers(address=cluster.scheduler_address)


def test_failed_tasks_are_retried_then_named(tmp_path):
    with pytest.raises(TaskFailedError) as error:
        map_tasks(_square_unless_odd, [0, 1, 2], labels=["a", "b", "c"], tries=tmp_path)
    assert error.value.failed == {"b": "ValueError('odd item 1')"}
    assert (tmp_path / "1.txt").read_text().count("try") == 2  # tried, then retried once
    assert (tmp_path / "2.txt").read_text().count("try") == 1


def test_a_cluster_names_the_failed_items_and_keeps_the_others(two_workers, tmp_path):
    with pytest.raises(TaskFailedError) as error:
        map_tasks(
            _square_unless_odd,
            [0, 1, 2, 3],
            labels=list("abcd"),
            workers=two_workers,
            tries=tmp_path,
        )
    assert set(error.value.failed) == {"b", "d"}
    assert "odd item 3" in error.value.failed["d"]


def test_tasks_of_one_group_run_on_one_worker(two_workers):
    groups = ["star", "star", "star", "eight", "eight", "eight"]
    labels = [f"{group}-{number}" for number, group in enumerate(groups)]
    ran_on = map_tasks(_worker_address, range(6), labels=labels, workers=two_workers, groups=groups)
    assert ran_on[0] != ran_on[3]  # the two groups start on the two workers
    # and stay there, but loosely: an idle worker may take a task queued for the other
    assert ran_on[:3].count(ran_on[0]) >= 2 and ran_on[3:].count(ran_on[3]) >= 2, ran_on


def test_a_worker_that_dies_mid_grid_has_its_task_rerun(two_workers, tmp_path):
    results = map_tasks(
        _die_once, [0, 1, 2], labels=list("abc"), workers=two_workers, marker=tmp_path / "died"
    )
    assert results == [0, 10, 20]
    assert (tmp_path / "died").exists()


def test_a_prior_grid_on_a_cluster_equals_the_serial_grid(two_workers, eight_schools):
    options = {"alt_tau": ["half-cauchy(5)"], "alt_mu": ["normal(0, 50)"]}
    model = sitefx.SiteEffects(**SHORT_NUTS)
    serial = prior_grid(model, eight_schools, **options)
    parallel = prior_grid(model, eight_schools, workers=two_workers, **options)
    pd.testing.assert_frame_equal(parallel.table, serial.table)
    pd.testing.assert_frame_equal(parallel.sites, serial.sites)
    assert len(serial.table) == 4


@pytest.mark.slow  # a long statistical check; run with -m slow
def test_calibration_replicates_on_a_cluster_equal_the_serial_ones(two_workers, eight_schools):
    model = sitefx.SiteEffects(**SHORT_NUTS)
    serial = calibrate(model, eight_schools.data, replicates=4, seed=2)
    parallel = calibrate(model, eight_schools.data, replicates=4, seed=2, workers=two_workers)
    pd.testing.assert_frame_equal(parallel.ranks, serial.ranks)


def test_calibrate_command_takes_a_scheduler_address(two_workers, tmp_path, cli):
    arguments = ["calibrate", STUDIES / "eight_schools", "--replicates", "3"]
    arguments += ["--scheduler", two_workers.address, "--out", tmp_path, "--quiet"]
    assert cli(*arguments).code == 0
    assert len(pd.read_csv(tmp_path / "calibration_ranks.csv")) == 3 * 10


def test_bad_worker_counts_exit_2(tmp_path, cli):
    run = cli("calibrate", STUDIES / "eight_schools", "--workers", "0", "--out", tmp_path)
    assert run.code == 2
    assert "workers (--workers) must be a whole number from 1" in run.err


def test_fit_many_on_a_cluster_writes_a_fit_per_study_and_an_overview(two_workers, tmp_path, cli):
    arguments = ["fit-many", STUDIES / "eight_schools", STUDIES / "teacher_expectancy"]
    arguments += ["--scheduler", two_workers.address, "--out", tmp_path, "--quiet"]
    assert cli(*arguments).code == 0
    overview = pd.read_csv(tmp_path / "overview.csv")
    assert overview["label"].tolist() == ["eight_schools", "teacher_expectancy"]
    assert overview["sites"].tolist() == [8, 19]
    alone = sitefx.SiteEffects().fit(bundled_study("teacher_expectancy"))
    expected = alone.estimands().set_index("estimand").loc["mu"]  # exact: as in its files
    assert overview.loc[1, "mu_mean"] == pytest.approx(expected["mean"], rel=1e-12)
    assert overview.loc[1, "prob_mu_above"] == pytest.approx(expected["prob_above"], rel=1e-12)
    assert (overview["mcse_mu_mean"] == 0).all()
    assert (tmp_path / "eight_schools" / "posterior.nc").is_file()


def test_fit_many_fits_each_outcome(tmp_path, cli):
    data, _ = simulate_records(4, 160, seed=3)
    frame = pd.DataFrame(
        {
            "school": [data.site[j] for j in data.site_index],
            "t": data.treatment,
            "reading": data.outcome,
            "math": data.outcome * 2 + 1,
        }
    )
    path = write_frame(frame, tmp_path / "trial.csv")
    arguments = ["fit-many", path, "--site", "school", "--treatment", "t"]
    arguments += ["--outcomes", "reading,math", "--draws", "300", "--warmup", "300"]
    assert cli(*arguments, "--out", tmp_path / "out", "--quiet").code == 0
    overview = pd.read_csv(tmp_path / "out" / "overview.csv")
    assert overview["label"].tolist() == ["trial-reading", "trial-math"]
    assert overview["outcome"].tolist() == ["reading", "math"]
    # math is reading doubled: its average effect is about twice as large
    ratio = overview.loc[1, "mu_mean"] / overview.loc[0, "mu_mean"]
    assert ratio == pytest.approx(2, rel=0.25)
