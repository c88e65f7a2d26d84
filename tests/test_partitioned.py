"""Out-of-core records: per-site statistics summed partition by partition with dask equal the
in-memory ones, errors name the file and partition, and the fit uses them like records."""

import numpy as np
import pandas as pd
import pytest
from scipy import special

import sitefx
from sitefx.backend import double_precision
from sitefx.cli import main
from sitefx.data.partitioned import record_statistics
from sitefx.data.statistics import RecordStatistics, SiteStatistics
from sitefx.families import Model
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


@pytest.mark.slow  # two fits with every option; the default suite checks the sums' equality
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


@pytest.fixture(scope="module")
def binary():
    """Binary records with two discrete covariates, classrooms, districts and a moderator."""
    rng = np.random.default_rng(11)
    n_sites, n = 10, 2000
    school = rng.integers(0, n_sites, n)
    female, grade, t = rng.integers(0, 2, n), rng.integers(3, 6, n), rng.integers(0, 2, n)
    effect = rng.normal(0.4, 0.3, n_sites)[school]
    logit = -0.3 + effect * t + 0.5 * female - 0.2 * (grade - 4)
    frame = pd.DataFrame(
        {
            "school": [f"site {j}" for j in school],
            "t": t,
            "passed": rng.binomial(1, 1 / (1 + np.exp(-logit))),
            "female": female,
            "grade": grade,
            "w1": np.linspace(-1, 1, n_sites)[school],
            "district": [f"d{j // 5}" for j in school],
            "room": rng.integers(0, 4, n).astype(str),
        }
    )
    roles = {"site": "school", "outcome": "passed", "treatment": "t", "family": "binomial"}
    roles |= {"covariates": ["female", "grade"], "moderators": ["w1"], "levels": ["district"]}
    return frame, roles


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_binary_records_counted_by_pattern_equal_the_in_memory_ones(binary, tmp_path, suffix):
    """Every record is counted once in its (site, arm, covariates, classroom) pattern: the
    counts equal the in-memory records' exactly, their covariate moments to 1e-12."""
    frame, roles = binary
    roles = roles | {"cluster": "room"}
    _write_partitions(frame, tmp_path, 12, suffix)
    counts = record_statistics(tmp_path if suffix == ".parquet" else tmp_path / "*.csv", **roles)
    data = _in_memory(frame, roles)
    assert counts.site == data.site and counts.n_records == len(frame)
    for name in ("events_treated", "n_treated", "events_control", "n_control"):
        np.testing.assert_array_equal(
            getattr(counts.arm_counts(), name), getattr(data.arm_counts(), name)
        )
    keys = ["school", "t", "female", "grade", "room"]
    expected = frame.groupby(keys)["passed"].agg(["size", "sum"]).sort_index()
    found = pd.DataFrame(
        {
            "school": np.array(counts.site)[counts.site_index],
            "t": counts.treatment.astype(int),
            "female": counts.covariates[:, 0].astype(int),
            "grade": counts.covariates[:, 1].astype(int),
            "room": counts.cluster,
            "size": counts.trials.astype(int),
            "sum": counts.outcome.astype(int),
        }
    ).set_index(keys)
    pd.testing.assert_frame_equal(found.sort_index(), expected)
    np.testing.assert_allclose(counts.covariate_mean, data.covariates.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(counts.covariate_sd, data.covariates.std(axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_array_equal(counts.moderators, data.moderators)
    assert [level.groups for level in counts.levels] == [level.groups for level in data.levels]
    family = sitefx.families.family_of(counts)
    assert family.default_priors(counts, robust=True) == sitefx.families.default_priors(
        data, robust=True
    )


def test_the_binomial_of_the_counts_is_the_bernoulli_product_up_to_a_constant(binary, tmp_path):
    """At any parameter values, the log density of the counted patterns minus that of the
    records is the sum of the log binomial coefficients: the same posterior, exactly."""
    frame, roles = binary
    frame.to_parquet(tmp_path / "records.parquet", row_group_size=700)
    counts = record_statistics(tmp_path, **roles)
    data = _in_memory(frame, roles)
    priors = sitefx.families.default_priors(data)
    models = [
        sitefx.families.family_of(each).model(each, priors, collapse=True, site_df=None)
        for each in (data, counts)
    ]
    assert [model.name for model in models] == ["per_record_logit", "per_pattern_logit"]
    coefficients = special.gammaln(counts.trials + 1) - special.gammaln(counts.outcome + 1)
    coefficients -= special.gammaln(counts.trials - counts.outcome + 1)
    np.testing.assert_allclose(_log_density_differences(*models), coefficients.sum(), rtol=1e-10)


@double_precision
def _log_density_differences(records: Model, counts: Model) -> np.ndarray:
    """The counts' log density minus the records', at four draws from the prior."""
    import jax
    from numpyro.infer import Predictive
    from numpyro.infer.util import log_density

    draws = Predictive(records.function, num_samples=4)(
        jax.random.key(0), **(records.arguments | {"outcome": None})
    )
    differences = []
    for k in range(4):
        point = {name: value[k] for name, value in draws.items() if name != "outcome"}
        by_records = log_density(records.function, (), records.arguments, point)[0]
        by_counts = log_density(counts.function, (), counts.arguments, point)[0]
        differences.append(float(by_counts - by_records))
    return np.array(differences)


BINARY_NUTS = {"seed": 2, "chains": 2, "draws": 300, "warmup": 300}


@pytest.mark.filterwarnings("ignore::sitefx.SamplingWarning")  # short chains, on purpose
def test_binary_records_counted_by_site_and_arm_fit_as_in_memory(binary, tmp_path):
    """Through the arm counts (site and arm only): the same model on the same integers, so
    the same draws."""
    frame, roles = binary
    _write_partitions(frame, tmp_path, 13, ".parquet")
    plain = {key: roles[key] for key in ("site", "outcome", "treatment", "family")}
    fits = [
        sitefx.SiteEffects(**BINARY_NUTS).fit(data)
        for data in (_in_memory(frame, plain), record_statistics(tmp_path, **plain))
    ]
    draws = [fit.posterior_["posterior"] for fit in fits]
    for name in ("mu", "tau", "theta"):
        np.testing.assert_array_equal(draws[0][name].values, draws[1][name].values)


@pytest.mark.slow  # the per-record logit model with classrooms takes half a minute
@pytest.mark.filterwarnings("ignore::sitefx.SamplingWarning")  # short chains, on purpose
def test_binary_records_counted_by_pattern_fit_as_in_memory(binary, tmp_path):
    """With covariates, classrooms, a moderator and districts: one binomial row per pattern,
    the same posterior to within Monte-Carlo error (the default suite checks the likelihoods'
    equality, which implies it: the binomial test above)."""
    frame, roles = binary
    _write_partitions(frame, tmp_path, 13, ".parquet")
    roles = roles | {"cluster": "room"}
    in_memory = sitefx.SiteEffects(**BINARY_NUTS).fit(_in_memory(frame, roles))
    out_of_core = sitefx.SiteEffects(**BINARY_NUTS).fit(record_statistics(tmp_path, **roles))
    assert out_of_core.priors_ == in_memory.priors_
    parameters = ["mu", "tau", "cluster_sd", "tau_district", "gamma[w1]", "beta[female]"]
    _agree(in_memory, out_of_core, parameters)


def test_binary_records_with_too_many_patterns_are_refused_naming_the_alternative(
    binary, tmp_path, monkeypatch
):
    """A continuous covariate makes nearly every record its own pattern: refused, in the
    partition where the patterns pass the limit, pointing to --engine memory."""
    frame, roles = binary
    frame.assign(score=np.arange(len(frame)) / 7).to_parquet(tmp_path / "records.parquet")
    monkeypatch.setattr(sitefx.data.partitioned, "MAX_PATTERNS", 500)
    with pytest.raises(sitefx.StudyDataError, match=r"more than 500 patterns.*--engine memory"):
        record_statistics(tmp_path, **roles | {"covariates": ["score"]})


def test_a_treatment_read_with_its_levels_is_summed_as_coded(records, tmp_path):
    _, frame = records
    labelled = frame.assign(t=frame["t"].map({1: "small", 0: "regular"}))
    labelled.to_csv(tmp_path / "labelled.csv", index=False)
    levels = {"small": 1, "regular": 0}
    summed = record_statistics(tmp_path / "labelled.csv", **ROLES, treatment_levels=levels)
    frame.to_parquet(tmp_path / "coded.parquet")
    coded = record_statistics(tmp_path / "coded.parquet", **ROLES)
    np.testing.assert_array_equal(summed.arm_n, coded.arm_n)
    np.testing.assert_allclose(summed.arm_mean, coded.arm_mean, rtol=1e-12)
