"""JAX set-up that must happen before JAX starts: CPU devices for parallel chains, float64.

Called once from ``sitefx/__init__.py``. If the user's program has already started JAX, the
device count can no longer change; the NUTS runner then vectorizes chains instead.
"""

import os

import numpyro

MIN_DEVICES = 4


def configure() -> None:
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        numpyro.set_host_device_count(max(MIN_DEVICES, os.cpu_count() or 1))
    numpyro.enable_x64()
