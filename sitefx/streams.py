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
``predictive``
    Replicated data (posterior predictive) and draws from the priors (prior and prior
    predictive) stored with a fit.
``integration``
    Monte-Carlo integration of the quantities an exact fit has no closed form for. Its seed
    is :data:`INTEGRATION_SEED`, not the user's: these numbers are part of the fit's
    deterministic result (its tables do not change with ``--seed``); their Monte-Carlo
    error is reported next to them.
``bias``
    The exact draws of the bias models (no bias, PET, PEESE) and the resampling that
    averages the models (:mod:`sitefx.bias`).
``design``
    The simulated trials of a design's assurance and power (:mod:`sitefx.design`).

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

PURPOSES = (
    "exact",
    "site_effects",
    "new_site",
    "integration",
    "predictive",
    "bias",
    "design",
)
INTEGRATION_SEED = 20261203
MAX_SEED = 2**63 - 1


def check_seed(seed: object) -> int:
    """Return the seed as an int after checking it is an integer in ``[0, 2**63)``.

    Parameters
    ----------
    seed : object
        The user's seed (``--seed``).

    Returns
    -------
    int
        The seed.

    Raises
    ------
    SitefxInputError
        If ``seed`` is not a whole number from 0 to ``2**63 - 1``.

    Examples
    --------
    >>> check_seed(20)
    20
    >>> check_seed(-1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sitefx.errors.SitefxInputError: seed (--seed) must be a whole number from 0 to ...; got -1
    """
    return check_whole(seed, "seed (--seed)", low=0, high=MAX_SEED)


def seed_sequence(seed: int, purpose: str) -> np.random.SeedSequence:
    """Return the seed sequence of the stream of ``purpose`` spawned from ``seed``.

    Parameters
    ----------
    seed : int
        The fit's seed, in ``[0, 2**63)``.
    purpose : str
        One of :data:`PURPOSES` (see the module's docstring).

    Returns
    -------
    numpy.random.SeedSequence
        Child ``i`` of ``SeedSequence(seed)`` for the ``i``-th purpose, as
        :meth:`~numpy.random.SeedSequence.spawn` would make it.

    Raises
    ------
    ValueError
        If ``purpose`` is not one of :data:`PURPOSES` (a bug, not a user error).
    SitefxInputError
        If ``seed`` is not a valid seed.

    Examples
    --------
    >>> seed_sequence(1, "new_site").spawn_key
    (2,)
    >>> seed_sequence(1, "new_site").spawn_key == np.random.SeedSequence(1).spawn(3)[2].spawn_key
    True
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown random stream '{purpose}'; one of {', '.join(PURPOSES)}")
    return np.random.SeedSequence(check_seed(seed), spawn_key=(PURPOSES.index(purpose),))


def rng(seed: int, purpose: str) -> np.random.Generator:
    """Return a numpy generator on the stream of ``purpose``.

    Parameters
    ----------
    seed : int
        The fit's seed, in ``[0, 2**63)``.
    purpose : str
        One of :data:`PURPOSES`.

    Returns
    -------
    numpy.random.Generator
        A fresh generator on :func:`seed_sequence` ``(seed, purpose)``: the same draws each
        time it is made.

    Examples
    --------
    >>> float(rng(1, "exact").random()) == float(rng(1, "exact").random())
    True
    """
    return np.random.default_rng(seed_sequence(seed, purpose))
