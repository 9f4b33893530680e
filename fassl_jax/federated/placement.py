"""Placement of work on the client axis (axis 0, split across devices) and back to the server."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

CLIENTS = "clients"


def client_mesh(devices=None) -> Mesh:
    """A 1-D mesh over the given (default: all) devices, its one axis for clients."""
    devices = np.asarray(devices if devices is not None else jax.devices())
    return Mesh(devices, (CLIENTS,), axis_types=(AxisType.Auto,))


def split_clients(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(CLIENTS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def map_clients(
    fn: Callable, shared, per_client, mesh: Mesh | None = None, in_parallel: int | None = None
):
    """fn(shared, client) for every client; outputs keep the client axis first (and split).

    Each device takes an equal share of the clients (the cohort is padded to a multiple of
    the device count). A device trains `in_parallel` of its clients at once (vmap) and loops
    over such groups (lax.map); None trains all of them at once. Looping bounds memory, and
    on CPU it keeps every convolution an ordinary batched one rather than a grouped one.
    """
    n = jax.tree.leaves(per_client)[0].shape[0]
    devices = mesh.size if mesh is not None else 1
    if n % devices:
        raise ValueError(f"{n} clients do not split evenly over {devices} devices; pad the cohort")

    def on_one_device(clients):
        share = jax.tree.leaves(clients)[0].shape[0]
        if in_parallel is None or in_parallel >= share:
            return jax.vmap(fn, in_axes=(None, 0))(shared, clients)
        return jax.lax.map(lambda c: fn(shared, c), clients, batch_size=in_parallel)

    if devices == 1:
        return on_one_device(per_client)
    # [C, ...] -> [devices, C / devices, ...]; the leading axis carries the device split.
    shares = jax.tree.map(lambda x: x.reshape(devices, n // devices, *x.shape[1:]), per_client)
    shares = jax.lax.with_sharding_constraint(shares, split_clients(mesh))
    out = jax.vmap(on_one_device)(shares)
    out = jax.lax.with_sharding_constraint(out, split_clients(mesh))
    out = jax.tree.map(lambda x: x.reshape(n, *x.shape[2:]), out)
    return jax.lax.with_sharding_constraint(out, split_clients(mesh))


def weighted_mean(tree, weights: jax.Array):
    """Clients -> server: sum_i w_i x_i / sum_i w_i over the client axis."""
    total = weights.sum()
    return jax.tree.map(lambda x: jnp.tensordot(weights, x, axes=1) / total, tree)
