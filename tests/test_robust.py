"""Student-t site effects: the normal limit, robustness to an outlying site, and options."""

import numpy as np
import pytest

import sitefx
from sitefx.testing import simulate_site_summaries
from tests.builders import assert_draw_means_match_exact, assert_same_posterior


def test_a_million_degrees_of_freedom_give_the_exact_normal_posterior(
    eight_schools, eight_schools_exact
):
    t = sitefx.SiteEffects(site_dist="student-t", site_df=1e6, draws=2500, seed=3).fit(
        eight_schools
    )
    posterior = t.posterior_["posterior"]
    assert "nu" not in posterior and "prior_nu" not in t.posterior_.attrs
    assert_draw_means_match_exact(
        posterior, eight_schools_exact.exact_, ["mu", "tau", "theta"], z=4
    )


# A gross outlier makes nu small and the (nu, tau) geometry hard: tau mixes slowly (bulk ESS
# ~300 of 8,000 draws here), so the sampler's ESS warning is expected; the assertions below
# hold with wide margins.
@pytest.mark.filterwarnings("ignore::sitefx.SamplingWarning")
def test_outlying_site_pulls_less_on_the_average():
    data, truth = simulate_site_summaries(25, mu=0.2, tau=0.05, se_range=(0.03, 0.06), seed=9)
    estimate = data.estimate.copy()
    estimate[0] = 1.5  # one site far away from the others
    data = type(data)(site=data.site, estimate=estimate, se=data.se, accounting=data.accounting)
    normal = sitefx.SiteEffects(method="exact").fit(data).summary().set_index("parameter")
    robust = sitefx.SiteEffects(site_dist="student-t", draws=2000, target_accept=0.99, seed=1).fit(
        data
    )
    table = robust.summary().set_index("parameter")
    assert abs(table.at["mu", "mean"] - truth["mu"]) < abs(normal.at["mu", "mean"] - truth["mu"])
    assert table.at["tau", "q50"] < normal.at["tau", "q50"]
    assert table.at["nu", "q50"] < 10  # the data ask for heavy tails
    assert not any("divergent" in problem for problem in robust.warnings_)


def test_impossible_student_t_options_are_refused(eight_schools):
    with pytest.raises(sitefx.SitefxInputError, match="site_dist must be one of"):
        sitefx.SiteEffects(site_dist="cauchy").fit(eight_schools)
    with pytest.raises(sitefx.SitefxInputError, match="needs site_dist 'student-t'"):
        sitefx.SiteEffects(site_df=4).fit(eight_schools)
    with pytest.raises(sitefx.SitefxInputError, match="Student-t site effects"):
        sitefx.SiteEffects(site_dist="student-t", method="exact").fit(eight_schools)
    counts = sitefx.data.ArmSummaries(
        site=("a", "b"),
        events_treated=np.array([3, 4]),
        n_treated=np.array([10, 10]),
        events_control=np.array([2, 5]),
        n_control=np.array([10, 10]),
        accounting=sitefx.data.DataAccounting(rows_read=2),
    )
    with pytest.raises(sitefx.SitefxInputError, match="give binary outcomes as records"):
        sitefx.SiteEffects(site_dist="student-t").fit(counts)


# Individual records: Student-t site effects as a scale mixture, collapsed.


def outlying_records(seed=4):
    """Records from 24 sites, and the same with site 1's effect raised by 2 (about 20 tau)."""
    import dataclasses

    from sitefx.testing import simulate_records

    clean, _ = simulate_records(24, 2400, n_covariates=1, seed=seed, tau=0.1)
    outcome = clean.outcome + 2.0 * (clean.site_index == 0) * clean.treatment
    return dataclasses.replace(clean, outcome=outcome), clean


@pytest.mark.slow  # a long statistical check; run with -m slow
def test_records_student_t_collapsed_and_per_record_agree():
    """With fixed df the collapsed likelihood (given each site's mixture weight) and the
    per-record model sample the same posterior."""
    data, _ = outlying_records()
    options = {"site_dist": "student-t", "site_df": 4.0, "draws": 2000, "target_accept": 0.99}
    collapsed = sitefx.SiteEffects(seed=1, **options).fit(data)
    per_record = sitefx.SiteEffects(seed=2, collapse=False, **options).fit(data)
    assert_same_posterior(
        collapsed, per_record, ["mu", "tau", "alpha_mean", "sigma", "theta", "alpha"]
    )


@pytest.mark.slow  # a long statistical check; run with -m slow
def test_records_student_t_resists_an_outlying_site():
    """The robust average stays near the average the sites have without the outlier."""
    data, clean = outlying_records()
    mu = {
        name: sitefx.SiteEffects(seed=1, target_accept=0.99, **options)
        .fit(records)
        .summary()
        .set_index("parameter")
        .at["mu", "mean"]
        for name, records, options in [
            ("clean", clean, {}),
            ("normal", data, {}),
            ("robust", data, {"site_dist": "student-t", "site_df": 4.0}),
        ]
    }
    assert abs(mu["robust"] - mu["clean"]) < 0.5 * abs(mu["normal"] - mu["clean"])
