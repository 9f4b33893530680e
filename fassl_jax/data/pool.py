"""Where a round reads its clips: the whole pretraining pool resident on the devices, or, for
pools larger than the memory budget, only the clips of the round's cohort.

`data.pool`: "resident", "cohort", or "auto" (resident when the float32 pool fits in
`data.pool_gb`). Cohort mode reads the sampled clients' clips from the (memory-mapped) pool
into a buffer of clients x steps x batch, and renumbers the cohort's batches to index it:
the round computes exactly what it would on the resident pool (and compiles once per step
bucket, as there).
"""

import math
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import jax
import numpy as np

from fassl_jax import distributed
from fassl_jax.data.clients import Cohort
from fassl_jax.errors import ConfigError
from fassl_jax.federated import placement

MODES = ("auto", "resident", "cohort")


def resolve_mode(mode: str, pool_shape: tuple[int, ...], budget_gb: float) -> str:
    if mode not in MODES:
        raise ConfigError(f"config.data.pool={mode!r} is not known; choose one of: {MODES}")
    if mode != "auto":
        return mode
    return "resident" if math.prod(pool_shape) * 4 <= budget_gb * 2**30 else "cohort"


def gather_cohort(pool: np.ndarray, batches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(clips [batches.size, T, F] float32, batches renumbered into them). Each distinct clip
    is read once, in pool order (sequential reads of a memory map); the rest is zeros."""
    ids = np.unique(batches)
    clips = np.zeros((batches.size, *pool.shape[1:]), np.float32)
    clips[: len(ids)] = pool[ids]
    return clips, np.searchsorted(ids, batches).astype(np.int32)


class ClientPool:
    def __init__(self, clips: np.ndarray, data_config, mesh):
        self.clips = clips
        self.mode = resolve_mode(data_config.pool, clips.shape, data_config.pool_gb)
        self.sharding = placement.replicated(mesh)
        self.resident = None
        if self.mode == "resident":
            self.resident = distributed.put(np.asarray(clips, np.float32), self.sharding)

    def for_cohort(self, cohort: Cohort) -> tuple[Cohort, jax.Array]:
        """The cohort (renumbered in cohort mode) and the clips its batches index."""
        if self.resident is not None:
            return cohort, self.resident
        clips, batches = gather_cohort(self.clips, cohort.batches)
        return cohort._replace(batches=batches), distributed.put(clips, self.sharding)


class Prefetch:
    """Round r + 1's inputs made in a background thread while round r computes: make(r) is
    the host work that needs no earlier round's result (sampling, the schedule, the cohort's
    clips read from the memory map and sent to the devices). One round ahead at most, so
    host and device memory hold two cohorts' clips (cohort mode), never the corpus."""

    def __init__(self, make: Callable[[int], object]):
        self.make = make
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch")
        self.pending: dict[int, Future] = {}

    def start(self, r: int) -> None:
        if r not in self.pending:
            self.pending[r] = self.worker.submit(self.make, r)

    def get(self, r: int):
        self.start(r)
        return self.pending.pop(r).result()

    def close(self) -> None:
        self.worker.shutdown(wait=True, cancel_futures=True)
