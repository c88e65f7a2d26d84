"""Writes tests/reference/tutoring_growth_unbalanced.csv: an unbalanced growth panel.

A seeded simulation like studies/tutoring_growth (tutoring's effect on yearly reading growth
varies across schools around 2 points per year, SD 1), made unbalanced as real longitudinal data
are (sitefx.testing.simulate_growth_frame): 20 schools x 30 pupils, half tutored, scored at four
yearly waves whose dates vary by pupil (year + uniform(-0.3, 0.3)); a pupil misses each later
wave with probability 0.25, and one pupil in ten leaves after the first wave (one score).
Schools differ in their levels (SD 6) and control growth (SD 1.5); pupils in their starting
levels (SD 15) and growth (SD 2), correlated 0.3. Fitted by lme4 and brms in
make_references.R (block tutoring_growth_unbalanced) as the reference for sitefx's long-format
growth model.

The column prior_score, added after those fits (the other columns unchanged), is a baseline
covariate for the long model's covariates (make_references.R, block
tutoring_growth_unbalanced_covariate): a stand-in for an earlier reading test, each pupil's mean
score plus normal(0, 10) noise (seeded), constant within the pupil.

Run from the repository root: .venv/bin/python tests/reference/tutoring_growth_unbalanced.py
"""

from pathlib import Path

import numpy as np

from sitefx.testing import simulate_growth_frame

frame, _ = simulate_growth_frame(
    20,
    30,
    level=(200.0, 6.0),
    growth=(8.0, 1.5),
    person_sd=(15.0, 2.0),
    sigma=5.0,
    leave=0.1,
    seed=20261204,
)
frame = frame.rename(columns={"treated": "tutored"})
pupil_mean = frame.groupby("pupil", sort=False)["score"].mean()
noise = np.random.default_rng(20261205).normal(0.0, 10.0, len(pupil_mean))
frame["prior_score"] = frame["pupil"].map((pupil_mean + noise).round(1))
frame.to_csv(Path(__file__).with_suffix(".csv"), index=False)
