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


def map_reduce_clients(
    fn: Callable,
    summarize: Callable,
    merge: Callable,
    shared,
    per_client,
    mesh: Mesh | None = None,
    in_parallel: int | None = None,
    per_group: Callable | None = None,
):
    """fn(shared, client, group_info) -> (report, kept) for every client; returns (summary,
    kept), kept with the client axis first (and split across devices).

    The reports are never stacked over the cohort: summarize(reports of a group, client axis
    first) -> summary and merge(a, b) -> the summary of both groups (summaries.py), and
    summarize must give a group of all-zero reports the identity (zero weight: padding).

    Each device takes an equal share of the clients (the cohort is padded to a multiple of
    the device count). A device trains `in_parallel` of its clients at once (vmap) and loops
    over such groups (lax.scan), merging each group's summary into a running one: memory is
    bounded by the group, whatever the cohort. None trains the whole share at once. On CPU
    the loop keeps every convolution an ordinary batched one rather than a grouped one.

    per_group(clients of a group, client axis first) -> group_info, passed to fn unbatched
    (None without per_group). The devices run their groups in lockstep, so group g's info
    is computed over group g of every device: an unbatched value lets fn branch for real
    (lax.cond) rather than compute both sides, as a per-client predicate would under vmap.
    """
    n = jax.tree.leaves(per_client)[0].shape[0]
    devices = mesh.size if mesh is not None else 1
    if n % devices:
        raise ValueError(f"{n} clients do not split evenly over {devices} devices; pad the cohort")
    share = n // devices
    size = share if in_parallel is None else min(in_parallel, share)
    loops, rest = divmod(share, size)

    def infos(split):
        """[groups, ...] info per group, over every device's group; split: [devices, share]."""
        if per_group is None:
            return None
        looped = jax.tree.map(
            lambda x: (
                x[:, : loops * size]
                .reshape(devices, loops, size, *x.shape[2:])
                .swapaxes(0, 1)
                .reshape(loops, devices * size, *x.shape[2:])
            ),
            split,
        )
        out = jax.vmap(per_group)(looped)
        if rest:
            last = jax.tree.map(lambda x: x[:, loops * size :].reshape(-1, *x.shape[2:]), split)
            out = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), out, per_group(last))
        return out

    def group(clients, info):
        if jax.tree.leaves(clients)[0].shape[0] == 1:
            # One client without vmap: on CPU a vmap of one client's step ran 1.5x slower
            # (its convolutions' kernels gain a batch axis, RESULTS.md).
            out = fn(shared, jax.tree.map(lambda x: x[0], clients), info)
            report, kept = jax.tree.map(lambda x: x[None], out)
        else:
            report, kept = jax.vmap(fn, in_axes=(None, 0, None))(shared, clients, info)
        return summarize(report), kept

    def at(info, g):
        return None if info is None else jax.tree.map(lambda x: x[g], info)

    def on_one_device(clients, info):
        if loops == 1 and not rest:
            return group(clients, at(info, 0))
        one = jax.tree.map(lambda x: x[0], clients)
        report_shape = jax.eval_shape(lambda c: fn(shared, c, at(info, 0))[0], one)
        nothing = summarize(jax.tree.map(lambda s: jnp.zeros((1, *s.shape), s.dtype), report_shape))

        def step(summary, xs):
            group_summary, kept = group(*xs)
            return merge(summary, group_summary), kept

        looped = jax.tree.map(
            lambda x: x[: loops * size].reshape(loops, size, *x.shape[1:]), clients
        )
        looped_info = None if info is None else jax.tree.map(lambda x: x[:loops], info)
        summary, kept = jax.lax.scan(step, nothing, (looped, looped_info))
        kept = jax.tree.map(lambda x: x.reshape(loops * size, *x.shape[2:]), kept)
        if rest:
            last = jax.tree.map(lambda x: x[loops * size :], clients)
            last_summary, last_kept = group(last, at(info, loops))
            summary = merge(summary, last_summary)
            kept = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), kept, last_kept)
        return summary, kept

    # [C, ...] -> [devices, C / devices, ...]; the leading axis carries the device split.
    shares = jax.tree.map(lambda x: x.reshape(devices, share, *x.shape[1:]), per_client)
    info = infos(shares)
    if devices == 1:
        return on_one_device(per_client, info)
    shares = jax.lax.with_sharding_constraint(shares, split_clients(mesh))
    per_device, kept = jax.vmap(on_one_device, in_axes=(0, None))(shares, info)
    kept = jax.lax.with_sharding_constraint(kept, split_clients(mesh))
    kept = jax.tree.map(lambda x: x.reshape(n, *x.shape[2:]), kept)
    kept = jax.lax.with_sharding_constraint(kept, split_clients(mesh))
    return merge_stacked(merge, per_device), kept


def merge_stacked(merge: Callable, stacked):
    """The merge of summaries stacked on axis 0 (one per device), by halving: log2(n) rounds
    of vmapped merges."""

    def rows(tree, start, stop):
        return jax.tree.map(lambda x: x[start:stop], tree)

    n = jax.tree.leaves(stacked)[0].shape[0]
    while n > 1:
        half = n // 2
        merged = jax.vmap(merge)(rows(stacked, 0, half), rows(stacked, half, 2 * half))
        odd = rows(stacked, 2 * half, n)
        stacked = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), merged, odd)
        n = half + n % 2
    return jax.tree.map(lambda x: x[0], stacked)
