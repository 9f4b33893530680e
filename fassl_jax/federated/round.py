"""One federated round as one pure function: clients train in parallel, the server aggregates.

    round_fn(state, cohort, key) -> (state, metrics, client_states)

The client update is vmapped over the cohort, whose axis is split across the devices of a
mesh; the weighted sums over that axis become cross-device reductions inserted by XLA.
`client_states` are the cohort's kept-local parts after training (see parts.py; an empty
dict when nothing is kept local): they go back to the clients, not into the server state.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from fassl_jax.federated.aggregators import Aggregator, ClientReports
from fassl_jax.federated.parts import ModelParts, replace_leaves, zeros_like_leaves
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
    client_states: Any = None  # [C, ...] kept-local parts, flat by path; None: nothing kept


class ClientUpdate(NamedTuple):
    delta: Any  # client params - global params
    model_state: Any
    loss: jax.Array
    steps: jax.Array
    client_state: Any  # the kept-local parts after training (flat by path)


def _identity(variables):
    return variables


def make_client_update(
    local_train,
    client_tx: optax.GradientTransformation,
    on_receive=_identity,
    parts: ModelParts | None = None,
):
    """Each client starts from the global model (with its own kept-local parts, then the
    method's on_receive) and a fresh client optimizer."""
    parts = parts or ModelParts.build()

    def client_update(server, client):
        variables, examples = server
        client_state, batches, step_mask, key = client
        start = on_receive(replace_leaves(variables, client_state or {}))
        params = start["params"]
        model_state = {col: tree for col, tree in start.items() if col != "params"}
        result = local_train(
            params, model_state, client_tx.init(params), examples, batches, step_mask, key
        )
        delta = jax.tree.map(jnp.subtract, result.params, variables["params"])
        end = {"params": result.params, **result.model_state}
        return ClientUpdate(delta, result.model_state, result.loss, result.steps, parts.local(end))

    return client_update


def make_round(
    client_update,
    aggregator: Aggregator,
    server_tx: optax.GradientTransformation,
    mesh=None,
    clients_in_parallel: int | None = None,
    parts: ModelParts | None = None,
):
    """clients_in_parallel: per device, how many clients train at once (see map_clients)."""
    parts = parts or ModelParts.build()

    def round_fn(state: ServerState, cohort: DeviceCohort, key: jax.Array):
        # A client's randomness depends on its id, not its slot, so padding changes nothing.
        keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, cohort.client_ids)
        variables = {"params": state.params, **state.model_state}
        per_client = (cohort.client_states, cohort.batches, cohort.step_mask, keys)
        updates = map_clients(
            client_update, (variables, cohort.examples), per_client, mesh, clients_in_parallel
        )
        # Kept-local params take no part in aggregation or the server optimizer.
        local_params = {k: v for k, v in updates.client_state.items() if k[0] == "params"}
        deltas = replace_leaves({"params": updates.delta}, zeros_like_leaves(local_params))
        reports = ClientReports(deltas["params"], cohort.weights, updates.loss)
        delta, agg_state = aggregator.update(reports, state.agg_state, state.params)
        pseudo_grad = jax.tree.map(jnp.negative, delta)
        server_updates, opt_state = server_tx.update(pseudo_grad, state.opt_state, state.params)
        new = {
            "params": optax.apply_updates(state.params, server_updates),
            **state.model_state,  # private collections keep the server's (initial) value
            **weighted_mean(parts.shared_state(updates.model_state), cohort.weights),
        }
        # Kept-local parts of the encoder (FedBN's norms): the server's copy is their mean, to
        # evaluate the global encoder with; it is never broadcast. Kept-local heads are never
        # aggregated: the server keeps their initial value, which new clients start from.
        kept = parts.local(variables)
        encoder_parts = {k: v for k, v in updates.client_state.items() if k[1] == "encoder"}
        heads = {k: v for k, v in kept.items() if k[1] != "encoder"}
        new = replace_leaves(new, {**heads, **weighted_mean(encoder_parts, cohort.weights)})
        new_state = ServerState(
            params=new.pop("params"),
            model_state=new,
            opt_state=opt_state,
            agg_state=agg_state,
            round=state.round + 1,
        )
        metrics = {
            "loss": weighted_mean(updates.loss, cohort.weights),
            "clients": (cohort.weights > 0).sum(),
        }
        return new_state, metrics, updates.client_state

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
        return new_state, {"loss": result.loss, "clients": jnp.int32(1)}, {}

    return round_fn
