"""Named random streams: every random draw of a fit comes from its own stream.

A fit's seed is spawned into one independent numpy stream per purpose
(:class:`numpy.random.SeedSequence` with the purpose's index as spawn key), so drawing more
of one thing never changes another, and no two purposes reuse the same noise. The NUTS
sampler draws from JAX's own generator, ``jax.random.key(seed)``, a different algorithm
(threefry) independent of these. Before this,
the noise of ``theta_new`` in collapsed fits was the noise already used for the site
effects, which correlated the two.

Purposes
--------
``exact``
    Draws from the exact (quadrature) posterior.
``site_effects``
    Site effects drawn given each NUTS draw of the collapsed records model.
``new_site``
    The effect in a new site, given each draw of ``mu`` and ``tau``.
``integration``
    Monte-Carlo integration of the quantities an exact fit has no closed form for. Its seed
    is :data:`INTEGRATION_SEED`, not the user's: these numbers are part of the fit's
    deterministic result (its tables do not change with ``--seed``); their Monte-Carlo
    error is reported next to them.

Examples
--------
>>> first = rng(1, "exact").standard_normal(3)
>>> again = rng(1, "exact").standard_normal(3)
>>> other = rng(1, "new_site").standard_normal(3)
>>> bool((first == again).all()), bool((first == other).any())
(True, False)
"""

import numpy as np

from sitefx.errors import check_whole

PURPOSES = ("exact", "site_effects", "new_site", "integration")
INTEGRATION_SEED = 20261203
MAX_SEED = 2**63 - 1


def check_seed(seed: object) -> int:
    """The seed as an int; a clear error unless it is an integer in ``[0, 2**63)``."""
    return check_whole(seed, "seed (--seed)", low=0, high=MAX_SEED)


def seed_sequence(seed: int, purpose: str) -> np.random.SeedSequence:
    """The stream of ``purpose`` spawned from ``seed`` (child ``i`` of ``SeedSequence(seed)``
    for the ``i``-th purpose, as :meth:`~numpy.random.SeedSequence.spawn` would make it)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown random stream '{purpose}'; one of {', '.join(PURPOSES)}")
    return np.random.SeedSequence(check_seed(seed), spawn_key=(PURPOSES.index(purpose),))


def rng(seed: int, purpose: str) -> np.random.Generator:
    """A numpy generator on the stream of ``purpose``."""
    return np.random.default_rng(seed_sequence(seed, purpose))
