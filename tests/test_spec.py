"""A fit's specification: checked once, stored with the fit, enough to refit it."""

import numpy as np
import pandas as pd
import pytest

import sitefx
from sitefx.cli import main
from sitefx.spec import ModelSpec
from tests.builders import STUDIES


def test_a_saved_fit_refits_from_its_stored_spec(tmp_path):
    out = tmp_path / "fit"
    flags = ["--prior-tau", "half-cauchy(5)", "--seed", "3", "--threshold", "2"]
    assert main(["fit", str(STUDIES / "eight_schools"), "--out", str(out), "--quiet", *flags]) == 0
    spec = ModelSpec.from_tree(sitefx.read_fit(out))
    assert (spec.priors, spec.seed, spec.threshold) == ({"tau": "half-cauchy(5)"}, 3, 2.0)
    assert spec.roles.site == "school"
    refit = sitefx.SiteEffects.from_spec(spec).fit(sitefx.load(STUDIES / "eight_schools"))
    saved = pd.read_csv(out / "summary.csv")
    np.testing.assert_allclose(refit.summary()["mean"], saved["mean"], rtol=1e-12)


def test_specs_round_trip_through_json_with_the_roles_of_each_study():
    for name in ("eight_schools", "school_calendar", "tutoring_growth", "reading_pass"):
        roles = sitefx.load(STUDIES / name).roles
        spec = ModelSpec(roles=roles, site_dist="student-t", site_df=5.0, draws=200)
        assert ModelSpec.from_json(spec.to_json()) == spec


def test_changed_settings_are_checked_again():
    model = sitefx.SiteEffects(priors={"tau": sitefx.Prior("half-normal", (2.0,))})
    assert model.with_settings(seed=9).spec.priors == {"tau": "half-normal(2)"}
    with pytest.raises(sitefx.SitefxInputError, match="chains"):
        model.with_settings(chains=0)


def test_a_fit_without_a_spec_is_refused_by_name(eight_schools):
    tree = sitefx.SiteEffects().fit(eight_schools).posterior_
    del tree.attrs["model_spec"]
    with pytest.raises(sitefx.SitefxInputError, match="holds no model spec"):
        ModelSpec.from_tree(tree)
