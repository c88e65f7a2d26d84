"""Run NUTS on a model and return its draws grouped by chain, as plain numpy arrays.

JAX and numpyro are imported when a sampler runs: the settings are checked without them.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sitefx import streams
from sitefx.backend import double_precision
from sitefx.errors import SitefxInputError, check_finite, check_whole

# Upper bounds on the counts: a fit keeps chains x draws values of every parameter and site.
MAX_CHAINS = 1000
MAX_DRAWS = 10_000_000

# numpyro's extra fields -> ArviZ's names for sample_stats.
SAMPLE_STATS = {
    "diverging": "diverging",
    "accept_prob": "acceptance_rate",
    "num_steps": "n_steps",
    "energy": "energy",
}


@dataclass(frozen=True, kw_only=True)
class SamplerSettings:
    """How to run NUTS.

    Attributes
    ----------
    chains, draws, warmup : int
        Number of chains (at most 1000), kept draws per chain and warm-up iterations per
        chain; ``chains * draws`` at most 10 million, since every parameter and site keeps
        that many draws in memory.
    target_accept : float
        NUTS target acceptance probability. The default 0.95 (numpyro: 0.8) takes smaller
        steps, which hierarchical posteriors with few or noisy sites need near ``tau = 0``;
        raise it (e.g. 0.99) when divergences appear.
    max_tree_depth : int
        A trajectory stops after ``2^max_tree_depth - 1`` leapfrog steps (numpyro's and
        Stan's default 10); raise it when the diagnostics report saturated trees.
    seed : int
        Seed of the whole fit; the same seed gives the same draws.
    progress : bool
        Show a progress bar per chain.

    Raises
    ------
    SitefxInputError
        If a count is not a whole number in range, ``chains * draws`` exceeds 10 million,
        ``target_accept`` is not in (0, 1), ``max_tree_depth`` is not in [1, 20] or the seed
        is invalid; the message names the CLI option too.

    Examples
    --------
    >>> settings = SamplerSettings(chains=2, draws=500, seed=7)
    >>> settings.to_dict()["target_accept"], settings.warmup
    (0.95, 1000)
    """

    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    target_accept: float = 0.95
    max_tree_depth: int = 10
    seed: int = 0
    progress: bool = False

    def __post_init__(self) -> None:
        """Check every setting (see Raises above)."""
        check_whole(self.chains, "chains (--chains)", low=1, high=MAX_CHAINS)
        check_whole(self.draws, "draws (--draws)", low=1, high=MAX_DRAWS)
        check_whole(self.warmup, "warmup (--warmup)", low=0, high=MAX_DRAWS)
        if self.chains * self.draws > MAX_DRAWS:
            raise SitefxInputError(
                f"chains x draws (--chains x --draws) is {self.chains * self.draws}, above "
                f"{MAX_DRAWS}: every parameter and site keeps that many draws in memory; ask "
                "for fewer"
            )
        target_accept = check_finite(self.target_accept, "target_accept (--target-accept)")
        if not 0 < target_accept < 1:
            raise SitefxInputError(
                f"target_accept (--target-accept) must be in (0, 1); got {self.target_accept}"
            )
        check_whole(self.max_tree_depth, "max_tree_depth (--max-tree-depth)", low=1, high=20)
        streams.check_seed(self.seed)

    def to_dict(self) -> dict:
        """Return the settings that determine the draws, for a fit's attributes.

        Returns
        -------
        dict
            ``chains``, ``draws``, ``warmup``, ``target_accept``, ``max_tree_depth`` and
            ``seed`` (not ``progress``).
        """
        return {
            "chains": self.chains,
            "draws": self.draws,
            "warmup": self.warmup,
            "target_accept": self.target_accept,
            "max_tree_depth": self.max_tree_depth,
            "seed": self.seed,
        }


@double_precision
def run_nuts(
    model: Callable, settings: SamplerSettings, **model_kwargs: object
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Sample ``model(**model_kwargs)`` with NUTS.

    Runs in float64 (:func:`~sitefx.backend.double_precision`). Chains run in parallel when
    JAX has a device per chain, else vectorized. The sampler's random stream is JAX's own,
    keyed by ``settings.seed``. JAX's compilation caches are cleared afterwards, so repeated
    fits stay flat in memory.

    Parameters
    ----------
    model : callable
        A numpyro model, e.g. :func:`~sitefx.models.hierarchical.normal_normal`.
    settings : SamplerSettings
        Chains, draws, warm-up, target acceptance, tree depth and seed.
    **model_kwargs
        The model's arguments, by name (data arrays, ``priors``, ...).

    Returns
    -------
    draws : dict of ndarray, each of shape (chains, draws, ...)
        Every sample and deterministic site except observed ones.
    sample_stats : dict of ndarray, each of shape (chains, draws)
        ``diverging``, ``acceptance_rate``, ``n_steps``, ``energy``.

    Examples
    --------
    >>> import numpy as np
    >>> from sitefx.models.hierarchical import normal_normal
    >>> from sitefx.models.priors import Prior, Priors
    >>> priors = Priors(mu=Prior.parse("normal(0, 50)"), tau=Prior.parse("half-cauchy(5)"))
    >>> draws, stats = run_nuts(normal_normal, SamplerSettings(chains=2, draws=100),
    ...                         estimate=np.array([28.0, 8, -3]), se=np.array([15.0, 10, 16]),
    ...                         priors=priors)  # doctest: +SKIP
    >>> draws["theta"].shape, stats["diverging"].shape  # doctest: +SKIP
    ((2, 100, 3), (2, 100))
    """
    import jax
    from numpyro.infer import MCMC, NUTS

    chain_method = "parallel" if jax.local_device_count() >= settings.chains else "vectorized"
    mcmc = MCMC(
        NUTS(
            model,
            target_accept_prob=settings.target_accept,
            max_tree_depth=settings.max_tree_depth,
        ),
        num_warmup=settings.warmup,
        num_samples=settings.draws,
        num_chains=settings.chains,
        chain_method=chain_method if settings.chains > 1 else "sequential",
        progress_bar=settings.progress,
    )
    # the sampler's stream: JAX's own generator keyed by the seed (the numpy streams of
    # sitefx.streams are independent of it by construction)
    mcmc.run(jax.random.key(settings.seed), extra_fields=tuple(SAMPLE_STATS), **model_kwargs)
    draws = {
        name: np.asarray(value) for name, value in mcmc.get_samples(group_by_chain=True).items()
    }
    extra = mcmc.get_extra_fields(group_by_chain=True)
    sample_stats = {SAMPLE_STATS[name]: np.asarray(value) for name, value in extra.items()}
    # Each fit compiles its own closures, which JAX's caches would keep forever (27 MB per
    # eight-schools fit): clear them, so grids and calibration runs stay flat in memory.
    jax.clear_caches()
    return draws, sample_stats
