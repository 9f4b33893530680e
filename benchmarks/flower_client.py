"""The Flax client of the Flower peer (flower_peer.py), in its own importable module so that
each Ray actor imports it once and keeps its pool, population and jitted trainer across
the clients it runs (a function pickled from __main__ would carry a fresh cache each time).
The workload arrives in each fit's config as JSON."""

import json
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fassl_jax import build
from fassl_jax.data import clients
from fassl_jax.data.audioset import AudioSet
from fassl_jax.data.partitions import population
from fassl_jax.federated.client import make_local_training
from fassl_jax.models.encoders import ENCODERS
from fassl_jax.ssl import simclr

CLIP_FRAMES, N_MELS, SEED = 101, 64, 0
W = {}  # the workload, set by the first fit (or by the driver)
_cache = {}


def pool_and_store():
    """The same pool and population as benchmarks.common (same seeds), made once per actor."""
    if "store" not in _cache:
        rng = np.random.default_rng(SEED)
        audio = rng.normal(-9.0, 3.0, (W["pool"], CLIP_FRAMES, N_MELS)).astype(np.float32)
        pool = AudioSet(audio, {}, {}, np.full(W["pool"], "pretrain"), None)
        rng = np.random.default_rng([SEED, 7])
        if W.get("sizes"):  # given client sizes (benchmarks.uneven: the corpus's natural ones)
            store = clients.ClientStore.population(W["pool"], np.array(W["sizes"]), rng)
        else:
            store = population(
                pool,
                rng,
                num_clients=W["num_clients"],
                clips_per_client=W["clips_per_client"],
                size_sigma=W["size_sigma"],
            )
        _cache.update(pool=audio, store=store, stats=(float(audio.mean()), float(audio.std())))
    return _cache["pool"], _cache["store"]


def method_and_trainer():
    if "train" not in _cache:
        pool, _ = pool_and_store()
        mean, std = _cache["stats"]
        # The same local work as fassl_jax's round on this backend, in the convolution for
        # one client's kernels (on CPU the round's own; on GPU XLA's, no client vmap).
        model = types.SimpleNamespace(
            encoder=W["encoder"], channels=W["channels"], conv_impl="auto"
        )
        encoder = ENCODERS[W["encoder"]](
            channels=W["channels"],
            embed_dim=W["embed_dim"],
            dropout=0.0,
            conv_impl=build.resolve_conv_impl(model, per_client_kernels=False),
            input_mean=mean,
            input_std=std,
        )
        method = simclr.build(encoder, W["embed_dim"], crop_frames=W["crop_frames"])
        tx = optax.sgd(0.05, momentum=0.9)
        local_train = make_local_training(method.loss, tx, unroll=1)
        variables = method.init(jax.random.key(SEED), jnp.asarray(pool[:2]))
        treedef = jax.tree.structure(variables)

        @jax.jit
        def train(variables, examples, batches, key):
            params = variables["params"]
            state = {k: v for k, v in variables.items() if k != "params"}
            mask = jnp.ones(batches.shape[0], bool)
            r = local_train(params, state, tx.init(params), examples, batches, mask, key)
            return {"params": r.params, **r.model_state}

        @jax.jit
        def step(variables, opt_state, examples, batch, key):
            """One step (a [1, B] batch), as a user loops over a client's epoch of batches."""
            params = variables["params"]
            state = {k: v for k, v in variables.items() if k != "params"}
            mask = jnp.ones(1, bool)
            r = local_train(params, state, opt_state, examples, batch, mask, key)
            return {"params": r.params, **r.model_state}, r.opt_state

        _cache.update(
            train=train,
            step=step,
            tx=tx,
            init=variables,
            treedef=treedef,
            examples=jnp.asarray(pool),
        )
    return _cache


def client_fn(context):
    from flwr.client import NumPyClient

    cid = int(context.node_config["partition-id"])

    class SimCLRClient(NumPyClient):
        def fit(self, parameters, config):
            W.update(json.loads(config["workload"]))
            c = method_and_trainer()
            _, store = pool_and_store()
            variables = jax.tree.unflatten(c["treedef"], [jnp.asarray(p) for p in parameters])
            r = int(config["round"])
            key = jax.random.fold_in(jax.random.key(SEED), r * 1_000_003 + cid)
            if W.get("local_epochs"):  # epoch mode: each client its own number of steps
                work = clients.LocalWork(W["batch_size"], epochs=W["local_epochs"])
                steps = int(work.steps_for(len(store.examples_of(cid))))
                cohort = clients.build_cohort(store, np.array([cid]), work, steps, SEED, r)
                new, opt_state = variables, c["tx"].init(variables["params"])
                for s in range(steps):
                    batch = jnp.asarray(cohort.batches[0, s : s + 1])
                    new, opt_state = c["step"](
                        new, opt_state, c["examples"], batch, jax.random.fold_in(key, s)
                    )
            else:
                work = clients.LocalWork(W["batch_size"], steps=W["local_steps"])
                steps = W["local_steps"]
                cohort = clients.build_cohort(store, np.array([cid]), work, steps, SEED, r)
                new = c["train"](variables, c["examples"], jnp.asarray(cohort.batches[0]), key)
            leaves = [np.asarray(x) for x in jax.tree.leaves(new)]
            return leaves, len(store.examples_of(cid)), {"samples": steps * W["batch_size"]}

    return SimCLRClient().to_client()
