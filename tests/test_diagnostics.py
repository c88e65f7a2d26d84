"""The diagnostics gate: each failed sampler diagnostic gives its own plain warning."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sitefx.infer.diagnostics import check_diagnostics

CHAINS, DRAWS = 4, 500


def _tree(mu: np.ndarray, **stats: np.ndarray) -> xr.DataTree:
    rng = np.random.default_rng(1)
    sample_stats = {
        "diverging": np.zeros((CHAINS, DRAWS), bool),
        "n_steps": np.full((CHAINS, DRAWS), 15),
        "energy": rng.normal(size=(CHAINS, DRAWS)),  # independent draws: E-BFMI near 2
    } | stats
    dims = ("chain", "draw")
    tree = xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset({"mu": (dims, mu)}),
            "sample_stats": xr.Dataset({k: (dims, v) for k, v in sample_stats.items()}),
        }
    )
    tree.attrs["sampler"] = '{"method": "nuts", "max_tree_depth": 10}'
    return tree


def _check(tree: xr.DataTree, r_hat: float = 1.0, ess: float = 2000.0) -> list[str]:
    table = pd.DataFrame({"parameter": ["mu"], "r_hat": [r_hat], "ess_bulk": ess, "ess_tail": ess})
    return check_diagnostics(tree, table)


def _good_draws() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(CHAINS, DRAWS))


def test_a_healthy_fit_passes():
    assert _check(_tree(_good_draws())) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"diverging": np.eye(CHAINS, DRAWS, dtype=bool)}, "4 divergent transitions"),
        ({"n_steps": np.full((CHAINS, DRAWS), 1023)}, "2000 transitions stopped at the maximum"),
        ({"n_steps": np.full((CHAINS, DRAWS), 4095)}, "2000 transitions stopped at the maximum"),
        (
            {"energy": np.random.default_rng(2).normal(size=(CHAINS, DRAWS)).cumsum(axis=1)},
            "E-BFMI",
        ),
    ],
)
def test_sampler_statistics_are_checked(changes, message):
    (problem,) = _check(_tree(_good_draws(), **changes))
    assert problem.startswith(message)


def test_r_hat_and_ess_are_checked():
    problems = _check(_tree(_good_draws()), r_hat=1.05, ess=150)
    assert problems == [
        "R-hat of mu is 1.050 (> 1.01): chains disagree",
        "effective sample size of mu is 150 (< 400): draw more",
    ]


def test_the_tree_depth_check_follows_the_fit_setting():
    tree = _tree(_good_draws(), n_steps=np.full((CHAINS, DRAWS), 1023))
    tree.attrs["sampler"] = '{"method": "nuts", "max_tree_depth": 12}'
    assert _check(tree) == []
