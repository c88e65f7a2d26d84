"""Fit many studies and outcomes in one job.

Each is fitted and saved in its own folder, the headline numbers gathered into one overview
table.

An evaluation often reports one intervention on several outcomes (reading, mathematics,
attendance) or pools several studies. :func:`fit_many` fits each :class:`Job` with the same
model settings, on ``workers`` (see :mod:`sitefx.parallel`), writes each fit's files under
``out_dir/<label>/`` and returns one row per job.
"""

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sitefx.data.adapters import load
from sitefx.errors import SamplingWarning, SitefxInputError
from sitefx.estimator import SiteEffects
from sitefx.parallel import SERIAL, Workers, map_tasks
from sitefx.report.folders import write_csv

OVERVIEW_COLUMNS = [
    "label",
    "source",
    "outcome",
    "sites",
    "mu_mean",
    "mu_q2.5",
    "mu_q97.5",
    "prob_mu_above",
    "tau_mean",
    "mcse_mu_mean",
    "mcse_prob_mu_above",
    "warnings",
    "folder",
]


@dataclass(frozen=True)
class Job:
    """One fit of a batch: a data source, its column roles, and its folder's name.

    Attributes
    ----------
    label : str
        The job's name: its folder under the batch's ``out_dir`` and its overview row.
    source : str
        A study folder or data file, as for :func:`sitefx.load`.
    roles : mapping of str to object, default {}
        Column roles and options passed to :func:`sitefx.load`.

    Examples
    --------
    >>> Job("star-math", "studies/star", {"outcome": "math"})
    Job(label='star-math', source='studies/star', roles={'outcome': 'math'})
    """

    label: str
    source: str
    roles: Mapping[str, object] = field(default_factory=dict)

    @property
    def design(self) -> tuple:
        """Return what jobs of one design share: the source and the roles but the outcome.

        Jobs of one design (e.g. one study's outcomes) fit models of the same shapes, so a
        worker that runs them all compiles their sampler once (:func:`sitefx.parallel.map_tasks`).

        Examples
        --------
        >>> Job("star-math", "studies/star", {"outcome": "math"}).design
        ('studies/star', ())
        """
        return self.source, tuple(
            sorted((k, repr(v)) for k, v in self.roles.items() if k != "outcome")
        )


def jobs_for(
    sources: Sequence[str | Path], outcomes: Sequence[str] = (), roles: Mapping | None = None
) -> list[Job]:
    """Return one job per source, or per source and outcome when ``outcomes`` are given.

    Parameters
    ----------
    sources : sequence of str or pathlib.Path
        Study folders or data files.
    outcomes : sequence of str, default ()
        Outcome columns, each fitted for every source (individual records).
    roles : mapping, optional
        Column roles and options shared by every job.

    Returns
    -------
    list of Job
        Labelled ``<source name>`` or ``<source name>-<outcome>``, where a source's name is
        its last path component up to the first dot.

    Raises
    ------
    SitefxInputError
        If two jobs would have the same label (and so share a folder).

    Examples
    --------
    >>> [job.label for job in jobs_for(["studies/star"], ["reading", "math"])]
    ['star-reading', 'star-math']
    """
    roles = dict(roles or {})
    jobs = []
    for source in sources:
        name = Path(str(source).rstrip("/")).name.split(".")[0]
        if not outcomes:
            jobs.append(Job(name, str(source), roles))
        for outcome in outcomes:
            jobs.append(Job(f"{name}-{outcome}", str(source), roles | {"outcome": outcome}))
    labels = [job.label for job in jobs]
    if len(set(labels)) != len(labels):
        raise SitefxInputError(f"two jobs would share a folder: {labels}")
    return jobs


def fit_many(
    jobs: Sequence[Job],
    model: SiteEffects,
    out_dir: str | Path,
    *,
    workers: Workers = SERIAL,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Fit every job with ``model``'s settings and save each under ``out_dir/<label>/``.

    Sampling warnings do not stop a job: they are counted in its row and stored in its fit's
    file.

    Parameters
    ----------
    jobs : sequence of Job
        The fits to run (see :func:`jobs_for`).
    model : SiteEffects
        The settings every job is fitted with (its ``progress`` is turned off).
    out_dir : str or pathlib.Path
        Folder for the jobs' folders and ``overview.csv``; created if missing.
    workers : Workers, default ``Workers()``
        Where the fits run (see :mod:`sitefx.parallel`).
    progress : callable, optional
        Called with a line per job started or finished.

    Returns
    -------
    pandas.DataFrame
        The overview, one row per job (also written to ``out_dir/overview.csv``): sites,
        the mean and 95% interval of ``mu``, ``P(mu > threshold)``, the mean of ``tau``,
        their MCSEs, the number of warnings and the job's folder.

    Raises
    ------
    TaskFailedError
        If a job fails (bad data, a write error), naming every failed job.

    Examples
    --------
    >>> import sitefx, tempfile
    >>> with tempfile.TemporaryDirectory() as out:
    ...     table = fit_many(jobs_for(["studies/eight_schools"]), sitefx.SiteEffects(seed=1), out)
    >>> table[["label", "sites", "folder"]]
               label  sites         folder
    0  eight_schools      8  eight_schools
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = map_tasks(
        _fit_job,
        list(jobs),
        labels=[job.label for job in jobs],
        workers=workers,
        progress=progress,
        groups=[job.design for job in jobs],
        model=model.with_settings(progress=False),
        out_dir=str(out.resolve()),
    )
    table = pd.DataFrame(rows, columns=OVERVIEW_COLUMNS)
    write_csv(table, out / "overview.csv")
    return table


def _fit_job(job: Job, *, model: SiteEffects, out_dir: str) -> dict:
    """Load, fit and save one job (in whichever process runs it); return its overview row."""
    study = load(job.source, **job.roles)
    with warnings.catch_warnings():  # counted in the row, and stored in the fit's file
        warnings.simplefilter("ignore", SamplingWarning)
        fit = model.with_settings().fit(study)
    folder = Path(out_dir) / job.label
    fit.save(folder)
    table = fit.estimands().set_index("estimand")  # the numbers the fit's files hold
    mu, tau = table.loc["mu"], table.loc["tau"]
    return {
        "label": job.label,
        "source": job.source,
        "outcome": job.roles.get("outcome", ""),
        "sites": study.data.n_sites,
        "mu_mean": mu["mean"],
        "mu_q2.5": mu["q2.5"],
        "mu_q97.5": mu["q97.5"],
        "prob_mu_above": mu["prob_above"],
        "tau_mean": tau["mean"],
        "mcse_mu_mean": mu["mcse_mean"],
        "mcse_prob_mu_above": mu["mcse_prob_above"],
        "warnings": len(fit.warnings_),
        "folder": job.label,  # beside overview.csv
    }
