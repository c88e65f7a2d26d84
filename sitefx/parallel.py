"""Run many fits at once with dask.distributed.

Prior grids, calibration replicates and leave-one-site-out refits run on a cluster's workers,
one JAX process each.

:class:`Workers` says where tasks run: in this process (the default), on a
:class:`~distributed.LocalCluster` of ``n`` worker processes started for the job, or on an
existing cluster at a scheduler ``address``. :func:`map_tasks` runs one function over labelled
items there and returns the results in the items' order. A task that raises is retried; a
worker that dies mid-task has its task rescheduled by dask. Whatever still fails is reported
with the failed items named (:class:`TaskFailedError`): nothing goes silently missing.
"""

import collections
import logging
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sitefx.backend import optional_module
from sitefx.errors import check_whole

RETRIES = 1
MAX_WORKERS = 256  # local worker processes; a larger cluster is given by --scheduler


class TaskFailedError(RuntimeError):
    """Signal tasks that failed on every try.

    Parameters
    ----------
    failed : dict of str to str
        Each failed item's label and the ``repr`` of its last error; kept as ``failed``.

    Examples
    --------
    >>> try:  # doctest: +ELLIPSIS
    ...     map_tasks(int, ["1", "x"], labels=["one", "ex"])
    ... except TaskFailedError as error:
    ...     print(error)
    1 task(s) failed after 2 tries: ex: ValueError(...)
    """

    def __init__(self, failed: dict[str, str]):
        self.failed = failed
        items = "; ".join(f"{label}: {error}" for label, error in failed.items())
        super().__init__(f"{len(failed)} task(s) failed after {RETRIES + 1} tries: {items}")


@dataclass(frozen=True)
class Workers:
    """Where :func:`map_tasks` runs its tasks.

    Attributes
    ----------
    n : int
        Worker processes of a local cluster started for the job (at most 256); 1 (the
        default) runs the tasks in this process, one after the other.
    address : str or None
        The scheduler of an existing dask cluster (e.g. ``"tcp://10.0.0.5:8786"``); overrides
        ``n``.

    Examples
    --------
    >>> Workers().parallel, Workers(n=2).parallel
    (False, True)
    """

    n: int = 1
    address: str | None = None

    def __post_init__(self) -> None:
        """Check ``n``: a whole number from 1 to 256."""
        check_whole(self.n, "workers (--workers)", low=1, high=MAX_WORKERS)

    @property
    def parallel(self) -> bool:
        """Whether tasks run on a cluster (an address, or more than one worker)."""
        return self.address is not None or self.n > 1

    @contextmanager
    def client(self) -> Iterator[Any]:
        """Connect a dask client to the cluster these settings describe.

        A local cluster (``n`` single-threaded worker processes on 127.0.0.1) is started
        and stopped around the ``with`` block.

        Yields
        ------
        distributed.Client
            The client, closed when the block ends.
        """
        distributed = optional_module("distributed", "running on several workers (--workers)")
        if self.address is not None:
            with distributed.Client(self.address) as client:
                yield client
            return
        cluster = distributed.LocalCluster(
            n_workers=self.n,
            threads_per_worker=1,  # one JAX process per worker, one task at a time
            processes=True,
            host="127.0.0.1",  # scheduler and workers on this machine only
            dashboard_address="127.0.0.1:0",  # loopback, any free port: no clash, no exposure
            silence_logs=logging.ERROR,
        )
        with cluster, distributed.Client(cluster) as client:
            yield client


SERIAL = Workers()


def map_tasks(
    function: Callable[..., Any],
    items: Sequence[Any],
    *,
    labels: Sequence[str],
    workers: Workers = SERIAL,
    progress: Callable[[str], None] | None = None,
    groups: Sequence[Hashable] | None = None,
    **shared: Any,
) -> list[Any]:
    """Return ``[function(item, **shared) for item in items]``, computed on ``workers``.

    Parameters
    ----------
    function : callable
        Called as ``function(item, **shared)``; on a cluster it must be importable by the
        workers (a module-level function).
    items : sequence
        One task per item.
    labels : sequence of str
        One label per item, naming it in progress lines and failures (and dask task keys).
    workers : Workers, default ``Workers()``
        Where the tasks run; by default here, one after the other.
    progress : callable, optional
        Called with a line such as ``"tau-half-normal (3/12 done)"`` as tasks start
        (serially) or finish (on a cluster).
    groups : sequence of hashable, optional
        One key per item: on a cluster, the items of a group are sent to the same worker
        (loosely: an idle worker may still take them), so that fits of one design compile
        their sampler once per group rather than once per worker (see :func:`placement`).
    **shared : object
        Arguments shared by every task (e.g. the data), sent to the cluster once.

    Returns
    -------
    list
        The results in the items' order, whichever worker finished first.

    Raises
    ------
    ValueError
        If there is not one label per item.
    TaskFailedError
        If any task failed on every try (after ``RETRIES`` retries), naming them all.

    Examples
    --------
    >>> map_tasks(pow, [2, 3], labels=["two", "three"], exp=2)
    [4, 9]
    """
    if len(labels) != len(items):
        raise ValueError("one label per item")
    if not items:  # no cluster started for nothing
        return []
    results: list[Any] = [None] * len(items)
    failed = {}
    if not workers.parallel:
        for number, (item, label) in enumerate(zip(items, labels, strict=True)):
            if progress is not None:
                progress(f"{label} ({number + 1}/{len(items)})")
            try:
                results[number] = _with_retries(function, item, shared)
            except Exception as error:  # reported below with the other failures
                failed[label] = repr(error)
        if failed:
            raise TaskFailedError(failed)
        return results
    with workers.client() as client:
        from distributed import as_completed  # installed: the client started

        scattered = {name: client.scatter(value, broadcast=True) for name, value in shared.items()}
        where = placement(groups, list(client.scheduler_info()["workers"]))
        futures = [
            client.submit(
                function,
                item,
                key=f"{label}-{number}",
                retries=RETRIES,
                pure=False,
                **where(number),
                **scattered,
            )
            for number, (item, label) in enumerate(zip(items, labels, strict=True))
        ]
        position = {future.key: number for number, future in enumerate(futures)}
        for done, future in enumerate(as_completed(futures), start=1):
            number = position[future.key]
            if future.status == "error":
                failed[labels[number]] = repr(future.exception())
            else:
                results[number] = future.result()
            if progress is not None:
                progress(f"{labels[number]} ({done}/{len(items)} done)")
    if failed:
        raise TaskFailedError(failed)
    return results


def placement(
    groups: Sequence[Hashable] | None, addresses: Sequence[str]
) -> Callable[[int], dict[str, Any]]:
    """Spread groups of tasks over workers, a group to one worker, the largest groups first.

    Each group goes to the worker with the fewest tasks so far. A task's placement is a
    loose restriction (``allow_other_workers``): dask still moves it to an idle worker when
    the groups are uneven, so grouping never leaves a worker waiting.

    Parameters
    ----------
    groups : sequence of hashable, or None
        Each task's group; None places nothing.
    addresses : sequence of str
        The workers' addresses.

    Returns
    -------
    callable
        Given a task's number, the keyword arguments of ``Client.submit`` that place it
        (none without groups or workers).

    Examples
    --------
    >>> where = placement(["a", "a", "b", "c"], ["tcp://w1", "tcp://w2"])
    >>> [where(number)["workers"] for number in range(4)]
    [['tcp://w1'], ['tcp://w1'], ['tcp://w2'], ['tcp://w2']]
    """
    if groups is None or not addresses:
        return lambda number: {}
    sizes = collections.Counter(groups)
    load = dict.fromkeys(addresses, 0)
    worker_of = {}
    for group, size in sizes.most_common():
        worker_of[group] = min(load, key=load.get)
        load[worker_of[group]] += size
    return lambda number: {"workers": [worker_of[groups[number]]], "allow_other_workers": True}


def _with_retries(function: Callable[..., Any], item: Any, shared: dict) -> Any:
    """Run one task here, retried as dask would; the last try's error propagates."""
    for _ in range(RETRIES):
        try:
            return function(item, **shared)
        except Exception:  # a task's own error, whatever its kind: tried again
            continue
    return function(item, **shared)
