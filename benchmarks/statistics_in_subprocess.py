"""Per-site statistics of a Parquet folder in this (fresh) process, for its peak memory.

    .venv/bin/python benchmarks/statistics_in_subprocess.py --folder /tmp/records --engine dask

``dask``: :func:`sitefx.data.partitioned.record_statistics`, partition by partition;
``memory``: the whole folder read with pandas, validated as records, and summed by
:meth:`SiteStatistics.from_records` (the in-memory path). Prints ``RESULT {json}`` with the
wall time, the rows and the peak resident set size.
"""

import argparse
import json
import resource
import time
from pathlib import Path

import pandas as pd

from sitefx.data.partitioned import record_statistics
from sitefx.data.statistics import SiteStatistics
from sitefx.data.validate import individual_records

ROLES = {"site": "school", "outcome": "y", "treatment": "t", "covariates": ["x1", "x2"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--engine", choices=["dask", "memory"], required=True)
    args = parser.parse_args()
    start = time.perf_counter()
    if args.engine == "dask":
        rows = record_statistics(args.folder, **ROLES).n_records
    else:
        frame = pd.read_parquet(args.folder)
        data = individual_records(frame, **ROLES)
        covariates = data.covariates - data.covariates.mean(axis=0)
        SiteStatistics.from_records(data, covariates, per_site=True)
        rows = data.n_records
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps({"wall_s": wall, "rows": rows, "peak_mb": peak_mb}))


if __name__ == "__main__":
    main()
