"""Adapters: each file format, study folders, and refusals."""

import numpy as np
import pandas as pd
import pytest

import sitefx
from sitefx import StudyDataError
from tests.builders import bundled_study, write_frame

FRAME = pd.DataFrame(
    {
        "school": ["North", "South", "East", "West"],
        "effect": [0.12, -0.05, 0.3, 0.08],
        "se": [0.1, 0.12, 0.15, 0.09],
        "n": [120, 95, 60, 150],
    }
)
ROLES = {"site": "school", "estimate": "effect", "se": "se", "n": "n"}


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet", ".dta", ".sav"])
def test_each_format_reads_the_same_data(tmp_path, suffix):
    path = tmp_path / f"sites{suffix}"
    write_frame(FRAME, path)
    data = sitefx.load(path, **ROLES).data
    expected = sitefx.load(FRAME, **ROLES).data
    assert data.site == expected.site == ("North", "South", "East", "West")
    np.testing.assert_allclose(data.estimate, expected.estimate)
    np.testing.assert_allclose(data.se, expected.se)
    np.testing.assert_allclose(data.n, expected.n)


def test_errors_number_data_rows_from_one(tmp_path):
    frame = FRAME.copy()
    frame.loc[2, "effect"] = np.nan  # third data row
    write_frame(frame, tmp_path / "bad.csv")
    with pytest.raises(StudyDataError, match="rows 3"):
        sitefx.load(tmp_path / "bad.csv", **ROLES)


def test_bundled_studies_load_with_their_units_citation_and_sizes():
    eight = bundled_study("eight_schools")
    assert eight.data.kind == "summaries" and eight.data.n_sites == 8
    assert eight.data.units == "SAT-V points" and "Rubin" in eight.metadata["source"]["citation"]
    pygmalion = bundled_study("teacher_expectancy")
    assert pygmalion.data.n_sites == 19 and pygmalion.data.n is not None


def test_star_reports_the_rows_it_read_used_and_dropped(star):
    data = star.data
    assert data.kind == "individual" and data.covariate_names == (
        "female",
        "minority",
        "free_lunch",
    )
    accounting = data.accounting.to_dict()
    assert accounting["rows_read"] == 4094
    assert accounting["rows_used"] == 3720 == data.n_records
    reasons = {drop["reason"]: len(drop["rows"]) for drop in accounting["drops"]}
    assert reasons["missing or non-finite value in 'score'"] == 351
    assert [drop["sites"] for drop in accounting["drops"] if drop["sites"]] == [["14"]]
    assert data.cluster is not None and len(data.cluster) == 3720


def test_roles_given_to_load_replace_those_of_study_toml():
    study = bundled_study("teacher_expectancy", n="n_treated")
    np.testing.assert_array_equal(study.data.n[:2], [77, 60])


def test_a_folder_without_study_toml_is_not_a_study(tmp_path):
    with pytest.raises(StudyDataError, match=r"not a study folder \(no study.toml\)"):
        sitefx.load(tmp_path)


def test_invalid_toml_and_unknown_roles_are_refused(tmp_path):
    (tmp_path / "study.toml").write_text("data = 'x.csv'\n[roles\n")
    with pytest.raises(StudyDataError, match="invalid TOML"):
        sitefx.load(tmp_path)
    (tmp_path / "study.toml").write_text("data = 'x.csv'\n[roles]\nschool = 'a'\n")
    with pytest.raises(StudyDataError, match="unknown role"):
        sitefx.load(tmp_path)


@pytest.mark.parametrize("name", ["data.pkl", "data.pickle", "data.rds"])
def test_pickle_and_r_files_are_not_read(tmp_path, name):
    (tmp_path / name).write_bytes(b"\x80\x04N.")
    with pytest.raises(StudyDataError, match="not read"):
        sitefx.load(tmp_path / name, **ROLES)


def test_unsupported_missing_empty_and_header_only_files_are_refused(tmp_path):
    with pytest.raises(StudyDataError, match=r"unsupported file type '\.xlsx'"):
        sitefx.load(tmp_path / "data.xlsx", **ROLES)
    with pytest.raises(StudyDataError, match="no such file"):
        sitefx.load(tmp_path / "absent.csv", **ROLES)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(StudyDataError, match="empty"):
        sitefx.load(tmp_path / "empty.csv", **ROLES)
    (tmp_path / "header.csv").write_text("school,effect,se\n")
    with pytest.raises(StudyDataError, match="no data rows"):
        sitefx.load(tmp_path / "header.csv", **ROLES)


def test_truncated_parquet_is_a_clear_error(tmp_path):
    write_frame(FRAME, tmp_path / "whole.parquet")
    content = (tmp_path / "whole.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(content[: len(content) // 2])
    with pytest.raises(StudyDataError, match="could not read as parquet"):
        sitefx.load(tmp_path / "cut.parquet", **ROLES)


def test_summary_and_record_roles_together_are_refused():
    with pytest.raises(StudyDataError, match="not a mix"):
        sitefx.load(
            FRAME, site="school", estimate="effect", se="se", outcome="score", treatment="n"
        )
    with pytest.raises(StudyDataError, match="no column roles"):
        sitefx.load(FRAME, site="school")
    with pytest.raises(StudyDataError, match="site summaries also need: se"):
        sitefx.load(FRAME, site="school", estimate="effect")


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ({"covariates": "age"}, "give site-level columns as moderators"),
        ({"cluster": "room"}, "'cluster' does not apply to site summaries"),
        ({"treatment_levels": {"a": 1, "b": 0}}, "'treatment_levels' does not apply"),
    ],
)
def test_roles_the_data_kind_does_not_use_are_refused(roles, message):
    with pytest.raises(StudyDataError, match=message):
        sitefx.load(FRAME, **ROLES, **roles)


def test_the_sample_size_may_also_be_a_moderator():
    """Small-study effects: n weights the person-weighted average and moderates the effects."""
    data = sitefx.load(FRAME, **ROLES, moderators="n").data
    np.testing.assert_array_equal(data.n, data.moderators[:, 0])
