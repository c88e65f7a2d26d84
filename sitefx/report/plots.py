"""Forest plot: raw versus shrunken site effects, the average effect and a new site's effect."""

from typing import Literal

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

RAW_COLOR = "0.45"
SHRUNK_COLOR = "#1f5fa8"
POOLED_COLOR = "black"
PREDICTIVE_COLOR = "#c25400"
Z_95 = 1.959963984540054


def forest_plot(
    tree: xr.DataTree,
    *,
    sort: Literal["data", "raw", "shrunken", "name"] = "data",
    title: str | None = None,
) -> Figure:
    """Per site: raw estimate +- 1.96 SE and the shrunken 95% posterior interval; below them,
    the average effect ``mu`` and the 95% predictive interval for a new site.

    The figure grows with the number of sites, so 80 or more sites stay legible.

    Examples
    --------
    >>> import sitefx
    >>> fit = sitefx.SiteEffects(draws=200, warmup=200).fit(
    ...     sitefx.load("studies/eight_schools"))  # doctest: +SKIP
    >>> forest_plot(fit.posterior_).savefig("forest.png")  # doctest: +SKIP
    """
    posterior = tree["posterior"].to_dataset()
    constant = tree["constant_data"].to_dataset()
    sites = posterior["site"].values.astype(str)
    raw = constant["raw_estimate"].values
    raw_half = Z_95 * constant["raw_se"].values
    theta = posterior["theta"].stack(sample=("chain", "draw")).transpose("site", "sample").values
    theta_mean = theta.mean(axis=1)
    theta_lo, theta_hi = np.quantile(theta, [0.025, 0.975], axis=1)

    order = {
        "data": np.arange(len(sites)),
        "raw": np.argsort(raw),
        "shrunken": np.argsort(theta_mean),
        "name": np.argsort(sites),
    }[sort]
    n_sites = len(sites)
    y = np.arange(n_sites)[::-1] + 3.0  # sites top to bottom; rows 0 and 1 for mu and theta_new

    height = max(3.5, 0.24 * (n_sites + 3) + 1.4)
    font = 9 if n_sites <= 40 else 7
    fig, ax = plt.subplots(figsize=(7.5, height), layout="constrained")
    offset = 0.18
    ax.errorbar(
        raw[order],
        y + offset,
        xerr=raw_half[order],
        fmt="o",
        mfc="white",
        color=RAW_COLOR,
        ms=4,
        lw=1,
        label="raw estimate, 95% CI",
    )
    ax.errorbar(
        theta_mean[order],
        y - offset,
        xerr=[theta_mean[order] - theta_lo[order], theta_hi[order] - theta_mean[order]],
        fmt="o",
        color=SHRUNK_COLOR,
        ms=4,
        lw=1.8,
        label="shrunken (posterior), 95% interval",
    )
    for row, name, color, label in [
        (1.0, "mu", POOLED_COLOR, "average effect (mu)"),
        (0.0, "theta_new", PREDICTIVE_COLOR, "effect in a new site"),
    ]:
        draws = posterior[name].values.ravel()
        lo, hi = np.quantile(draws, [0.025, 0.975])
        ax.errorbar(
            draws.mean(),
            row,
            xerr=[[draws.mean() - lo], [hi - draws.mean()]],
            fmt="D",
            color=color,
            ms=6,
            lw=2.2,
            label=f"{label}, 95% interval",
        )
    ax.axvline(0.0, color="0.75", lw=0.8, zorder=0)
    ax.axvline(float(posterior["mu"].mean()), color=POOLED_COLOR, lw=0.8, ls=":", zorder=0)
    ax.axhline(2.0, color="0.85", lw=0.8)
    ax.set_yticks([*y, 1.0, 0.0], [*sites[order], "average (mu)", "new site"], fontsize=font)
    ax.set_ylim(-0.8, n_sites + 2.8)
    units = tree.attrs.get("units", "")
    ax.set_xlabel(f"treatment effect{f' ({units})' if units else ''}")
    ax.set_title(title or "Site effects: raw vs shrunken", fontsize=11)
    fig.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    ax.grid(axis="x", color="0.93")
    return fig
