"""The in-process peers fassl_jax's round is measured against, doing the same local work.

- centralized: a reference (not a ceiling: on CPU several small steps can beat one big one),
  one model trained on the same samples in large batches;
- sequential: a Python loop over clients of jitted local steps, as FedJAX's default
  (for_each_client jit) backend runs a round: batches gathered on the host, one jitted call
  per step, then a jitted weighted average. (FedJAX's PyPI release pins jax 0.4-era
  versions and does not install beside jax 0.10, so this is a faithful loop, not FedJAX.)
- sequential_scan: the strongest single-device loop FedJAX's design allows: each client's
  whole local training one jitted `lax.scan` over its steps, batches gathered on device
  from the resident pool. (sequential donates each client's buffers from its second step.)
Flower runs in its own environment: flower_peer.py.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.common import Simulator
from fassl_jax import build
from fassl_jax.data import clients
from fassl_jax.federated import client, placement
from fassl_jax.federated import round as fl_round
from fassl_jax.federated.summaries import mean, weighted_sum


class Centralized:
    """The same model and objective trained centrally on a round's worth of samples:
    cohort x local_steps x batch_size clips, in steps of cohort x batch_size clips (the clips
    the cohort trains on at once; capped at `max_batch` so activations fit in memory)."""

    def __init__(self, sim: Simulator, max_batch: int):
        config = sim.config.copy_and_resolve_references()
        config.mode = "centralized"
        fl = config.fl
        samples = fl.clients_per_round * fl.local_steps * fl.batch_size
        self.batch = min(fl.clients_per_round * fl.batch_size, max_batch)
        self.steps = math.ceil(samples / self.batch)
        self.samples = self.steps * self.batch
        method = build.build_method(config, *sim.input_stats)
        client_tx, server_tx, aggregator = build.build_optimizers(config)
        self.round_fn, _ = build.build_round(
            config, method, client_tx, server_tx, aggregator, None, sim.mesh
        )
        state = build.init_state(config, method, server_tx, aggregator)
        self.state = jax.device_put(state, placement.replicated(sim.mesh))
        self.examples = sim.examples
        self.pool_size = sim.examples.shape[0]
        self.key = jax.random.key(config.seed)

    def round(self, r: int) -> float:
        rng = np.random.default_rng([r, 3])
        batches = rng.integers(0, self.pool_size, (1, self.steps, self.batch), dtype=np.int32)
        cohort = fl_round.DeviceCohort(
            self.examples,
            jnp.zeros(1, jnp.int32),
            jnp.asarray(batches),
            jnp.ones((1, self.steps), bool),
            jnp.ones(1),
        )
        self.state, metrics, _ = self.round_fn(self.state, cohort, jax.random.fold_in(self.key, r))
        return float(metrics["loss"])


class Sequential:
    """FedJAX's default way: for each client, for each batch, one jitted step; then the
    weighted average of the clients' params and the server step."""

    def __init__(self, sim: Simulator):
        config = sim.config
        method = build.build_method(config, *sim.input_stats, per_client_kernels=False)
        self.client_tx, self.server_tx, aggregator = build.build_optimizers(config)
        state = build.init_state(config, method, self.server_tx, aggregator)
        self.params, self.model_state = state.params, state.model_state
        self.server_opt = self.server_tx.init(self.params)
        self.pool = np.asarray(sim.examples)  # FedJAX feeds host batches
        self.sim = sim
        tx = self.client_tx

        def step(params, model_state, opt_state, clips, key):
            def objective(p):
                return method.loss({"params": p, **model_state}, clips, key)

            (loss, changed), grads = jax.value_and_grad(objective, has_aux=True)(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), {**model_state, **changed}, opt_state, loss

        def server_update(params, server_opt, client_params, client_states, weights):
            weights = jnp.asarray(weights)

            def average(trees):  # the server's weighted mean over the stacked clients
                return mean(weighted_sum(jax.tree.map(lambda *xs: jnp.stack(xs), *trees), weights))

            pseudo_grad = jax.tree.map(jnp.subtract, params, average(client_params))
            updates, server_opt = self.server_tx.update(pseudo_grad, server_opt, params)
            return optax.apply_updates(params, updates), server_opt, average(client_states)

        self.raw_step = step
        # A client's first step reads the global model, which must outlive it; its later
        # steps take params and optimizer state the client owns, donated to the step that
        # replaces them (not the model state: jit may forward an unchanged leaf of it from
        # the global model).
        self.first_step = jax.jit(step)
        self.step = jax.jit(step, donate_argnums=(0, 2))
        self.server_update = jax.jit(server_update)
        self.key = jax.random.key(config.seed)

    def round(self, r: int) -> float:
        sim, c = self.sim, self.sim.config
        ids = clients.sample_clients(sim.store.num_clients, c.fl.clients_per_round, c.seed, r)
        cohort = clients.build_cohort(sim.store, ids, sim.work, sim.num_steps, c.seed, r)
        trained, states, losses = [], [], []
        for row, client_id in enumerate(cohort.client_ids):
            key = jax.random.fold_in(jax.random.fold_in(self.key, r), client_id)
            params, model_state, loss = self.train_client(cohort, row, key)
            trained.append(params)
            states.append(model_state)
            losses.append(loss)
        self.params, self.server_opt, self.model_state = self.server_update(
            self.params, self.server_opt, trained, states, cohort.weights
        )
        return float(np.mean([float(x) for x in losses]))  # waits for the round

    def train_client(self, cohort, row: int, key):
        """(params, model state, last loss) of the cohort's row-th client: one jitted call
        per step."""
        params, model_state = self.params, self.model_state
        opt_state = self.client_tx.init(params)
        for i, s in enumerate(np.flatnonzero(cohort.step_mask[row])):
            clips = self.pool[cohort.batches[row, s]]
            step = self.step if i else self.first_step
            params, model_state, opt_state, loss = step(
                params, model_state, opt_state, clips, jax.random.fold_in(key, s)
            )
        return params, model_state, loss


class SequentialScan(Sequential):
    """A loop over clients of one jitted call each: the client's local training as a
    `lax.scan` over its steps, padded to a power of two (so at most log2(max steps) + 1
    shapes compile) with the padding skipped by `lax.cond`; clips gathered on device. The
    scan's carry is updated in place inside the call: nothing is left to donate (the
    call's input is the global model, which must outlive it)."""

    def __init__(self, sim: Simulator):
        super().__init__(sim)
        step, tx, pool = self.raw_step, self.client_tx, sim.examples

        def client_update(params, model_state, batches, take, key):
            def body(carry, xs):
                ids, taken, s = xs

                def train(c):
                    clips = client.gather_clips(pool, ids)
                    return step(*c[:3], clips, jax.random.fold_in(key, s))

                return jax.lax.cond(taken, train, lambda c: c, carry), None

            init = (params, model_state, tx.init(params), jnp.zeros((), jnp.float32))
            steps = jnp.arange(batches.shape[0])
            (params, model_state, _, loss), _ = jax.lax.scan(body, init, (batches, take, steps))
            return params, model_state, loss

        self.client_update = jax.jit(client_update)

    def train_client(self, cohort, row: int, key):
        taken = np.flatnonzero(cohort.step_mask[row])
        length = 1 << int(taken[-1]).bit_length() if taken.size else 1  # past the last
        pad = max(length - cohort.batches.shape[1], 0)
        batches = np.pad(cohort.batches[row, :length], [(0, pad), (0, 0)])
        take = np.pad(cohort.step_mask[row, :length], [(0, pad)])
        return self.client_update(
            self.params, self.model_state, jnp.asarray(batches), jnp.asarray(take), key
        )
