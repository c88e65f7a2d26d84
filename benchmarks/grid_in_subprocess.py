"""One NUTS fit of the eight schools, then a 9-point NUTS prior grid, in this (fresh) process.

Run by the targets benchmark (T4) as ``sitefx sensitivity`` would do it: the fit first, then
the grid of 3 mu priors x 3 tau priors (the fit's own priors and two alternatives of each,
from ``default_alternatives``), every pair a NUTS fit with the same settings::

    .venv/bin/python benchmarks/grid_in_subprocess.py --study studies/eight_schools

Prints one line ``RESULT {json}`` with the fit's and the grid's wall times (imports and
loading excluded), the number of grid points and the pairs of priors.
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import sitefx
from sitefx.sensitivity import default_alternatives, prior_grid

ALTERNATIVES = 2  # of each prior: with the fit's own, 3 x 3 = 9 points


def main() -> None:
    """Parse the arguments, time the fit and the grid, print the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.simplefilter("ignore", sitefx.SamplingWarning)
    study = sitefx.load(args.study)
    taus, mus = default_alternatives(study.data)

    start = time.perf_counter()
    model = sitefx.SiteEffects(method="nuts", seed=args.seed).fit(study)
    fit_s = time.perf_counter() - start

    start = time.perf_counter()
    grid = prior_grid(model, study, alt_tau=taus[:ALTERNATIVES], alt_mu=mus[:ALTERNATIVES])
    grid_s = time.perf_counter() - start

    pairs = grid.table[["prior_mu", "prior_tau"]].values.tolist()
    print(
        "RESULT",
        json.dumps({"fit_s": fit_s, "grid_s": grid_s, "points": len(pairs), "pairs": pairs}),
    )


if __name__ == "__main__":
    main()
