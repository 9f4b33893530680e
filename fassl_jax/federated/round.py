"""One federated round as one pure function: clients train in parallel, the server aggregates.

    round_fn(state, cohort, key) -> (state, metrics, client_states)

The client update is vmapped over groups of the cohort, whose axis is split across the
devices of a mesh; each group's reports are summed into a running summary (summaries.py), so
no client's delta outlives its group. `client_states` are the cohort's kept-local parts
after training (see parts.py; an empty dict when nothing is kept local): they go back to
the clients, not into the server state.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fassl_jax.federated.aggregators import Aggregator, ClientReports
from fassl_jax.federated.parts import ModelParts, replace_leaves, zeros_like_leaves
from fassl_jax.federated.placement import map_reduce_clients
from fassl_jax.federated.summaries import add, mean, weighted_sum


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


class RoundSummary(NamedTuple):
    """What the server keeps of the clients trained so far (see summaries.py)."""

    aggregate: Any  # the aggregator's summary of the client deltas
    means: Any  # weighted sums of (kept-local encoder parts, loss)
    clients: jax.Array  # real (not padding) clients whose reports count
    rejected: jax.Array  # clients left out because their update was not finite


def _identity(variables):
    return variables


def make_client_update(
    local_train,
    client_tx: optax.GradientTransformation,
    on_receive=_identity,
    parts: ModelParts | None = None,
):
    """Each client starts from the global model (with its own kept-local parts, then the
    method's on_receive) and a fresh client optimizer. `steps_to_run` ([S] bool, shared by
    the client's group, or None): the steps that some client of the group takes."""
    parts = parts or ModelParts.build()

    def client_update(server, client, steps_to_run=None):
        variables, examples = server
        client_state, batches, step_mask, key = client
        start = on_receive(replace_leaves(variables, client_state or {}))
        params = start["params"]
        model_state = {col: tree for col, tree in start.items() if col != "params"}
        result = local_train(
            params,
            model_state,
            client_tx.init(params),
            examples,
            batches,
            step_mask,
            key,
            steps_to_run,
        )
        delta = jax.tree.map(jnp.subtract, result.params, variables["params"])
        end = {"params": result.params, **result.model_state}
        return ClientUpdate(delta, result.model_state, result.loss, result.steps, parts.local(end))

    return client_update


class Attack(NamedTuple):
    """Simulated poisoned clients (config fl.attack): round(fraction x population) clients,
    chosen once by a seeded hash of their ids (the same in every round), send a corrupted
    params delta d: "sign_flip" -scale * d, "scale" scale * d, "noise" d + scale * N(0, 1)
    per coordinate. Build it with `attack_on`, which sets the hash threshold."""

    kind: str = ""  # "": no attack
    fraction: float = 0.0
    scale: float = 1.0
    seed: int = 0
    count: int = 0  # how many clients of the population are malicious
    threshold: int = 0  # a client is malicious when its id's hash <= threshold (and count > 0)


ATTACKS = ("", "sign_flip", "scale", "noise")


def client_hashes(seed: int, client_ids) -> jax.Array:
    """A seeded uint32 hash per client id."""
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(jax.random.key(seed), client_ids)
    return jax.vmap(lambda k: jax.random.bits(k, dtype=jnp.uint32))(keys)


def attack_on(kind: str, fraction: float, scale: float, seed: int, num_clients: int) -> Attack:
    """The attack with exactly round(fraction x num_clients) malicious clients: those whose
    hashes are the smallest (a hash tie at the cut, about count x num_clients / 2^32 likely,
    would add one)."""
    count = int(round(fraction * num_clients)) if kind else 0
    threshold = 0
    if count:
        hashes = np.asarray(client_hashes(seed, jnp.arange(num_clients, dtype=jnp.int32)))
        threshold = int(np.partition(hashes, count - 1)[count - 1])
    return Attack(kind, fraction, scale, seed, count, threshold)


def is_malicious(attack: Attack, client_ids: jax.Array) -> jax.Array:
    """Whether each client id is one of the attack's clients (the same in every round)."""
    if attack.count == 0:
        return jnp.zeros(client_ids.shape, bool)
    below = client_hashes(attack.seed, client_ids) <= jnp.uint32(attack.threshold)
    return below & (client_ids >= 0)


def poison(attack: Attack, delta, key: jax.Array):
    if attack.kind == "sign_flip":
        return jax.tree.map(lambda d: -attack.scale * d, delta)
    if attack.kind == "scale":
        return jax.tree.map(lambda d: attack.scale * d, delta)
    if attack.kind == "noise":
        leaves, tree = jax.tree.flatten(delta)
        keys = jax.random.split(key, len(leaves))
        noisy = [d + attack.scale * jax.random.normal(k, d.shape, d.dtype)
                 for d, k in zip(leaves, keys, strict=True)]  # fmt: skip
        return jax.tree.unflatten(tree, noisy)
    raise ValueError(f"unknown attack {attack.kind!r}; choose one of {ATTACKS}")


def make_round(
    client_update,
    aggregator: Aggregator,
    server_tx: optax.GradientTransformation,
    mesh=None,
    clients_in_parallel: int | None = None,
    parts: ModelParts | None = None,
    attack: Attack | None = None,
):
    """clients_in_parallel: per device, how many clients train at once (see
    map_reduce_clients). attack: simulated poisoned clients (none by default)."""
    parts = parts or ModelParts.build()
    attack = attack or Attack()

    def round_fn(state: ServerState, cohort: DeviceCohort, key: jax.Array):
        def client_report(shared, client, steps_to_run):
            *inputs, weight, slot, malicious = client
            update = client_update(shared, tuple(inputs), steps_to_run)
            if attack.kind:
                key = jax.random.fold_in(inputs[3], 0xA77AC)  # the client's own key
                bad = poison(attack, update.delta, key)
                delta_params = jax.tree.map(
                    lambda b, d: jnp.where(malicious, b, d), bad, update.delta
                )
                update = update._replace(delta=delta_params)
            # Kept-local params take no part in aggregation or the server optimizer.
            kept = update.client_state
            local_params = {k: v for k, v in kept.items() if k[0] == "params"}
            delta = replace_leaves({"params": update.delta}, zeros_like_leaves(local_params))
            encoder_parts = {k: v for k, v in kept.items() if k[1] == "encoder"}
            # The shared model state (BatchNorm statistics, BYOL's target) goes through the
            # rule's mix with the params, as the papers' code aggregates whole state dicts.
            state_delta = jax.tree.map(
                jnp.subtract, parts.shared_state(update.model_state), global_state
            )
            # Kept-local statistics (FedBN) are not the server's either: zero in the mix.
            local_state = {k: v for k, v in kept.items() if k[0] in state_delta}
            state_delta = replace_leaves(state_delta, zeros_like_leaves(local_state))
            deltas = {"params": delta["params"], "state": state_delta}
            # A client whose update, loss or kept parts are not finite (a diverged or broken
            # client) is left out of the round like a padding slot, and counted; it keeps the
            # parts it started the round with.
            finite = jnp.isfinite(update.loss)
            for leaf in jax.tree.leaves((deltas, kept)):
                finite &= jnp.all(jnp.isfinite(leaf))
            rejected = (weight > 0) & ~finite
            weight = jnp.where(finite, weight, 0)
            zero_unless_finite = lambda t: jax.tree.map(lambda d: jnp.where(finite, d, 0), t)  # noqa: E731
            deltas = zero_unless_finite(deltas)
            loss = jnp.where(finite, update.loss, 0)
            averaged = (zero_unless_finite(encoder_parts), loss)
            if inputs[0]:  # the client's incoming kept-local parts
                kept = jax.tree.map(lambda new, old: jnp.where(finite, new, old), kept, inputs[0])
            reports = ClientReports(deltas, weight, loss, slot)
            return (reports, averaged, rejected.astype(jnp.int32)), kept

        def summarize(reports) -> RoundSummary:
            deltas, averaged, rejected = reports
            return RoundSummary(
                aggregator.summary_of(deltas, global_model, state.agg_state),
                weighted_sum(averaged, deltas.weights),
                (deltas.weights > 0).sum(),
                rejected.sum(),
            )

        def merge(a: RoundSummary, b: RoundSummary) -> RoundSummary:
            return RoundSummary(
                aggregator.merge(a.aggregate, b.aggregate),
                add(a.means, b.means),
                a.clients + b.clients,
                a.rejected + b.rejected,
            )

        global_state = parts.shared_state(state.model_state)
        global_model = {"params": state.params, "state": global_state}
        # A client's randomness depends on its id, not its slot, so padding changes nothing.
        keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, cohort.client_ids)
        variables = {"params": state.params, **state.model_state}
        slots = jnp.arange(cohort.weights.shape[0], dtype=jnp.int32)
        malicious = (
            is_malicious(attack, cohort.client_ids)
            if attack.kind
            else jnp.zeros(cohort.client_ids.shape, bool)
        )
        per_client = (
            cohort.client_states,
            cohort.batches,
            cohort.step_mask,
            keys,
            cohort.weights,
            slots,
            malicious,
        )
        summary, client_states = map_reduce_clients(
            client_report,
            summarize,
            merge,
            (variables, cohort.examples),
            per_client,
            mesh,
            clients_in_parallel,
            per_group=lambda group: group[2].any(axis=0),  # steps some client of it takes
        )
        delta, agg_state = aggregator.finish(summary.aggregate, state.agg_state, global_model)
        pseudo_grad = jax.tree.map(jnp.negative, delta["params"])
        server_updates, opt_state = server_tx.update(pseudo_grad, state.opt_state, state.params)
        encoder_parts, loss = mean(summary.means)
        new = {
            "params": optax.apply_updates(state.params, server_updates),
            **state.model_state,  # private collections keep the server's (initial) value
            **jax.tree.map(jnp.add, global_state, delta["state"]),  # no server optimizer
        }
        # Kept-local parts of the encoder (FedBN's norms): the server's copy is their mean, to
        # evaluate the global encoder with; it is never broadcast. Kept-local heads are never
        # aggregated: the server keeps their initial value, which new clients start from.
        kept = parts.local(variables)
        heads = {k: v for k, v in kept.items() if k[1] != "encoder"}
        new = replace_leaves(new, {**heads, **encoder_parts})
        # No client counted (all rejected): the global model and the server's states stay.
        counted = summary.clients > 0
        keep = lambda n, o: jax.tree.map(lambda a, b: jnp.where(counted, a, b), n, o)  # noqa: E731
        new = keep(new, variables)
        opt_state, agg_state = keep((opt_state, agg_state), (state.opt_state, state.agg_state))
        new_state = ServerState(
            params=new.pop("params"),
            model_state=new,
            opt_state=opt_state,
            agg_state=agg_state,
            round=state.round + 1,
        )
        loss = jnp.where(counted, loss, jnp.nan)
        metrics = {"loss": loss, "clients": summary.clients, "rejected": summary.rejected}
        return new_state, metrics, client_states

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
