"""Many processes, one round: JAX's multi-controller runtime (`jax.distributed`).

Every process runs the same program on the same seeded cohorts. The client mesh spans the
devices of all processes (placement.client_mesh over jax.devices()), so the cohort's client
axis is split across hosts exactly as across one host's devices; each process feeds and
reads only its own devices' shares. Process 0 writes the run's files.

  # two processes (on two hosts, or one machine): the same command, its own process_id
  python -m fassl_jax.main --config=... --workdir=runs/x \
      --coordinator=host0:12345 --num_processes=2 --process_id=0
  # TPU pod slices, Slurm, Open MPI: JAX finds the coordinator and ids itself
  python -m fassl_jax.main --config=... --workdir=runs/x --distributed

The same settings may come from the environment: JAX_COORDINATOR_ADDRESS,
FASSL_NUM_PROCESSES, FASSL_PROCESS_ID.
"""

import itertools
import os

import jax
import numpy as np
from jax.experimental import multihost_utils


def initialize(
    coordinator: str = "", num_processes: int = 0, process_id: int = -1, auto: bool = False
) -> bool:
    """jax.distributed.initialize from flags or the environment; False (nothing done) when
    neither asks for more than one process. Call before any other JAX work."""
    env = os.environ
    coordinator = coordinator or env.get("JAX_COORDINATOR_ADDRESS", "")
    num_processes = num_processes or int(env.get("FASSL_NUM_PROCESSES", "0"))
    if process_id < 0:
        process_id = int(env.get("FASSL_PROCESS_ID", "-1"))
    if not (coordinator or auto):
        if num_processes > 1 or process_id >= 0:
            raise ValueError(
                "a process id or count was given without a coordinator: pass "
                "--coordinator=HOST:PORT (process 0's address), or --distributed on a TPU pod, "
                "Slurm or Open MPI"
            )
        return False
    jax.distributed.initialize(
        coordinator_address=coordinator or None,
        num_processes=num_processes or None,
        process_id=process_id if process_id >= 0 else None,
    )
    return True


def is_writer() -> bool:
    """Whether this process writes the run's files (process 0)."""
    return jax.process_index() == 0


def put(tree, sharding):
    """Host arrays, the same on every process, onto `sharding` (over all processes' devices):
    each process hands over only its own devices' slices."""
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def one(x):
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    return jax.tree.map(one, tree)


def fetch(tree):
    """Device arrays as whole host (NumPy) arrays on every process: a replicated array from
    this process's copy, a sharded one gathered from all processes."""
    if jax.process_count() == 1:
        return jax.device_get(tree)

    def one(x):
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return jax.device_get(x)
        if x.is_fully_replicated:
            return np.asarray(x.addressable_data(0))
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))

    return jax.tree.map(one, tree)


_barriers = itertools.count()


def compile_together(jitted, *args) -> None:
    """Multi-process: compiles `jitted` for these arguments, then waits at a barrier of the
    coordination service until every process has. Processes compile at different speeds,
    and the first collective that CPU (gloo) runs gives its peers 30 s to arrive; without
    the barrier a process still compiling makes the others fail. A later call with the same
    shapes reuses the compiled program."""
    if jax.process_count() == 1:
        return
    jitted.lower(*args).compile()
    barrier("compiled")


def barrier(what: str, timeout_s: int = 3600) -> None:
    """Multi-process: every process waits here for all the others (the coordination
    service's barrier, not a device collective; generous timeout: big compiles)."""
    if jax.process_count() == 1:
        return
    from jax._src import distributed as jax_distributed  # the client JAX started

    name = f"fassl_jax_{what}_{next(_barriers)}"
    jax_distributed.global_state.client.wait_at_barrier(name, timeout_s * 1000)


def any_process(flag: bool) -> bool:
    """Whether `flag` holds on any process (all processes must call it): a decision every
    process then takes alike, e.g. to stop after this round."""
    if jax.process_count() == 1:
        return flag
    return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))
