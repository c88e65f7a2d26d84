"""Writes tests/reference/district_reading_cits.csv: a comparative interrupted time series.

A seeded simulation (sitefx.testing.simulate_interrupted_frame) of the data a district-level
programme evaluation brings: 15 districts, each with 12 schools whose mean reading scores are
recorded yearly from 2012 to 2019 (a tenth of school-years missing); in each district 4 schools
adopt the programme in the district's start year (2015, 2016 or 2017, staggered), the other 8
are comparison schools. Adopting schools start 4 points lower with trends 0.3 points a year
steeper (they were not randomized); every school of a district steps off its trend at the
start (SD 1 across districts, what happened to all schools then) and adopting schools by a
further theta_j ~ N(3, 1.5). Fitted by lme4 in make_references.R (block district_reading_cits)
as the reference for sitefx's comparative interrupted time series.

Run from the repository root: .venv/bin/python tests/reference/district_reading_cits.py
"""

from pathlib import Path

from sitefx.testing import simulate_interrupted_frame

frame, _ = simulate_interrupted_frame(15, 12, seed=20261206)
frame.to_csv(Path(__file__).with_suffix(".csv"), index=False)
