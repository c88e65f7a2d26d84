"""Classical MDES and power (sitefx.design.classical) against PowerUpR 1.1.0, the R port of
Dong & Maynard's (2013) PowerUp!: its documented examples of two- and three-level multisite and
cluster-randomized trials, and cases that set every option (tests/reference/design_powerupr.json,
made by `Rscript tests/reference/make_references.R design`).
"""

import math

import pytest

from sitefx.design.classical import mdes, power, standard_error
from sitefx.errors import SitefxInputError
from tests.builders import reference

CASES = reference("design_powerupr")
SITEFX_DESIGN = {"bira2": "multisite", "cra2": "cluster", "bira3": "multisite3", "cra3": "cluster3"}


def sitefx_trial(case: dict) -> tuple[str, dict, dict]:
    """The sitefx design, trial and test options of a PowerUpR case, mapped argument by argument.

    PowerUpR's ``n`` is the students per block or cluster at level 1's parent: sitefx's
    ``per_arm`` is per arm in a site of a multisite trial (``n / 2``), and per site in a cluster
    trial (``n``, or ``n * J`` for the ``J`` classrooms of a site in cra3); ``rho * omega`` is the
    variance of the effects (``tau^2``) at its level. PowerUpR's ``J`` and ``K`` count units per
    parent, sitefx's ``sites`` counts them all.
    """
    args = case["args"]
    get = args.get
    common = {"p_treated": get("p", 0.5), "r2": get("r21", 0)}
    test = {"alpha": get("alpha", 0.05), "two_sided": get("two.tailed", True)}
    match case["design"]:
        case "bira2":
            trial = {
                "sites": args["J"],
                "per_arm": args["n"] / 2,
                "icc": args["rho2"],
                "tau": math.sqrt(args["rho2"] * args["omega2"]),
                "r2_tau": get("r2t2", 0),
                "site_covariates": get("g2", 0),
            }
        case "cra2":
            trial = {
                "sites": args["J"],
                "per_arm": args["n"],
                "icc": args["rho2"],
                "r2_site": get("r22", 0),
                "site_covariates": get("g2", 0),
            }
        case "bira3":
            trial = {
                "sites": args["J"] * args["K"],
                "districts": args["K"],
                "per_arm": args["n"] / 2,
                "icc": args["rho2"],
                "icc_district": args["rho3"],
                "tau": math.sqrt(args["rho2"] * args["omega2"]),
                "tau_district": math.sqrt(args["rho3"] * args["omega3"]),
                "r2_tau": get("r2t2", 0),
                "r2_tau_district": get("r2t3", 0),
                "district_covariates": get("g3", 0),
            }
        case "cra3":
            trial = {
                "sites": args["K"],
                "classrooms": args["J"],
                "per_arm": args["n"] * args["J"],
                "icc": args["rho3"],
                "icc_classroom": args["rho2"],
                "r2_site": get("r23", 0),
                "r2_classroom": get("r22", 0),
                "site_covariates": get("g3", 0),
            }
    return SITEFX_DESIGN[case["design"]], trial | common, test


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
    ("design", "bad", "message"),
    [
        ("cluster", {"p_treated": 1.0}, "p_treated"),
        ("cluster", {"site_covariates": -1}, "site_covariates"),
        ("cluster", {"site_covariates": 18}, r"sites \(--sites\) must be a whole number >= 21"),
        ("cluster", {"r2_tau": 1.0}, "r2_tau"),
        ("cluster", {"per_arm": 0.5}, "per_arm"),
        ("cluster", {"districts": 5}, "districts is for the multisite3 design only"),
        ("multisite", {"classrooms": 2}, "classrooms is for the cluster3 design only"),
        ("multisite3", {}, "districts must be a whole number >= 2"),
        ("multisite3", {"districts": 30}, r"sites \(--sites\) must be .* \(one per district\)"),
        ("multisite3", {"districts": 4, "site_covariates": 1}, "district_covariates, not site"),
        ("multisite3", {"districts": 4, "icc_district": 0.8}, "add up to less than 1"),
        ("cluster3", {"classrooms": 20}, r"per_arm \(--per-arm\) must be a number >= 20"),
    ],
)
def test_bad_trial_is_named(design, bad, message):
    trial = {"sites": 20, "per_arm": 10, "icc": 0.2} | bad
    with pytest.raises(SitefxInputError, match=message):
        standard_error(design, **trial)


def test_two_level_designs_are_three_level_ones_without_the_extra_level():
    trial = {"sites": 24, "per_arm": 12, "icc": 0.15, "tau": 0.2, "p_treated": 0.4, "r2": 0.3}
    assert standard_error("multisite3", districts=24, **trial) == pytest.approx(
        standard_error("multisite", **trial)
    )
    assert standard_error("cluster3", classrooms=3, **trial) == pytest.approx(
        standard_error("cluster", **trial)
    )
