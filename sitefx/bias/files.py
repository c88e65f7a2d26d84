"""The bias files of a saved fit of study summaries, and what they say in plain words."""

import json
from pathlib import Path

import numpy as np

from sitefx.bias.models import DEFAULT_CUTS, BiasFit, bias_table, fit_bias
from sitefx.bias.plots import funnel_plot
from sitefx.errors import SitefxInputError
from sitefx.estimator import SiteEffects
from sitefx.report.bias import FILES, SENTENCES
from sitefx.report.datatree import save_datatree
from sitefx.report.folders import write_csv
from sitefx.report.numbers import decimals, number
from sitefx.report.plots import plot_label


def bias_sentences(fit: BiasFit) -> list[str]:
    """Return what the bias models say, in plain words, then their notes.

    Parameters
    ----------
    fit : BiasFit
        From :func:`~sitefx.bias.models.fit_bias`.

    Returns
    -------
    list of str
        The step model against no bias (its direction said), the PET-PEESE rule's pick, the
        model average.

    Examples
    --------
    >>> import sitefx
    >>> from sitefx.bias.models import fit_bias
    >>> fit = fit_bias(sitefx.load("studies/teacher_expectancy").data)  # doctest: +SKIP
    >>> print(bias_sentences(fit)[0])  # doctest: +SKIP
    If studies with non-significant results were less likely to be published, ...
    """
    table = bias_table(fit).set_index("model")
    places = decimals(table["mu_sd"].min())

    def estimate(model: str) -> str:
        row = table.loc[model]
        interval = f"{number(row['mu_q2.5'], places)} to {number(row['mu_q97.5'], places)}"
        return f"{number(row['mu_mean'], places)} (95% interval {interval})"

    if table.loc["step", "mu_mean"] < table.loc["none", "mu_mean"]:
        selection = (
            "If studies with non-significant results were less likely to be published, the "
            f"average effect would be about {estimate('step')} instead of {estimate('none')} "
            "(step selection model against no bias)."
        )
    else:
        selection = (
            "The step selection model finds no sign that non-significant results went "
            f"unpublished: allowing for selection by p-value, the average effect would be about "
            f"{estimate('step')}, against {estimate('none')} with no bias."
        )
    chosen = fit.pet_peese
    verdict = (
        "above 0.95, so the PET-PEESE rule picks PEESE."
        if chosen == "peese"
        else "not above 0.95, so the PET-PEESE rule keeps PET."
    )
    weights = ", ".join(
        f"{model} {table.loc[model, 'weight']:.2f}" for model in ("none", "step", "pet", "peese")
    )
    return [
        selection,
        "Extrapolated to a study without sampling error, the effect would be about "
        f"{estimate(chosen)}: PET's intercept is above 0 with probability "
        f"{fit.pet_intercept_positive:.2f}, {verdict}",
        f"Averaging the four models by how well each predicts a left-out study (stacking "
        f"weights: {weights}), the average effect is about {estimate('averaged')}.",
        *fit.notes,
    ]


def write_bias(
    fit: SiteEffects, folder: str | Path, *, cuts: tuple[float, ...] = DEFAULT_CUTS
) -> tuple[BiasFit, dict[str, Path]]:
    """Fit the bias models to a fit's studies; write the table, funnel plots and draws.

    The models use the fit's priors of ``mu`` and ``tau`` and its chains, draws and seed
    (:func:`~sitefx.bias.models.fit_bias`).

    Parameters
    ----------
    fit : SiteEffects
        A fit of site summaries (e.g. from :func:`sitefx.open_fit`).
    folder : str or pathlib.Path
        Where to write :data:`FILES`: ``bias.csv`` (one row per model), ``funnel.png``,
        ``funnel_contour.png`` and ``bias.nc`` (each model's posterior and pointwise
        log-likelihood).
    cuts : tuple of float, default (0.025, 0.05, 0.5)
        One-sided p-value cut points of the step selection model.

    Returns
    -------
    BiasFit
        The models (:func:`bias_sentences` says what they find).
    dict of str to pathlib.Path
        The files written, by the keys of :data:`FILES`.

    Raises
    ------
    SitefxInputError
        If the fit is not of site summaries, borrows from history, or the cut points are bad.

    Examples
    --------
    >>> import sitefx, tempfile
    >>> fit = sitefx.SiteEffects(seed=1, chains=2, draws=200).fit(
    ...     sitefx.load("studies/teacher_expectancy"))  # doctest: +SKIP
    >>> sorted(write_bias(fit, tempfile.mkdtemp())[1])  # doctest: +SKIP
    ['funnel', 'funnel_contour', 'models', 'table']
    """
    tree = fit.posterior_
    if tree.attrs["data_kind"] != "summaries":
        raise SitefxInputError(
            f"the bias models need a fit of study summaries (estimate and SE); this fit is of "
            f"{tree.attrs['data_kind']}"
        )
    if "borrowing" in tree.attrs:
        raise SitefxInputError("the bias models need a fit without historical borrowing")
    data = fit.data_
    result = fit_bias(data, priors=fit.priors_, cuts=cuts, settings=fit.spec.sampler_settings())
    folder = Path(folder)
    paths = {key: folder / name for key, name in FILES.items()}
    write_csv(bias_table(result), paths["table"])
    mu = float(np.mean(result.mu_draws("none")))
    units = plot_label(tree.attrs.get("units", ""))
    label = f"study estimate{f' ({units})' if units else ''}"
    for key, contours in (("funnel", False), ("funnel_contour", True)):
        figure = funnel_plot(data.estimate, data.se, mu, contours=contours, units=label)
        figure.savefig(paths[key], dpi=130)
    models = result.to_datatree()
    models.attrs[SENTENCES] = json.dumps(bias_sentences(result))
    save_datatree(models, paths["models"])
    return result, paths
