"""Each validation rule: a clear error naming the column and rows/sites, or a reported drop."""

import numpy as np
import pandas as pd
import pytest

from sitefx import DataDropWarning, StudyDataError
from sitefx.data import individual_records, site_summaries


def summaries(**changes):
    frame = pd.DataFrame(
        {"school": ["A", "B", "C"], "effect": [1.0, 2.0, 3.0], "se": [0.5, 0.6, 0.7]},
        index=[1, 2, 3],
    )
    for column, values in changes.items():
        frame[column] = values
    return frame


def records(n_sites=3, per_arm=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = n_sites * 2 * per_arm
    frame = pd.DataFrame(
        {
            "score": rng.normal(size=rows),
            "small": np.tile(np.repeat([0, 1], per_arm), n_sites),
            "school": np.repeat([f"s{j}" for j in range(n_sites)], 2 * per_arm),
            "female": rng.integers(0, 2, rows),
        }
    )
    frame.index = pd.RangeIndex(1, rows + 1)
    return frame


def test_valid_summaries_are_read_with_every_row_used():
    data = site_summaries(summaries(), site="school", estimate="effect", se="se")
    assert data.site == ("A", "B", "C")
    np.testing.assert_array_equal(data.se, [0.5, 0.6, 0.7])
    assert data.accounting.rows_used == 3


def test_a_missing_column_is_named_with_its_role():
    with pytest.raises(StudyDataError, match=r"missing column\(s\) 'stderr'.*'se'"):
        site_summaries(summaries(), site="school", estimate="effect", se="stderr")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_estimates_name_the_column_and_row(bad):
    with pytest.raises(
        StudyDataError, match=r"column 'effect' has 1 missing or non-finite.*rows 2"
    ):
        site_summaries(summaries(effect=[1.0, bad, 3.0]), site="school", estimate="effect", se="se")


@pytest.mark.parametrize("se", [0.0, -1.0])
def test_nonpositive_ses_name_the_sites(se):
    with pytest.raises(StudyDataError, match=r"'se' must be > 0.*sites C"):
        site_summaries(summaries(se=[0.5, 0.6, se]), site="school", estimate="effect", se="se")


def test_duplicate_sites_are_listed():
    with pytest.raises(StudyDataError, match=r"repeated: A"):
        site_summaries(summaries(school=["A", "B", "A"]), site="school", estimate="effect", se="se")


def test_non_numeric_values_are_shown_with_their_rows():
    with pytest.raises(StudyDataError, match=r"'effect' must be numeric.*'1,5'.*rows 2"):
        site_summaries(
            summaries(effect=["1", "1,5", "3"]), site="school", estimate="effect", se="se"
        )


def test_fewer_than_two_sites_are_refused():
    frame = summaries().iloc[:1]
    with pytest.raises(StudyDataError, match="at least 2 sites"):
        site_summaries(frame, site="school", estimate="effect", se="se")


def test_drop_missing_warns_and_records_the_dropped_rows():
    frame = summaries(effect=[1.0, np.nan, 3.0])
    frame.loc[4] = ["D", 4.0, 0.5]
    with pytest.warns(DataDropWarning, match="rows 2"):
        data = site_summaries(frame, site="school", estimate="effect", se="se", drop_missing=True)
    assert data.site == ("A", "C", "D")
    accounting = data.accounting.to_dict()
    assert accounting["rows_read"] == 4 and accounting["rows_used"] == 3
    assert accounting["drops"] == [
        {"reason": "missing or non-finite value in 'effect'", "rows": ["2"], "sites": []}
    ]


def test_numeric_site_ids_read_as_written():
    frame = summaries(school=[28.0, 5.0, np.nan])
    with pytest.raises(StudyDataError, match=r"'school'.*rows 3"):
        site_summaries(frame, site="school", estimate="effect", se="se")
    data = site_summaries(frame.iloc[:2], site="school", estimate="effect", se="se")
    assert data.site == ("28", "5")


def test_valid_records_give_raw_site_effects_as_arm_mean_differences():
    data = individual_records(
        records(), outcome="score", treatment="small", site="school", covariates=["female"]
    )
    assert data.n_sites == 3 and data.n_records == 18
    assert data.covariates.shape == (18, 1) and data.treatment.dtype == np.int8
    raw = data.raw_site_effects()
    frame = records()
    first = frame[frame.school == "s0"]
    expected = first[first.small == 1].score.mean() - first[first.small == 0].score.mean()
    assert raw.estimate[0] == pytest.approx(expected)


@pytest.mark.parametrize("values", [[0, 1, 2], ["yes", "no", "maybe"], [1, 2, 1]])
def test_a_non_binary_treatment_lists_its_values(values):
    frame = records()
    frame["small"] = np.resize(values, len(frame))
    with pytest.raises(StudyDataError, match=r"'small' must be a binary treatment.*found values"):
        individual_records(frame, outcome="score", treatment="small", site="school")


def test_text_treatment_levels_are_mapped_and_unknown_levels_named():
    frame = records()
    frame["small"] = np.where(frame["small"] == 1, "small", "regular")
    data = individual_records(
        frame,
        outcome="score",
        treatment="small",
        site="school",
        treatment_levels={"small": 1, "regular": 0},
    )
    np.testing.assert_array_equal(data.treatment, records()["small"].to_numpy())
    frame.loc[2, "small"] = "aide"
    with pytest.raises(StudyDataError, match=r"not in treatment_levels.*'aide'.*rows 2"):
        individual_records(
            frame,
            outcome="score",
            treatment="small",
            site="school",
            treatment_levels={"small": 1, "regular": 0},
        )


def test_numeric_codes_mapped_from_text_levels():
    frame = records()
    frame["small"] = frame["small"] + 1  # coded 1/2
    data = individual_records(
        frame, outcome="score", treatment="small", site="school", treatment_levels={"2": 1, "1": 0}
    )
    np.testing.assert_array_equal(data.treatment, records()["small"].to_numpy())


def test_a_boolean_treatment_is_accepted():
    frame = records()
    frame["small"] = frame["small"].astype(bool)
    data = individual_records(frame, outcome="score", treatment="small", site="school")
    assert set(data.treatment) == {0, 1}


def test_single_arm_site_refused_then_dropped_with_report():
    frame = records(n_sites=4)
    frame.loc[frame.school == "s2", "small"] = 1
    with pytest.raises(StudyDataError, match=r"s2 \(0 control, 6 treated\)"):
        individual_records(frame, outcome="score", treatment="small", site="school")
    with pytest.warns(DataDropWarning, match="s2"):
        data = individual_records(
            frame, outcome="score", treatment="small", site="school", drop_incomplete_sites=True
        )
    assert data.site == ("s0", "s1", "s3")
    (drop,) = data.accounting.drops
    assert drop.sites == ("s2",) and len(drop.rows) == 6
    assert data.accounting.rows_used == 18


def test_one_record_in_an_arm_is_too_few():
    frame = records(per_arm=2)
    frame = frame.drop(index=1)
    with pytest.raises(StudyDataError, match=r"s0 \(1 control, 2 treated\)"):
        individual_records(frame, outcome="score", treatment="small", site="school")


def test_missing_outcome_rows_named_and_droppable():
    frame = records()
    frame.loc[[3, 7], "score"] = np.nan
    with pytest.raises(StudyDataError, match=r"'score' has 2 missing.*rows 3, 7"):
        individual_records(frame, outcome="score", treatment="small", site="school")
    with pytest.warns(DataDropWarning):
        data = individual_records(
            frame, outcome="score", treatment="small", site="school", drop_missing=True
        )
    assert data.n_records == 16 and data.accounting.rows_dropped == 2


def test_rows_counted_once_when_several_columns_missing():
    frame = records()
    frame.loc[3, ["score", "female"]] = np.nan
    with pytest.warns(DataDropWarning):
        data = individual_records(
            frame,
            outcome="score",
            treatment="small",
            site="school",
            covariates=["female"],
            drop_missing=True,
        )
    assert data.accounting.rows_dropped == 1 and data.n_records == 17


def test_summary_moderators_must_be_complete_and_are_kept_in_order():
    frame = summaries(weeks=[0, 2, np.nan])
    with pytest.raises(StudyDataError, match=r"'weeks' has 1 missing.*rows 3"):
        site_summaries(frame, site="school", estimate="effect", se="se", moderators=["weeks"])
    frame.loc[3, "weeks"] = 5
    data = site_summaries(frame, site="school", estimate="effect", se="se", moderators=["weeks"])
    assert data.moderator_names == ("weeks",)
    np.testing.assert_array_equal(data.moderators[:, 0], [0, 2, 5])


def test_covariates_are_not_moderators():
    import sitefx

    with pytest.raises(StudyDataError, match="give site-level columns as moderators"):
        sitefx.load(
            summaries(weeks=[0, 2, 5]),
            site="school",
            estimate="effect",
            se="se",
            covariates="weeks",
        )


def test_moderators_in_records_are_one_value_per_site():
    frame = records(n_sites=3)
    frame["urban"] = np.repeat([1.0, 0.0, 1.0], 6)
    data = individual_records(
        frame, outcome="score", treatment="small", site="school", moderators=["urban"]
    )
    assert data.moderator_names == ("urban",) and data.moderators.shape == (3, 1)
    np.testing.assert_array_equal(data.moderators[:, 0], [1, 0, 1])
    frame.loc[[8, 9], "urban"] = 1.0  # school s1 now has two values
    with pytest.raises(
        StudyDataError, match=r"column 'urban' must be a site-level.*within sites s1$"
    ):
        individual_records(
            frame, outcome="score", treatment="small", site="school", moderators=["urban"]
        )


def test_levels_must_be_nested_and_present():
    frame = summaries(district=["d1", "d1", "d2"], state=["s1", "s2", "s2"])
    data = site_summaries(frame, site="school", estimate="effect", se="se", levels=["district"])
    (level,) = data.levels
    assert level.groups == ("d1", "d2") and level.index.tolist() == [0, 0, 1]
    with pytest.raises(StudyDataError, match=r"groups d1 of 'district' lie in more than one"):
        site_summaries(
            frame, site="school", estimate="effect", se="se", levels=["state", "district"]
        )
    with pytest.raises(StudyDataError, match=r"'state' needs at least 2 groups"):
        site_summaries(
            frame.assign(state="s1"), site="school", estimate="effect", se="se", levels=["state"]
        )
    frame.loc[2, "district"] = None
    with pytest.raises(StudyDataError, match=r"'district' has 1 missing.*rows 2"):
        site_summaries(frame, site="school", estimate="effect", se="se", levels=["district"])


def test_levels_in_records_are_one_group_per_site():
    frame = records(n_sites=4)
    frame["district"] = np.repeat(["d1", "d1", "d2", "d2"], 6)
    data = individual_records(
        frame, outcome="score", treatment="small", site="school", levels=["district"]
    )
    assert data.levels[0].groups == ("d1", "d2") and data.levels[0].index.tolist() == [0, 0, 1, 1]
    frame.loc[7, "district"] = "d2"  # school s1 now spans two districts
    with pytest.raises(StudyDataError, match=r"column 'district' must be a site-level.*s1$"):
        individual_records(
            frame, outcome="score", treatment="small", site="school", levels=["district"]
        )


def test_a_frame_with_two_columns_of_one_name_is_refused():
    frame = summaries().rename(columns={"se": "effect"})
    with pytest.raises(StudyDataError, match="the data has two columns named 'effect'"):
        site_summaries(frame, site="school", estimate="effect", se="se")
