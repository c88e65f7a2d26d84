"""The JAX back end, set up when sitefx computes, never on import.

Importing sitefx changes nothing in JAX. Each sitefx function that runs JAX is wrapped in
:func:`double_precision`, which

- computes in float64 within the call only (``jax.enable_x64`` as a context): quadrature-level
  agreement with references and stable importance weights need it, and a user's own JAX code
  in the same process keeps its precision;
- asks XLA, before JAX's first computation in the process, for ``max(4, CPUs)`` CPU devices
  so that NUTS chains run in parallel. This is process-wide and only possible before JAX
  starts; set ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` yourself to choose N (1
  keeps JAX's default). With fewer devices than chains, chains are vectorized instead.

Compiled programs are kept on disk, in JAX's persistent compilation cache
(:func:`use_compilation_cache`), so that no process waits twice for the compiler to build the
same sampler. The folder is :func:`cache_dir`: ``SITEFX_CACHE_DIR`` if set, else the user's
cache folder (``$XDG_CACHE_HOME/sitefx`` or ``~/.cache/sitefx`` on Linux, as platformdirs
says elsewhere). JAX's cache is safe under concurrent processes (file locks) and bounded: the
least recently used programs go beyond ``CACHE_MAX_BYTES``. ``sitefx cache clear`` empties it.

ArviZ is imported through this module (``from sitefx.backend import arviz_stats``), which
then takes out of ``sys.modules`` the placeholders arviz-base leaves there for JAX and
numpyro (lazy_loader): scipy and matplotlib, seeing ``"jax"`` there, would import JAX to test
whether an array is a JAX array, a second of start-up on paths that never use it (the exact
method, reports). A later ``import jax`` loads it as usual.

Dask and distributed are optional (``pip install 'sitefx[dask]'``): only out-of-core reading
and work on a cluster need them; so is pyreadstat (``pip install 'sitefx[stata]'``), which
only Stata and SPSS files need. :func:`optional_module` names the extra when one is
missing.

Examples
--------
>>> import jax.numpy as jnp
>>> @double_precision
... def total(values):
...     return jnp.sum(jnp.asarray(values))
>>> str(total([0.1, 0.2]).dtype)
'float64'
"""

import functools
import importlib
import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from sitefx.errors import SitefxInputError

MIN_DEVICES = 4
DEVICE_FLAG = "--xla_force_host_platform_device_count"
ARVIZ = ("arviz_base", "arviz_stats")
CACHE_ENV = "SITEFX_CACHE_DIR"
CACHE_MAX_BYTES = 2**30  # the compilation cache keeps at most 1 GiB
# Programs that compile faster than this are not stored: a sampler takes seconds, while the
# many small programs around it would fill the folder, and the cache scans it on each write.
CACHE_MIN_SECONDS = 0.2
# Optional dependencies -> the extra that installs them.
EXTRAS = {"dask": "dask", "distributed": "dask", "pyreadstat": "stata"}


def request_devices() -> None:
    """Ask XLA for ``max(4, CPUs)`` CPU devices, unless ``XLA_FLAGS`` already says how many.

    Appends ``--xla_force_host_platform_device_count=N`` to the environment variable
    ``XLA_FLAGS`` (process-wide). Takes effect only if JAX has not computed anything yet in
    this process; afterwards it changes nothing that JAX reads.

    Examples
    --------
    >>> import os
    >>> request_devices()
    >>> DEVICE_FLAG in os.environ["XLA_FLAGS"]
    True
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if DEVICE_FLAG not in flags:
        count = max(MIN_DEVICES, os.cpu_count() or 1)
        os.environ["XLA_FLAGS"] = f"{flags} {DEVICE_FLAG}={count}".strip()


def cache_dir() -> Path:
    """Return sitefx's cache folder: ``SITEFX_CACHE_DIR``, else the user's cache folder.

    Returns
    -------
    Path
        ``$SITEFX_CACHE_DIR`` when set and not empty; otherwise platformdirs' user cache
        folder for sitefx (on Linux ``$XDG_CACHE_HOME/sitefx``, by default
        ``~/.cache/sitefx``). Not created here.

    Examples
    --------
    >>> import os
    >>> os.environ["SITEFX_CACHE_DIR"] = "/tmp/sitefx-cache"
    >>> str(cache_dir())
    '/tmp/sitefx-cache'
    >>> del os.environ["SITEFX_CACHE_DIR"]
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("sitefx", appauthor=False))


def compilation_cache_dir() -> Path:
    """Return the folder of JAX's persistent compilation cache: ``jax/`` in :func:`cache_dir`.

    Returns
    -------
    Path
        The folder (not created here).

    Examples
    --------
    >>> compilation_cache_dir().name
    'jax'
    """
    return cache_dir() / "jax"


def use_compilation_cache() -> bool:
    """Turn on JAX's persistent compilation cache in :func:`compilation_cache_dir`.

    Programs that took at least ``CACHE_MIN_SECONDS`` to compile are stored, up to
    ``CACHE_MAX_BYTES``, least recently used first out. A folder that cannot be created
    leaves the cache off, with no error: fits still run, they compile. Called before each
    fit, so a change of ``SITEFX_CACHE_DIR`` in the process takes effect.

    Returns
    -------
    bool
        Whether the cache is on.

    Examples
    --------
    >>> import os, tempfile
    >>> os.environ["SITEFX_CACHE_DIR"] = tempfile.mkdtemp()
    >>> use_compilation_cache()
    True
    >>> del os.environ["SITEFX_CACHE_DIR"]
    """
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    folder = compilation_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    if jax.config.jax_compilation_cache_dir != str(folder):
        compilation_cache.reset_cache()  # the next compilation opens the new folder
        jax.config.update("jax_compilation_cache_dir", str(folder))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_SECONDS)
        jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
    return True


def clear_cache() -> tuple[Path, int]:
    """Delete sitefx's cache folder (:func:`cache_dir`) and everything in it.

    Returns
    -------
    folder : Path
        The folder deleted.
    size : int
        The bytes it held (0 if it did not exist).

    Examples
    --------
    >>> import os, tempfile
    >>> os.environ["SITEFX_CACHE_DIR"] = tempfile.mkdtemp()
    >>> clear_cache()[1]
    0
    >>> del os.environ["SITEFX_CACHE_DIR"]
    """
    folder = cache_dir()
    size = cache_size()
    shutil.rmtree(folder, ignore_errors=True)
    return folder, size


def cache_size() -> int:
    """Return the bytes held in sitefx's cache folder (0 if it does not exist).

    Returns
    -------
    int
        The sum of the files' sizes.

    Examples
    --------
    >>> isinstance(cache_size(), int)
    True
    """
    folder = cache_dir()
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def double_precision[**P, R](function: Callable[P, R]) -> Callable[P, R]:
    """Make ``function`` compute in float64 JAX, within each call only.

    Each call first requests the CPU devices (:func:`request_devices`), then runs
    ``function`` inside ``jax.enable_x64(True)``; outside the call, JAX keeps the precision
    the user chose. See the module docstring.

    Parameters
    ----------
    function : callable
        A function that runs JAX.

    Returns
    -------
    callable
        The same function (same name, signature and docstring), computing in float64 within
        each call.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> @double_precision
    ... def third(value):
    ...     return jnp.asarray(value) / 3
    >>> str(third(1.0).dtype), str(jnp.asarray(1.0).dtype)
    ('float64', 'float32')
    """

    @functools.wraps(function)
    def in_double_precision(*args: P.args, **kwargs: P.kwargs) -> R:
        import jax  # here, not at import: the exact method and the CLI need no JAX

        request_devices()
        with jax.enable_x64(True):
            return function(*args, **kwargs)

    return in_double_precision


def __getattr__(name: str) -> ModuleType:
    """Import ``arviz_base`` or ``arviz_stats`` without leaving placeholders (PEP 562).

    See the module docstring: the not-yet-loaded lazy modules arviz-base registers for
    ``jax`` and ``numpyro`` are taken out of ``sys.modules``.
    """
    if name not in ARVIZ:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(name)
    for placeholder in ("jax", "numpyro"):
        if isinstance(sys.modules.get(placeholder), importlib.util._LazyModule):
            del sys.modules[placeholder]
    return module


def optional_module(name: str, purpose: str) -> ModuleType:
    """Import an optional dependency, or say which extra installs it.

    Parameters
    ----------
    name : str
        The module, a key of :data:`EXTRAS` (``"dask"``, ``"distributed"`` or ``"pyreadstat"``).
    purpose : str
        What needs it, for the message (e.g. ``"--engine dask"``).

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    SitefxInputError
        If it is not installed: the message names ``purpose`` and the ``pip install`` line.

    Examples
    --------
    >>> optional_module("dask", "reading out of core").__name__
    'dask'
    """
    try:
        return importlib.import_module(name)
    except ImportError:
        raise SitefxInputError(
            f"{purpose} needs {name}, which is not installed: pip install 'sitefx[{EXTRAS[name]}]'"
        ) from None
