"""Per-site statistics of a Parquet folder in this (fresh) process, for its peak memory.

    .venv/bin/python benchmarks/statistics_in_subprocess.py --folder /tmp/records --engine dask

``dask``: :func:`sitefx.data.partitioned.load_statistics`, partition by partition;
``memory``: the whole folder read with pandas, validated as records, and summed by
:meth:`SiteStatistics.from_records` (the in-memory path). ``--family``: Gaussian records
with two covariates (``gaussian``), also with classrooms, districts and a moderator
(``clustered``), or binary records with a 0/1 covariate (``binary``); the in-memory
baseline reads the Gaussian records' columns only, whatever the family. Prints
``RESULT {json}`` with the wall time, the rows and the peak resident set size (VmHWM, see
:mod:`memory`).
"""

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from memory import peak_rss_mb

from sitefx.data.adapters import Roles
from sitefx.data.partitioned import load_statistics
from sitefx.data.statistics import SiteStatistics
from sitefx.data.validate import individual_records

ROLES = {"site": "school", "outcome": "y", "treatment": "t", "covariates": ("x1", "x2")}
FAMILIES = {
    "gaussian": ROLES,
    "clustered": ROLES | {"cluster": "room", "levels": ("district",), "moderators": ("w1",)},
    "binary": ROLES | {"outcome": "passed", "covariates": ("female",), "family": "binomial"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--engine", choices=["dask", "memory"], required=True)
    parser.add_argument("--family", choices=list(FAMILIES), default="gaussian")
    args = parser.parse_args()
    roles = FAMILIES[args.family]
    start = time.perf_counter()
    if args.engine == "dask":
        rows = load_statistics(args.folder, Roles(**roles)).data.n_records
    else:
        # the Gaussian records' columns only (the files also hold the other families')
        frame = pd.read_parquet(args.folder, columns=["school", "t", "y", "x1", "x2"])
        data = individual_records(frame, **ROLES)
        covariates = data.covariates - data.covariates.mean(axis=0)
        SiteStatistics.from_records(data, covariates, per_site=True)
        rows = data.n_records
    wall = time.perf_counter() - start
    peak_mb = peak_rss_mb()
    print("RESULT " + json.dumps({"wall_s": wall, "rows": rows, "peak_mb": peak_mb}))


if __name__ == "__main__":
    main()
