"""Plain-language lines and a report section from the files of ``sitefx sensitivity``."""

from pathlib import Path

import pandas as pd

FILES = {
    "prior_grid": "prior_grid.csv",
    "prior_grid_sites": "prior_grid_sites.csv",
    "prior_grid_plot": "prior_grid.png",
    "power_scaling": "power_scaling.csv",
    "leave_one_out": "leave_one_out.csv",
    "influence_plot": "influence.png",
    "comparison": "model_comparison.csv",
}
LEAVE_ONE_OUT_COLUMNS = [
    "site",
    "method",
    "pareto_k",
    "mu_mean",
    "mu_q2.5",
    "mu_q97.5",
    "prob_mu_positive",
    "tau_mean",
    "mu_shift",
    "tau_shift",
    "warnings",
    "mcse_mu_mean",
    "mcse_prob_mu_positive",
]
POWER_SCALING_COLUMNS = [
    "parameter",
    "prior",
    "likelihood",
    "diagnosis",
    "prior_pareto_k",
    "likelihood_pareto_k",
    "prior_method",
]
INFLUENTIAL = 0.5  # a site moving mu by more than this many posterior SDs is influential


def describe_sensitivity(out_dir: str | Path) -> list[str]:
    """Return plain-language lines on the sensitivity files in ``out_dir``.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        A folder written by ``sitefx sensitivity``
        (:func:`~sitefx.sensitivity.write_sensitivity`).

    Returns
    -------
    list of str
        Lines on the prior grid (do conclusions flip?), power-scaling, each site's influence
        and the model comparison, for the files that are there; empty if none is.

    Examples
    --------
    >>> describe_sensitivity("studies/eight_schools")
    []
    """
    out = Path(out_dir)
    lines = []
    if (out / FILES["prior_grid"]).is_file():
        lines += _describe_grid(
            pd.read_csv(out / FILES["prior_grid"]), pd.read_csv(out / FILES["prior_grid_sites"])
        )
    if (out / FILES["power_scaling"]).is_file():
        lines += _describe_power(pd.read_csv(out / FILES["power_scaling"], keep_default_na=False))
    if (out / FILES["leave_one_out"]).is_file():
        lines += _describe_influence(pd.read_csv(out / FILES["leave_one_out"]))
    if (out / FILES["comparison"]).is_file():
        lines += _describe_comparison(pd.read_csv(out / FILES["comparison"]))
    return lines


def sensitivity_warnings(out_dir: str | Path) -> list[str]:
    """Return the diagnostics the sensitivity files record as failed.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        A folder written by ``sitefx sensitivity``.

    Returns
    -------
    list of str
        One line per problem: Pareto k above 0.7 where importance weights were kept,
        leave-one-site-out refits with sampler warnings, model comparisons with a warning;
        empty when all is well (or there are no such files).

    Examples
    --------
    >>> sensitivity_warnings("studies/eight_schools")
    []
    """
    out = Path(out_dir)
    problems = []
    if (out / FILES["power_scaling"]).is_file():
        power = pd.read_csv(out / FILES["power_scaling"], keep_default_na=False)
        notes = {
            note
            for text in power["diagnosis"]
            for note in text.split("; ")
            if note.startswith("unreliable")
        }
        problems += [f"power-scaling: {note}" for note in sorted(notes)]
    if (out / FILES["leave_one_out"]).is_file():
        influence = pd.read_csv(out / FILES["leave_one_out"])
        failed = influence.loc[influence["warnings"] > 0, "site"].astype(str).tolist()
        if failed:
            problems.append(
                f"leave-one-site-out: the refits without {', '.join(failed)} had sampler warnings"
            )
    if (out / FILES["comparison"]).is_file():
        comparison = pd.read_csv(out / FILES["comparison"], keep_default_na=False)
        problems += [
            f"model comparison, {row.model}: {row.diag_elpd}"
            for row in comparison.itertuples()
            if row.diag_elpd
        ]
    return problems


def _describe_comparison(table: pd.DataFrame) -> list[str]:
    best, runner = table.iloc[0], table.iloc[1]
    return [
        f"Predicting a left-out site (PSIS-LOO): {best['model']} score best; "
        f"{runner['model']} differ by {runner['elpd_diff']:.2f} (SE {runner['dse']:.2f}) in "
        f"expected log predictive density"
        + (" - within noise." if abs(runner["elpd_diff"]) < 2 * runner["dse"] else ".")
    ]


def _describe_grid(table: pd.DataFrame, sites: pd.DataFrame) -> list[str]:
    base = table.iloc[0]
    spread = (
        f"Under {len(table)} pairs of priors for mu and tau, the average effect's posterior mean "
        f"ranged from {table['mu_mean'].min():.3g} to {table['mu_mean'].max():.3g} (with the "
        f"model's priors: {base['mu_mean']:.3g}) and P(mu > threshold) from "
        f"{table['prob_mu_above'].min():.3f} to {table['prob_mu_above'].max():.3f}"
    )
    flipped = table[table["flipped"]]
    if flipped.empty:
        lines = [spread + f", and the conclusion about it ({_said(base)}) held under all."]
    else:
        examples = "; ".join(
            f"mu ~ {row.prior_mu}, tau ~ {row.prior_tau}" for row in flipped.head(3).itertuples()
        )
        lines = [
            spread + f". The conclusion about it ({_said(base)}) changed under "
            f"{len(flipped)} of them (it crosses 95% or 5%), e.g. {examples}."
        ]
    changed = sites.loc[sites["flipped"], "site"].astype(str).unique()
    if len(changed):
        lines.append(
            f"Conclusions about single sites changed under some prior for {len(changed)} "
            f"site(s): {', '.join(changed[:12])}."
        )
    return lines


def _said(row: pd.Series) -> str:
    return {
        "above": "credibly above the threshold",
        "below": "credibly below the threshold",
        "uncertain": "not credibly above or below the threshold",
        "borderline": "too close to 95% or 5% to call from these draws",
    }[row["conclusion"]]


def _describe_power(table: pd.DataFrame) -> list[str]:
    concerns = table[table["diagnosis"] != ""]
    lines = []
    if (table.get("prior_method") == "refit").any():
        lines.append(
            "Power-scaling: the prior sensitivities come from refits with the priors raised "
            "to the power (their importance weights were unreliable)."
        )
    if concerns.empty:
        return [*lines, "Power-scaling: no parameter is sensitive to a small change of the priors."]
    return lines + [
        f"Power-scaling: {row.parameter} shows {row.diagnosis} (prior sensitivity "
        f"{row.prior:.3f}, likelihood {row.likelihood:.3f}; above 0.05 counts)."
        for row in concerns.itertuples()
    ]


def _describe_influence(table: pd.DataFrame) -> list[str]:
    top = table.loc[table["mu_shift"].abs().idxmax()]
    line = (
        f"Leaving one site out: the most influential site is {top['site']}; without it the "
        f"average effect moves by {top['mu_shift']:+.2f} posterior SDs (P(mu > 0) "
        f"{top['prob_mu_positive']:.2f})."
    )
    influential = table.loc[table["mu_shift"].abs() > INFLUENTIAL, "site"].astype(str)
    if len(influential):
        line += f" Sites moving it by more than {INFLUENTIAL} SDs: {', '.join(influential)}."
    refits = int((table["method"] == "refit").sum())
    if refits:
        line += f" {refits} site(s) were refitted (Pareto k > 0.7)"
        failed = int((table["warnings"] > 0).sum())
        line += f"; {failed} refit(s) had sampler warnings." if failed else "."
    return [line]
