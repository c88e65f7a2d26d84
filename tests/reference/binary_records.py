"""Writes tests/reference/binary_records.csv: 20 schools x 100 students, a 0/1 outcome and
two covariates, from sitefx.testing.simulate_binary_records (seed 20261127); fitted by brms in
make_references.R (block binary_records) as the reference for --family binomial.

Run from the repository root: .venv/bin/python tests/reference/binary_records.py
"""

import pandas as pd

from sitefx.testing import simulate_binary_records

data, _ = simulate_binary_records(20, 2000, n_covariates=2, seed=20261127)
frame = pd.DataFrame(
    {
        "school": [data.site[j] for j in data.site_index],
        "treat": data.treatment,
        "passed": data.outcome.astype(int),
        "x1": data.covariates[:, 0],
        "x2": data.covariates[:, 1],
    }
)
frame.to_csv("tests/reference/binary_records.csv", index=False, float_format="%.17g")
