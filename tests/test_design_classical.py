"""Classical MDES and power (sitefx.design.classical) against PowerUpR 1.1.0, the R port of
Dong & Maynard's (2013) PowerUp!: its help pages' examples and one case per design that sets every
option (tests/reference/design_powerupr.json, made by tests/reference/make_references.R design).
"""

import math

import pytest

from sitefx.design.classical import mdes, power, standard_error
from sitefx.errors import SitefxInputError
from tests.builders import reference

CASES = reference("design_powerupr")
DESIGNS = {"bira2": "multisite", "cra2": "cluster"}


def sitefx_trial(case: dict) -> tuple[str, dict, dict]:
    """The sitefx design, trial and test options of a PowerUpR case, mapped argument by argument.

    PowerUpR's ``n`` is the students per site (block or cluster): sitefx's ``per_arm`` is per arm
    in a multisite trial (``n / 2``) and per site in a cluster trial; ``rho2 * omega2 = tau^2``.
    """
    args = case["args"]
    design = DESIGNS[case["design"]]
    trial = {
        "sites": args["J"],
        "per_arm": args["n"] / 2 if design == "multisite" else args["n"],
        "icc": args["rho2"],
        "tau": math.sqrt(args["rho2"] * args.get("omega2", 0)),
        "r2": args.get("r21", 0),
        "r2_site": args.get("r22", 0),
        "r2_tau": args.get("r2t2", 0),
        "p_treated": args.get("p", 0.5),
        "site_covariates": args.get("g2", 0),
    }
    test = {"alpha": args.get("alpha", 0.05), "two_sided": args.get("two.tailed", True)}
    return design, trial, test


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_powerupr(name):
    case = CASES[name]
    design, trial, test = sitefx_trial(case)
    se, df = standard_error(design, **trial)
    assert df == case["df"]
    assert se == pytest.approx(case["se"], rel=1e-6)
    assert mdes(design, power=case["target_power"], **test, **trial) == pytest.approx(
        case["mdes"], rel=1e-6
    )
    assert power(design, case["es"], **test, **trial) == pytest.approx(case["power"], rel=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_mdes_has_the_power_asked(name):
    # The MDES's multiplier t(1 - alpha/2) + t(power) is PowerUp!'s approximation of the
    # noncentral t that power() computes exactly: within a percentage point here (df >= 18).
    design, trial, test = sitefx_trial(CASES[name])
    target = CASES[name]["target_power"]
    detectable = mdes(design, power=target, **test, **trial)
    assert power(design, detectable, **test, **trial) == pytest.approx(target, abs=0.01)


@pytest.mark.parametrize(
    "name", [name for name, case in CASES.items() if "documented" in case["provenance"]]
)
def test_mdes_rounds_to_the_documented_value(name):
    case = CASES[name]
    design, trial, test = sitefx_trial(case)
    assert round(mdes(design, **test, **trial), 3) == case["provenance"]["documented"]["mdes"]


def test_cluster_tau_adds_to_the_treated_sites_variance():
    # With tau, the treated sites' means vary by icc + tau^2 and the control sites' by icc.
    trial = {"sites": 30, "per_arm": 20, "icc": 0.2, "tau": 0.3, "p_treated": 0.4}
    se, _ = standard_error("cluster", **trial)
    treated, control = 0.4 * 30, 0.6 * 30
    within = 0.8 / 20
    expected = (0.2 + 0.09 + within) / treated + (0.2 + within) / control
    assert se**2 == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"p_treated": 1.0}, "p_treated"),
        ({"site_covariates": -1}, "site_covariates"),
        ({"site_covariates": 18}, r"sites \(--sites\) must be a whole number >= 21"),
        ({"r2_tau": 1.0}, "r2_tau"),
        ({"per_arm": 0.5}, "per_arm"),
    ],
)
def test_bad_trial_is_named(bad, message):
    trial = {"sites": 20, "per_arm": 10, "icc": 0.2} | bad
    with pytest.raises(SitefxInputError, match=message):
        standard_error("cluster", **trial)
