"""Run NUTS on a model and return its draws grouped by chain, as plain numpy arrays.

Compiled once per design. The sampler (warm-up and sampling of every chain, one XLA program)
takes the model's data and prior parameters as arguments, not as constants, and is kept per
model structure: the model function, the settings, its non-array arguments (counts, names)
and the shapes of its arrays. Fits that differ only in values (a prior grid, leave-one-site-
out, calibration replicates, outcomes of one design) reuse it without tracing or compiling;
across processes JAX's persistent compilation cache (:mod:`sitefx.backend`) serves it.

JAX and numpyro are imported when a sampler runs: the settings are checked without them.
"""

import collections
import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from sitefx import streams
from sitefx.backend import compilation_cache_dir, double_precision, use_compilation_cache
from sitefx.errors import SitefxInputError, check_finite, check_whole
from sitefx.progress import phase

# Upper bounds on the counts: a fit keeps chains x draws values of every parameter and site.
MAX_CHAINS = 1000
MAX_DRAWS = 10_000_000

# What each kept iteration records, from numpyro's NUTS state (HMCState), by ArviZ's names.
SAMPLE_STATS = {
    "diverging": lambda state: state.diverging,
    "acceptance_rate": lambda state: state.accept_prob,
    "n_steps": lambda state: state.num_steps,
    "energy": lambda state: state.energy,
    "lp": lambda state: -state.potential_energy,  # log density (unconstrained, up to a constant)
    "step_size": lambda state: state.adapt_state.step_size,
}
# Where each chain starts, in the model's unconstrained space, by the name of numpyro's init
# strategy: "uniform" draws every latent from (-2, 2), numpyro's default; "median" starts at
# the prior medians, for models whose priors sit far from 0 on that scale (a mean score of 250).
INITS = {"uniform": "init_to_uniform", "median": "init_to_median"}
COMPILED_SAMPLERS = 8  # compiled samplers kept per process (least recently used dropped)
PROGRESS_EVERY = 25  # iterations between progress updates of a chain


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
    model: Callable, settings: SamplerSettings, *, init: str = "uniform", **model_kwargs: object
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Sample ``model(**model_kwargs)`` with NUTS.

    Runs in float64 (:func:`~sitefx.backend.double_precision`). Chains run in parallel when
    JAX has a device per chain, else vectorized. The sampler's random stream is JAX's own,
    keyed by ``settings.seed``. The compiled sampler is reused by later fits of the same
    structure (see the module docstring).

    Parameters
    ----------
    model : callable
        A numpyro model, e.g. :func:`~sitefx.models.hierarchical.normal_normal`.
    settings : SamplerSettings
        Chains, draws, warm-up, target acceptance, tree depth, seed and progress.
    init : {"uniform", "median"}, default "uniform"
        Where the chains start (:data:`INITS`).
    **model_kwargs
        The model's arguments, by name (data arrays, ``priors``, ...). Arrays, floats,
        dataclasses holding them (priors, sufficient statistics) and tuples of these are the
        sampler's arguments; ints, strings, booleans and None fix its structure.

    Returns
    -------
    draws : dict of ndarray, each of shape (chains, draws, ...)
        Every sample and deterministic site except observed ones.
    sample_stats : dict of ndarray, each of shape (chains, draws)
        ArviZ's names: ``diverging``, ``acceptance_rate``, ``n_steps``, ``tree_depth``,
        ``energy``, ``lp``, ``step_size``.

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

    cached = use_compilation_cache()
    static = {name: value for name, value in model_kwargs.items() if _is_static(value)}
    dynamic = {name: value for name, value in model_kwargs.items() if name not in static}
    _register_pytrees(dynamic)
    dynamic = jax.tree.map(np.asarray, dynamic)
    keys = jax.random.split(jax.random.key(settings.seed), settings.chains)
    design = (model, tuple(sorted(static.items())), dataclasses.replace(settings, seed=0), init)
    with phase("preparing the sampler", enabled=settings.progress) as notes:
        sampler = _sampler(design, keys, dynamic, notes, cached=cached)
    with _progress_bar(settings):
        draws, stats = jax.block_until_ready(sampler(keys, dynamic))
        jax.effects_barrier()  # the last progress callbacks have run
    draws = {name: np.asarray(value) for name, value in draws.items()}
    sample_stats = {name: np.asarray(value) for name, value in stats.items()}
    # The depth of each trajectory's tree, as ArviZ derives it from numpyro's step counts.
    sample_stats["tree_depth"] = np.floor(np.log2(sample_stats["n_steps"])).astype(int) + 1
    return draws, sample_stats


def _sampler(
    design: tuple, keys: object, dynamic: dict, notes: list[str], *, cached: bool
) -> Callable:
    """Return the compiled sampler of ``design`` for arguments shaped as ``dynamic``.

    Kept in this process (up to ``COMPILED_SAMPLERS``, least recently used dropped); a new
    one is compiled, or read from the persistent compilation cache (if ``cached``, it is on).
    ``notes`` gets which.
    """
    import jax

    leaves, structure = jax.tree.flatten(dynamic)
    parallel = len(keys) > 1 and jax.local_device_count() >= len(keys)
    key = (*design, parallel, structure, tuple((leaf.shape, leaf.dtype) for leaf in leaves))
    if key in _SAMPLERS:
        _SAMPLERS.move_to_end(key)
        notes.append("reused from an earlier fit")
        return _SAMPLERS[key]
    before = _CacheEvents.count()
    sampler = _build_sampler(*design, parallel).lower(keys, dynamic).compile()
    # Tracing filled JAX's caches with this design's closures, which they would keep forever
    # (27 MB per eight-schools design): the compiled sampler is all that is needed again.
    jax.clear_caches()
    (hits, misses), (hits_before, misses_before) = _CacheEvents.count(), before
    if not cached:
        notes.append("compiled; no cache folder")
    elif misses > misses_before:
        notes.append(f"compiled, kept in {compilation_cache_dir()} for next time")
    else:
        notes.append(f"from the compilation cache ({hits - hits_before} programs)")
    _SAMPLERS[key] = sampler
    if len(_SAMPLERS) > COMPILED_SAMPLERS:
        _SAMPLERS.popitem(last=False)
    return sampler


_SAMPLERS: collections.OrderedDict = collections.OrderedDict()


class _CacheEvents:
    """Counts of JAX's persistent-cache hits and misses in this process."""

    hits = misses = 0
    listening = False

    @classmethod
    def count(cls) -> tuple[int, int]:
        """Return ``(hits, misses)`` so far; start listening on first use."""
        if not cls.listening:
            import jax.monitoring

            jax.monitoring.register_event_listener(cls.record)
            cls.listening = True
        return cls.hits, cls.misses

    @classmethod
    def record(cls, event: str, **_: object) -> None:
        """Count a cache hit or miss event (JAX calls this for every event)."""
        if event == "/jax/compilation_cache/cache_hits":
            cls.hits += 1
        elif event == "/jax/compilation_cache/cache_misses":
            cls.misses += 1


def _is_static(value: object) -> bool:
    """Whether an argument fixes the model's structure (a count, name or switch)."""
    if isinstance(value, tuple):
        return all(_is_static(item) for item in value)
    return value is None or isinstance(value, bool | int | str | np.integer)


def _register_pytrees(value: object) -> None:
    """Register the dataclasses within ``value`` as JAX pytrees, once per class.

    Their static fields (see :func:`_is_static`) become the tree's structure, the rest its
    leaves; rebuilding one skips ``__init__``, whose checks need concrete numbers.
    """
    import jax

    if isinstance(value, dict | tuple | list):
        for item in value.values() if isinstance(value, dict) else value:
            _register_pytrees(item)
        return
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return
    cls = type(value)
    for field in dataclasses.fields(value):
        _register_pytrees(getattr(value, field.name))
    if cls in _PYTREE_CLASSES:
        return

    def flatten(instance: object) -> tuple[list, tuple]:
        names = [field.name for field in dataclasses.fields(instance)]
        fixed = tuple(
            (name, getattr(instance, name)) for name in names if _is_static(getattr(instance, name))
        )
        varying = tuple(name for name in names if name not in dict(fixed))
        return [getattr(instance, name) for name in varying], (varying, fixed)

    def unflatten(aux: tuple, children: list) -> object:
        varying, fixed = aux
        instance = object.__new__(cls)
        for name, item in (*zip(varying, children, strict=True), *fixed):
            object.__setattr__(instance, name, item)
        return instance

    with contextlib.suppress(ValueError):  # registered already, by its own module
        jax.tree_util.register_pytree_node(cls, flatten, unflatten)
    _PYTREE_CLASSES.add(cls)


_PYTREE_CLASSES: set[type] = set()


def _build_sampler(
    model: Callable,
    static: tuple[tuple[str, object], ...],
    settings: SamplerSettings,
    init: str,
    parallel: bool,
) -> Callable:
    """Build the sampler of every chain for one model structure (to lower and compile).

    Each chain: NUTS initialised (``init``, :data:`INITS`), ``settings.warmup`` adaptation
    steps, then
    ``settings.draws`` kept steps, their latent values constrained and deterministic sites
    added. Chains are mapped over devices (``parallel``) or vectorized.
    """
    import jax
    import jax.numpy as jnp
    import numpyro.infer
    from numpyro.infer import NUTS

    kernel = NUTS(
        functools.partial(model, **dict(static)),
        target_accept_prob=settings.target_accept,
        max_tree_depth=settings.max_tree_depth,
        init_strategy=getattr(numpyro.infer, INITS[init])(),
    )

    def chain(key: jax.Array, kwargs: dict) -> tuple[dict, dict]:
        state = kernel.init(key, settings.warmup, None, model_args=(), model_kwargs=kwargs)

        def kept_of(state) -> dict:
            return {"z": state.z} | {name: of(state) for name, of in SAMPLE_STATS.items()}

        def step(i, carry):
            # One loop over warm-up and sampling (the NUTS step is compiled once, not once
            # per phase); iteration i >= warmup writes row i - warmup of the kept draws.
            state, kept = carry
            state = kernel.sample(state, (), kwargs)
            if settings.progress:
                jax.lax.cond(
                    state.i % PROGRESS_EVERY == 0,
                    lambda: jax.debug.callback(_Progress.advance, PROGRESS_EVERY),
                    lambda: None,
                )
            row = i - settings.warmup
            kept = jax.lax.cond(
                row >= 0,
                lambda kept: jax.tree.map(lambda x, v: x.at[row].set(v), kept, kept_of(state)),
                lambda kept: kept,
                kept,
            )
            return state, kept

        empty = jax.tree.map(
            lambda v: jnp.zeros((settings.draws, *jnp.shape(v)), jnp.result_type(v)),
            kept_of(state),
        )
        _, kept = jax.lax.fori_loop(0, settings.warmup + settings.draws, step, (state, empty))
        draws = jax.vmap(kernel.postprocess_fn((), kwargs))(kept.pop("z"))
        return draws, kept

    if parallel:
        return jax.pmap(chain, in_axes=(0, None))
    return jax.jit(jax.vmap(chain, in_axes=(0, None)))


class _Progress:
    """The progress bar the compiled samplers advance (their callback is this one function)."""

    bar = None

    @classmethod
    def advance(cls, iterations: int) -> None:
        """Move the current bar on by ``iterations`` (of one chain), if there is one."""
        if cls.bar is not None:
            cls.bar.update(int(iterations))


@contextlib.contextmanager
def _progress_bar(settings: SamplerSettings) -> Iterator[None]:
    """Show a bar over every chain's warm-up and sampling iterations (tqdm), if asked to."""
    if not settings.progress:
        yield
        return
    from tqdm.auto import tqdm

    total = settings.chains * (settings.warmup + settings.draws)
    with tqdm(total=total, desc=f"NUTS, {settings.chains} chains", unit="it") as bar:
        _Progress.bar = bar
        try:
            yield
        finally:
            _Progress.bar = None
