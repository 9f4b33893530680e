"""Every test runs on 4 fake CPU devices (set before JAX starts), like equinox's conftest.

Compile time dominates these tiny models, so compiled programs are cached on disk: the
subprocess CLI tests and repeated runs of one config compile once.
"""

import os
import tempfile

os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "fassl_jax_test_xla_cache")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

import jax  # noqa: E402  (after the cache settings)
import pytest  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_numpy_dtype_promotion", "strict")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FSDD = os.environ.get("FASSL_DATA_DIR") or os.path.join(REPO, "..", "shared", "data")


@pytest.fixture(scope="session")
def fsdd_dir() -> str:
    """The real FSDD recordings folder; the tests that use it fail (never skip) without it."""
    from fassl_jax.data.spoken_digit import find_recordings

    return find_recordings(FSDD)
