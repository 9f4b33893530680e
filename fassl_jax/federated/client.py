"""A client's local training: the same step code serves federated clients and centralized runs."""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from fassl_jax.ssl.base import LossFn


class LocalResult(NamedTuple):
    params: Any
    model_state: Any  # non-param collections, e.g. {"batch_stats": ...}
    opt_state: optax.OptState
    loss: jax.Array  # mean over the active steps
    steps: jax.Array  # number of active steps


def gather_clips(examples: jax.Array, ids: jax.Array, in_loop: bool | None = None) -> jax.Array:
    """examples[ids] for a [B] vector of ids. `in_loop` (None: on CPU) copies the clips one
    by one in a fori_loop: XLA:CPU fuses a plain gather into the augmentations' loop fusion,
    which then ran 2.5x slower (the frame MLP's SimCLR loss 15.6 ms against 6.1 ms;
    RESULTS.md), and an optimization barrier does not stop it; the loop's result is a
    buffer of its own. Accelerators keep XLA's gather."""
    if in_loop is None:
        in_loop = jax.default_backend() == "cpu"
    if not in_loop:
        return examples[ids]

    def copy_one(i, clips):
        clip = jax.lax.dynamic_index_in_dim(examples, ids[i], keepdims=False)
        return jax.lax.dynamic_update_index_in_dim(clips, clip, i, 0)

    clips = jnp.zeros((ids.shape[0], *examples.shape[1:]), examples.dtype)
    return jax.lax.fori_loop(0, ids.shape[0], copy_one, clips)


def make_local_training(
    loss_fn: LossFn,
    tx: optax.GradientTransformation,
    unroll: int | bool = 1,
    after_step: Callable[[dict], dict] | None = None,
    gather_in_loop: bool | None = None,
) -> Callable[..., LocalResult]:
    """Returns local_train(params, model_state, opt_state, examples, batches, step_mask, key,
    steps_to_run=None).

    examples: [N, T, F] pool; batches: [S, B] ids into it; step_mask: [S] (a False step leaves
    every carried value untouched). steps_to_run: [S] bool, the same for every client of a
    vmapped group (not batched): a step that no client of the group takes is skipped by a
    lax.cond, not computed and masked, so a group of small clients pays for its own steps
    only, not for the padding up to the cohort's largest client.
    `unroll` goes to lax.scan: on CPU, conv weight gradients inside a rolled loop are very
    slow (JAX issue 12868), and unrolling avoids it.
    after_step(variables) -> variables runs after every optimizer step (SSLMethod.after_step).
    gather_in_loop: how each step reads its clips from the pool (gather_clips; None: a loop
    on CPU, XLA's gather elsewhere).
    """

    def local_train(
        params, model_state, opt_state, examples, batches, step_mask, key, steps_to_run=None
    ):
        def train_step(carry, inputs):
            params, model_state, opt_state = carry
            ids, active, step_key = inputs
            clips = gather_clips(examples, ids, gather_in_loop)

            def objective(p):
                return loss_fn({"params": p, **model_state}, clips, step_key)

            (loss, changed), grads = jax.value_and_grad(objective, has_aux=True)(params)
            updates, new_opt_state = tx.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            new_model_state = {**model_state, **changed}
            if after_step is not None:
                variables = after_step({"params": new_params, **new_model_state})
                new_params = variables.pop("params")
                new_model_state = variables
            new = (new_params, new_model_state, new_opt_state)
            carry = jax.tree.map(lambda n, o: jnp.where(active, n, o), new, carry)
            return carry, jnp.where(active, loss, 0.0).astype(jnp.float32)

        def skip_step(carry, inputs):
            return carry, jnp.zeros((), jnp.float32)

        def step(carry, inputs):
            if steps_to_run is None:
                return train_step(carry, inputs[:3])
            return jax.lax.cond(inputs[3], train_step, skip_step, carry, inputs[:3])

        # Step s uses fold_in(key, s): the keys do not depend on how far the steps are padded.
        keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, jnp.arange(batches.shape[0]))
        carry = (params, dict(model_state), opt_state)
        xs = (batches, step_mask, keys)
        if steps_to_run is not None:
            xs = (*xs, steps_to_run)
        (params, model_state, opt_state), losses = jax.lax.scan(step, carry, xs, unroll=unroll)
        steps = step_mask.sum()
        mean_loss = losses.sum() / jnp.maximum(steps, 1).astype(losses.dtype)
        return LocalResult(params, model_state, opt_state, mean_loss, steps)

    return local_train
