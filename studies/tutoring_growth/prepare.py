"""Writes tutoring_growth.csv: a seeded simulation with known truth (see README.md).

Run from the repository root: .venv/bin/python studies/tutoring_growth/prepare.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

SEED, SCHOOLS, PUPILS, YEARS = 20261127, 30, 40, (0, 1, 2, 3)
MU, TAU = 2.0, 1.0  # effect of tutoring on growth (points per year), across schools

rng = np.random.default_rng(SEED)
theta = rng.normal(MU, TAU, SCHOOLS)  # each school's effect on growth
control_growth = rng.normal(8.0, 1.5, SCHOOLS)
rows = []
for j in range(SCHOOLS):
    for i in range(PUPILS):
        tutored = i % 2
        start = rng.normal(200, 15)
        growth = control_growth[j] + tutored * theta[j] + rng.normal(0, 2)
        for year in YEARS:
            score = start + growth * year + rng.normal(0, 5)
            rows.append(
                (
                    f"school {j + 1:02d}",
                    f"pupil {j + 1:02d}-{i + 1:02d}",
                    tutored,
                    year,
                    round(score, 2),
                )
            )
frame = pd.DataFrame(rows, columns=["school", "pupil", "tutored", "year", "score"])
here = Path(__file__).parent
frame.to_csv(here / "tutoring_growth.csv", index=False)
truth = pd.DataFrame({"school": [f"school {j + 1:02d}" for j in range(SCHOOLS)], "theta": theta})
truth.to_csv(here / "truth.csv", index=False, float_format="%.6f")
