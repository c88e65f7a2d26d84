"""The peak memory of a benchmark's own process (shared by the scripts run in subprocesses)."""

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    Reads ``VmHWM`` from /proc/self/status: it belongs to this program alone. ``ru_maxrss``
    is the fallback elsewhere, but on Linux it carries over the parent's resident size at
    fork (here: the pytest process that runs the benchmarks) through exec.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
