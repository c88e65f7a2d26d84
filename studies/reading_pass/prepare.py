"""Writes reading_pass.csv, a seeded simulation with known truth (see README.md).

Also writes reading_pass_counts.csv: the same pupils counted per school and arm.

Run from the repository root: .venv/bin/python studies/reading_pass/prepare.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

SEED, SCHOOLS, PUPILS = 20261128, 24, 120
MU, TAU = 0.5, 0.3  # log odds ratio of passing, across schools
ALPHA_MEAN, ALPHA_SD = -0.4, 0.6  # control log-odds of passing

rng = np.random.default_rng(SEED)
theta = rng.normal(MU, TAU, SCHOOLS)
alpha = rng.normal(ALPHA_MEAN, ALPHA_SD, SCHOOLS)
school = np.repeat(np.arange(SCHOOLS), PUPILS)
program = np.tile(np.arange(PUPILS) % 2, SCHOOLS)
logit = alpha[school] + theta[school] * program
passed = (rng.random(len(school)) < 1 / (1 + np.exp(-logit))).astype(int)
names = np.array([f"school {j + 1:02d}" for j in range(SCHOOLS)])
frame = pd.DataFrame({"school": names[school], "program": program, "passed": passed})
here = Path(__file__).parent
frame.to_csv(here / "reading_pass.csv", index=False)
arms = frame.groupby(["school", "program"])["passed"].agg(["sum", "count"]).unstack("program")
counts = pd.DataFrame(
    {
        "passed_program": arms[("sum", 1)],
        "pupils_program": arms[("count", 1)],
        "passed_control": arms[("sum", 0)],
        "pupils_control": arms[("count", 0)],
    }
)
counts.to_csv(here / "reading_pass_counts.csv")
pd.DataFrame({"school": names, "theta": theta, "alpha": alpha}).to_csv(
    here / "truth.csv", index=False, float_format="%.6f"
)
