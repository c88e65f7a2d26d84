"""Model functions: shapes under the prior, optional pieces."""

import numpy as np
import pandas as pd
import pytest

import sitefx


def small_records(with_covariate):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "school": np.repeat(["a", "b", "c", "d", "e"], 12),
            "t": np.tile(np.repeat([0, 1], 6), 5),
            "x": rng.normal(size=60),
        }
    )
    frame["y"] = 1.0 + 0.5 * frame["t"] + 0.3 * frame["x"] + rng.normal(size=60)
    roles = {"outcome": "y", "treatment": "t", "site": "school"}
    return sitefx.load(frame, **roles, covariates=["x"] if with_covariate else None)


@pytest.mark.filterwarnings("ignore::sitefx.SamplingWarning")  # short chains, shapes only
@pytest.mark.parametrize("with_covariate", [False, True])
def test_records_model_has_beta_and_its_prior_only_with_covariates(with_covariate):
    study = small_records(with_covariate)
    fit = sitefx.SiteEffects(chains=2, draws=500, warmup=500, seed=0).fit(study)
    posterior = fit.posterior_["posterior"]
    assert ("beta" in posterior) == with_covariate
    assert ("prior_beta" in fit.posterior_.attrs) == with_covariate
    assert posterior["theta"].sizes["site"] == 5


def test_a_beta_prior_without_covariates_is_refused():
    with pytest.raises(sitefx.PriorSpecError, match="no parameter 'beta'"):
        sitefx.SiteEffects(priors={"beta": "normal(0, 1)"}).fit(small_records(False))
