"""One federated round as one pure function: clients train in parallel, the server aggregates.

    round_fn(state, cohort, key) -> (state, metrics)

The client update is vmapped over the cohort, whose axis is split across the devices of a
mesh; the weighted sums over that axis become cross-device reductions inserted by XLA.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from fassl_jax.federated.aggregators import Aggregator
from fassl_jax.federated.placement import map_clients, weighted_mean


class ServerState(NamedTuple):
    params: Any  # global model params {"encoder": ..., <heads>}
    model_state: Any  # global non-param collections, e.g. {"batch_stats": ...}
    opt_state: optax.OptState  # server optimizer (client optimizer in centralized runs)
    agg_state: Any  # aggregator state; () for FedAvg
    round: jax.Array  # int32 scalar: rounds finished


class DeviceCohort(NamedTuple):
    """A round's cohort on device (see data.clients.Cohort), plus the example pool."""

    examples: jax.Array  # [N, T, F] the resident pool that `batches` index; never copied
    client_ids: jax.Array  # [C] (-1: padding)
    batches: jax.Array  # [C, S, B]
    step_mask: jax.Array  # [C, S]
    weights: jax.Array  # [C]


class ClientUpdate(NamedTuple):
    delta: Any  # client params - global params
    model_state: Any
    loss: jax.Array
    steps: jax.Array


def make_client_update(local_train, client_tx: optax.GradientTransformation):
    """Each client starts from the global model with a fresh client optimizer."""

    def client_update(server, client):
        params, model_state, examples = server
        batches, step_mask, key = client
        result = local_train(
            params, model_state, client_tx.init(params), examples, batches, step_mask, key
        )
        delta = jax.tree.map(jnp.subtract, result.params, params)
        return ClientUpdate(delta, result.model_state, result.loss, result.steps)

    return client_update


def make_round(
    client_update,
    aggregator: Aggregator,
    server_tx: optax.GradientTransformation,
    mesh=None,
    clients_in_parallel: int | None = None,
):
    """clients_in_parallel: per device, how many clients train at once (see map_clients)."""

    def round_fn(state: ServerState, cohort: DeviceCohort, key: jax.Array):
        # A client's randomness depends on its id, not its slot, so padding changes nothing.
        keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, cohort.client_ids)
        shared = (state.params, state.model_state, cohort.examples)
        per_client = (cohort.batches, cohort.step_mask, keys)
        updates = map_clients(client_update, shared, per_client, mesh, clients_in_parallel)
        delta, agg_state = aggregator.update(updates.delta, cohort.weights, state.agg_state)
        pseudo_grad = jax.tree.map(jnp.negative, delta)
        server_updates, opt_state = server_tx.update(pseudo_grad, state.opt_state, state.params)
        new_state = ServerState(
            params=optax.apply_updates(state.params, server_updates),
            model_state=weighted_mean(updates.model_state, cohort.weights),
            opt_state=opt_state,
            agg_state=agg_state,
            round=state.round + 1,
        )
        metrics = {
            "loss": weighted_mean(updates.loss, cohort.weights),
            "clients": (cohort.weights > 0).sum(),
        }
        return new_state, metrics

    return round_fn


def make_centralized_round(local_train):
    """Centralized training through the same step code: the cohort is one client holding
    every clip, and the optimizer state carries over between rounds."""

    def round_fn(state: ServerState, cohort: DeviceCohort, key: jax.Array):
        result = local_train(
            state.params,
            state.model_state,
            state.opt_state,
            cohort.examples,
            cohort.batches[0],
            cohort.step_mask[0],
            jax.random.fold_in(key, 0),
        )
        new_state = state._replace(
            params=result.params,
            model_state=result.model_state,
            opt_state=result.opt_state,
            round=state.round + 1,
        )
        return new_state, {"loss": result.loss, "clients": jnp.int32(1)}

    return round_fn
