"""Writes tests/reference/horseshoe_records.csv: 20 schools x 100 students, 6 standardized
covariates of which 2 matter (the horseshoe reference data; fitted by brms in make_references.R).

Run from the repository root: python tests/reference/horseshoe_records.py
"""

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261127)
J, n = 20, 2000
site = np.repeat(np.arange(J), n // J)
treat = np.arange(n) % 2
alpha = rng.normal(0, 0.5, J)
theta = rng.normal(0.3, 0.2, J)
x = rng.standard_normal((n, 6))
x = (x - x.mean(0)) / x.std(0)  # centred, SD 1 (ddof 0), as sitefx standardizes
beta = np.array([0.6, -0.4, 0, 0, 0, 0])
y = alpha[site] + theta[site] * treat + x @ beta + rng.standard_normal(n)
frame = pd.DataFrame({"school": [f"s{j + 1}" for j in site], "treat": treat, "y": y})
for k in range(6):
    frame[f"x{k + 1}"] = x[:, k]
frame.to_csv("tests/reference/horseshoe_records.csv", index=False, float_format="%.17g")
