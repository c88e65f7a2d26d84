"""The model-family registry: every kind of data has one family, and a new family is one
module's worth of code, registered without editing sitefx."""

import dataclasses

import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import sitefx
from sitefx.data.schema import DataAccounting
from sitefx.families import REGISTRY, Model, family_of, register
from sitefx.models.priors import Prior, Priors
from sitefx.testing import simulate_records


def test_each_kind_of_data_has_its_family(eight_schools):
    records, _ = simulate_records(4, 80, seed=1)
    binary = dataclasses.replace(records, outcome=(records.outcome > 0).astype(float))
    binary = dataclasses.replace(binary, family="binomial")
    assert family_of(eight_schools.data).name == "summaries"
    assert family_of(records).name == "gaussian records"
    assert family_of(binary).name == "binary records"
    assert family_of(binary.arm_counts()).name == "arms"


def test_data_no_family_fits_is_refused_by_name():
    with pytest.raises(sitefx.SitefxInputError, match="got dict"):
        sitefx.SiteEffects().fit({"estimate": [1.0]})


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClassMeans:
    """A toy kind of data: each site's mean gain with its SD and class size."""

    site: tuple[str, ...]
    gain: np.ndarray
    sd: np.ndarray
    n: np.ndarray
    accounting: DataAccounting
    units: str = "points"
    kind: str = "class means"

    @property
    def n_sites(self) -> int:
        return len(self.site)


def class_means_model(gain, se, *, priors):
    mu = numpyro.sample("mu", priors.mu.distribution())
    tau = numpyro.sample("tau", priors.tau.distribution())
    with numpyro.plate("site", se.shape[0]):
        z = numpyro.sample("z", dist.Normal(0.0, 1.0))
        theta = numpyro.deterministic("theta", mu + tau * z)
        numpyro.sample("gain", dist.Normal(theta, se), obs=gain)


class ClassMeansFamily:
    """A toy family, written as a new family's module would be."""

    name = "class means"
    description = "class means"
    data_kind = "class means"
    shrinkable = None
    compares_site_distributions = False

    def matches(self, data):
        return isinstance(data, ClassMeans)

    def check(self, data, *, robust, horseshoe):
        if robust or horseshoe:
            raise sitefx.SitefxInputError("class means take normal site effects only")

    def data_scale(self, data):
        return float(np.std(data.gain, ddof=1))

    def default_priors(self, data, *, robust):
        return Priors(mu=Prior("normal", (0.0, 10.0)), tau=Prior("half-normal", (5.0,)))

    def shrinkage(self, data):
        return None

    def exact_obstacle(self, data, priors, *, robust):
        return self.description

    def model(self, data, priors, *, collapse, site_df):
        se = data.sd / np.sqrt(data.n)
        return Model(class_means_model, {"gain": data.gain, "se": se, "priors": priors}, "toy")

    def data_groups(self, data):
        se = data.sd / np.sqrt(data.n)
        constant = {"se": se, "n": data.n, "raw_estimate": data.gain, "raw_se": se}
        return {"estimate": data.gain}, constant, {}

    def simulation_obstacle(self, data, *, robust):
        return self.description

    def simulate(self, data, priors, draw, rng, *, site_df, robust):
        raise NotImplementedError

    def per_site_obstacle(self, tree, data):
        return self.description

    def site_log_likelihood(self, tree, data):
        raise NotImplementedError


@pytest.fixture
def toy_family():
    family = register(ClassMeansFamily())
    yield family
    del REGISTRY[family.name]


def test_a_new_family_fits_once_registered(toy_family):
    data = ClassMeans(
        site=("a", "b", "c", "d"),
        gain=np.array([4.0, 6.0, 2.0, 9.0]),
        sd=np.array([10.0, 12.0, 9.0, 11.0]),
        n=np.array([25, 30, 20, 28]),
        accounting=DataAccounting(rows_read=4),
    )
    fit = sitefx.SiteEffects(chains=2, draws=1000, seed=2).fit(data)
    summary = fit.summary().set_index("parameter")
    assert fit.posterior_.attrs["sampler"].count('"model": "toy"') == 1
    assert list(fit.posterior_["posterior"]["site"].values) == ["a", "b", "c", "d"]
    assert 0 < summary.loc["mu", "mean"] < 10
    with pytest.raises(sitefx.SitefxInputError, match="normal site effects only"):
        sitefx.SiteEffects(site_dist="student-t").fit(data)
