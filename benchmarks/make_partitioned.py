"""Write a partitioned Parquet data set of simulated student records (not committed).

    .venv/bin/python benchmarks/make_partitioned.py --rows 10000000 --folder /tmp/records

Rows are simulated in chunks of one million (so generating 10M rows needs little memory):
``school`` (1,000 schools), ``t`` (0/1), ``y`` and two covariates ``x1``, ``x2``; for the other
families, ``room`` (20 classrooms per school), ``district`` (50 schools each), a school-level
moderator ``w1``, a binary outcome ``passed`` and a 0/1 covariate ``female``. Each chunk is
one file with row groups of 250,000 rows.
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

CHUNK = 1_000_000
ROW_GROUP = 250_000
SCHOOLS = 1_000
ROOMS = 20  # per school
DISTRICT = 50  # schools per district


def write(rows: int, folder: Path, seed: int = 0) -> Path:
    """Write ``rows`` records as ``part<k>.parquet`` files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    effects = rng.normal(0.2, 0.1, SCHOOLS)
    names = np.array([f"school {j:04d}" for j in range(SCHOOLS)])
    rooms = np.array([f"room {k:02d}" for k in range(ROOMS)])
    districts = np.array([f"district {j // DISTRICT:02d}" for j in range(SCHOOLS)])
    moderator = rng.standard_normal(SCHOOLS)
    for number, start in enumerate(range(0, rows, CHUNK)):
        size = min(CHUNK, rows - start)
        school = rng.integers(0, SCHOOLS, size)
        t = rng.integers(0, 2, size)
        x = rng.standard_normal((size, 2))
        female = rng.integers(0, 2, size)
        y = effects[school] * t + x @ np.array([0.3, -0.2]) + rng.standard_normal(size)
        frame = pd.DataFrame(
            {
                "school": names[school],
                "t": t,
                "y": y,
                "x1": x[:, 0],
                "x2": x[:, 1],
                "room": rooms[rng.integers(0, ROOMS, size)],
                "district": districts[school],
                "w1": moderator[school],
                "passed": (y + 0.2 * female > 0).astype(int),
                "female": female,
            }
        )
        frame.to_parquet(folder / f"part{number:03d}.parquet", row_group_size=ROW_GROUP)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--folder", type=Path, required=True)
    args = parser.parse_args()
    print(write(args.rows, args.folder))


if __name__ == "__main__":
    main()
