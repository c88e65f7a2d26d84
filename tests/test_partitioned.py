"""Out-of-core records: per-site statistics summed partition by partition with dask equal the
in-memory ones, errors name the file and partition, and the fit uses them like records."""

import numpy as np
import pandas as pd
import pytest

import sitefx
from sitefx.cli import main
from sitefx.data.partitioned import record_statistics
from sitefx.data.statistics import RecordStatistics, SiteStatistics
from sitefx.testing import simulate_records

ROLES = {"site": "school", "outcome": "y", "treatment": "t", "covariates": ["x1", "x2"]}
STATISTICS = ["n", "zz", "zx", "zy", "xx", "xy", "yy", "site_xx", "site_xy", "site_yy"]


@pytest.fixture(scope="module")
def records():
    data, _ = simulate_records(9, 1800, n_covariates=2, seed=5)
    return data, _frame(data)


def _frame(data) -> pd.DataFrame:
    """The records as a table: school, t, y and the covariates x1, x2, ..."""
    covariates = {f"x{k + 1}": column for k, column in enumerate(data.covariates.T)}
    sites = [data.site[j] for j in data.site_index]
    return pd.DataFrame({"school": sites, "t": data.treatment, "y": data.outcome} | covariates)


def _write_partitions(frame: pd.DataFrame, folder, seed: int, suffix: str) -> None:
    """Split the rows at random places into files (and Parquet files into row groups)."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, len(frame)), 4, replace=False))
    for number, part in enumerate(np.split(np.arange(len(frame)), cuts)):
        chunk = frame.iloc[part]
        path = folder / f"part{number}{suffix}"
        if suffix == ".parquet":
            chunk.to_parquet(path, row_group_size=int(rng.integers(50, 400)))
        else:
            chunk.to_csv(path, index=False)


@pytest.mark.parametrize(("suffix", "seed"), [(".parquet", 1), (".parquet", 2), (".csv", 3)])
def test_statistics_from_random_partitions_equal_the_in_memory_ones(
    records, tmp_path, suffix, seed
):
    data, frame = records
    _write_partitions(frame, tmp_path, seed, suffix)
    source = tmp_path if suffix == ".parquet" else tmp_path / "*.csv"
    summed = record_statistics(source, **ROLES)
    centred = data.covariates - data.covariates.mean(axis=0)
    expected = SiteStatistics.from_records(data, centred, per_site=True)
    for name in STATISTICS:
        np.testing.assert_allclose(
            getattr(summed.stats, name), getattr(expected, name), rtol=1e-10, atol=1e-9
        )
    assert summed.site == data.site
    raw, summed_raw = data.raw_site_effects(), summed.raw_site_effects()
    np.testing.assert_allclose(summed_raw.estimate, raw.estimate, rtol=1e-10)
    np.testing.assert_allclose(summed_raw.se, raw.se, rtol=1e-10)
    assert summed.outcome_sd == pytest.approx(
        sitefx.data.validate.pooled_sd(data.outcome, data.treatment)
    )
    assert summed.accounting.rows_read == len(frame)


def test_a_bad_value_is_named_by_file_partition_and_row(records, tmp_path):
    _, frame = records
    frame = frame.copy()
    frame.loc[1000, "y"] = np.nan
    frame.iloc[:900].to_parquet(tmp_path / "a.parquet", row_group_size=300)
    frame.iloc[900:].to_parquet(tmp_path / "b.parquet", row_group_size=300)
    with pytest.raises(sitefx.StudyDataError, match=r"^b\.parquet, partition 3: column 'y' has 1"):
        record_statistics(tmp_path, **ROLES)
    with pytest.warns(sitefx.DataDropWarning):
        summed = record_statistics(tmp_path, **ROLES, drop_missing=True)
    (drop,) = summed.accounting.drops
    assert drop.rows == ("101",) and "(b.parquet, partition 3)" in drop.reason
    assert summed.accounting.rows_used == len(frame) - 1


def test_incomplete_sites_and_missing_columns_are_refused(records, tmp_path):
    _, frame = records
    frame[frame["school"] != "site 1"].assign(
        t=lambda f: f["t"].where(f["school"] != "site 2", 1)
    ).to_parquet(tmp_path / "data.parquet")
    with pytest.raises(sitefx.StudyDataError, match="fewer than 2 records in an arm: site 2"):
        record_statistics(tmp_path, **ROLES)
    with pytest.raises(sitefx.StudyDataError, match="missing column"):
        record_statistics(tmp_path, **ROLES | {"outcome": "score"})
    with pytest.raises(sitefx.StudyDataError, match="no data files"):
        record_statistics(tmp_path / "nothing*.parquet", **ROLES)


def test_the_fit_of_summed_records_matches_the_fit_of_the_records(records, tmp_path):
    """Same priors, same collapsed likelihood (to rounding): the posteriors agree to well
    within Monte-Carlo error."""
    data, frame = records
    _write_partitions(frame, tmp_path, 4, ".parquet")
    summed = record_statistics(tmp_path, **ROLES)
    in_memory = sitefx.SiteEffects(seed=3).fit(data)
    out_of_core = sitefx.SiteEffects(seed=3).fit(summed)
    assert out_of_core.priors_ == in_memory.priors_
    a, b = (fit.summary().set_index("parameter") for fit in (in_memory, out_of_core))
    difference = (a["mean"] - b.loc[a.index, "mean"]).abs() / a["sd"]
    assert difference.max() < 0.1
    assert out_of_core.posterior_.attrs["data_kind"] == "statistics"
    assert isinstance(out_of_core.data_, RecordStatistics)


def test_fit_command_reads_a_parquet_folder_out_of_core(records, tmp_path, capsys):
    _, frame = records
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    _write_partitions(frame, data_dir, 5, ".parquet")
    roles = ["--site", "school", "--outcome", "y", "--treatment", "t", "--covariates", "x1,x2"]
    assert main(["fit", str(data_dir), *roles, "--out", str(tmp_path / "fit"), "--quiet"]) == 0
    tree = sitefx.load_datatree(tmp_path / "fit" / "posterior.nc")
    assert tree.attrs["data_kind"] == "statistics"
    assert tree["constant_data"]["n"].sum() == len(frame)
    assert main(["report", str(tmp_path / "fit")]) == 0
    refused = [*roles, "--drop-incomplete-sites", "--out", str(tmp_path / "no")]
    assert main(["fit", str(data_dir), *refused]) == 2
    assert "out of core take site, outcome" in capsys.readouterr().err


def test_csv_blocks_split_mid_line_read_every_row_once(records, tmp_path, monkeypatch):
    """Blocks of a few hundred bytes cut lines anywhere: each line belongs to the block it
    starts in, so the sums equal one read of the whole file; a ragged row names its block."""
    _, frame = records
    path = tmp_path / "records.csv"
    frame.to_csv(path, index=False)
    whole = record_statistics(path, **ROLES)
    monkeypatch.setattr(sitefx.data.partitioned, "BLOCK", 777)
    blocks = record_statistics(path, **ROLES)
    np.testing.assert_allclose(blocks.stats.site_xx, whole.stats.site_xx, rtol=1e-12)
    np.testing.assert_allclose(blocks.arm_mean, whole.arm_mean, rtol=1e-12)
    assert blocks.accounting.rows_read == whole.accounting.rows_read == len(frame)
    lines = path.read_text().splitlines(keepends=True)
    lines[1000] = lines[1000].rstrip("\n") + ",1\n"
    path.write_text("".join(lines))
    with pytest.raises(sitefx.StudyDataError, match=r"records\.csv, block at byte \d+: 1 row"):
        record_statistics(path, **ROLES)


@pytest.fixture(scope="module")
def clustered():
    """Records with covariates, a moderator, districts above the schools and classrooms."""
    data, _ = simulate_records(
        12, 2400, n_covariates=2, n_moderators=1, clusters_per_site=4, seed=8
    )
    frame = _frame(data).assign(
        w1=data.moderators[data.site_index, 0],
        district=[f"d{j // 3}" for j in data.site_index],
        room=data.cluster,
    )
    roles = ROLES | {"moderators": ["w1"], "levels": ["district"], "cluster": "room"}
    return frame, roles


def _in_memory(frame: pd.DataFrame, roles: dict):
    return sitefx.data.validate.individual_records(frame, **roles)


@pytest.mark.parametrize(("suffix", "seed"), [(".parquet", 6), (".csv", 7)])
def test_clusters_moderators_and_levels_summed_equal_the_in_memory_ones(
    clustered, tmp_path, suffix, seed
):
    """The per-cluster sums, the moderators and the levels equal the in-memory records' to
    1e-10, however the rows are split."""
    frame, roles = clustered
    _write_partitions(frame.sample(frac=1.0, random_state=seed), tmp_path, seed, suffix)
    source = tmp_path if suffix == ".parquet" else tmp_path / "*.csv"
    summed = record_statistics(source, **roles)
    data = _in_memory(frame.sample(frac=1.0, random_state=seed), roles)
    expected = SiteStatistics.from_records(
        data, data.covariates - data.covariates.mean(axis=0), per_site=True
    )
    assert summed.site == data.site
    for name in STATISTICS:
        np.testing.assert_allclose(
            getattr(summed.stats, name), getattr(expected, name), rtol=1e-10, atol=1e-9
        )
    for name in ("site", "n", "treated", "y", "x"):
        np.testing.assert_allclose(
            getattr(summed.stats.clusters, name),
            getattr(expected.clusters, name),
            rtol=1e-10,
            atol=1e-9,
        )
    np.testing.assert_array_equal(summed.moderators, data.moderators)
    assert summed.moderator_names == data.moderator_names == ("w1",)
    ((level, expected_level),) = zip(summed.levels, data.levels, strict=True)
    assert level.groups == expected_level.groups
    np.testing.assert_array_equal(level.index, expected_level.index)


@pytest.mark.filterwarnings("ignore::sitefx.SamplingWarning")  # short chains, on purpose
def test_every_gaussian_option_fits_summed_records_as_in_memory(clustered, tmp_path):
    """Clusters, moderators, levels, Student-t site effects and the horseshoe: the same priors
    and the same collapsed likelihood (to rounding), so the posteriors agree to within
    Monte-Carlo error."""
    frame, roles = clustered
    _write_partitions(frame, tmp_path, 9, ".parquet")
    summed = record_statistics(tmp_path, **roles)
    settings = {"seed": 4, "chains": 2, "draws": 300, "warmup": 300}
    settings |= {"site_dist": "student-t", "covariate_prior": "horseshoe"}
    in_memory = sitefx.SiteEffects(**settings).fit(_in_memory(frame, roles))
    out_of_core = sitefx.SiteEffects(**settings).fit(summed)
    assert out_of_core.priors_ == in_memory.priors_
    parameters = ["mu", "tau", "nu", "cluster_sd", "tau_district", "gamma[w1]", "beta[x1]"]
    _agree(in_memory, out_of_core, parameters)


def _agree(in_memory, out_of_core, parameters: list[str]) -> None:
    """Assert that the posterior means differ by less than 4 Monte-Carlo standard errors.

    The draws are not identical: the sums are made in another order (and the covariates
    centred algebraically), and rounding differences grow along the chains.
    """
    a, b = (
        fit.summary().set_index("parameter").loc[parameters] for fit in (in_memory, out_of_core)
    )
    error = np.sqrt(a["mcse_mean"] ** 2 + b["mcse_mean"] ** 2)
    assert ((a["mean"] - b["mean"]).abs() < 4 * error).all(), pd.concat([a, b])


def test_a_moderator_varying_within_a_site_across_partitions_is_refused(clustered, tmp_path):
    """Each partition alone has one value per site; the message names the column and site."""
    frame, roles = clustered
    split = frame["school"].iloc[1100]  # a site in both files
    assert (frame["school"].iloc[1099:1101] == split).all()
    frame.iloc[:1100].to_parquet(tmp_path / "a.parquet")
    changed = frame.iloc[1100:].assign(w1=lambda f: f["w1"].where(f["school"] != split, 9.0))
    changed.to_parquet(tmp_path / "b.parquet")
    with pytest.raises(sitefx.StudyDataError, match=f"column 'w1' must be a site-level .*{split}$"):
        record_statistics(tmp_path, **roles)
