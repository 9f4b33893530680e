r"""Where a round's time goes: one client step timed in each setting the round puts it in.

  python -m benchmarks.profile_step --encoder=audio_ntt --channels=16 --embed_dim=256

The same SimCLR step (loss, gradient, SGD update) on one client's batch, timed as:
  plain        one jitted call on clips gathered before it (what the sequential loop runs on CPU);
  vmap_K       K clients' steps in one vmapped call, per client;
  scan         the client's local steps inside lax.scan (what a client runs in the round), per step;
  vmap_K_scan  K clients' local steps as the round runs them (vmap of scan), per client step;
  round_host   the round's host work: sampling, the batch schedule and its transfer.
Medians of --repeats calls; the ratios to `plain` say which transformation costs time.
"""

import argparse
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from fassl_jax import build
from fassl_jax.data import clients
from fassl_jax.federated.client import gather_clips, make_local_training


def median_s(fn, repeats: int) -> float:
    jax.block_until_ready(fn())  # compile
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoder", default="audio_ntt")
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--embed_dim", type=int, default=256)
    p.add_argument("--clients", type=int, default=8, help="K")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--conv_impl", default="auto")
    args = common.parse_args(p, argv)

    w = common.Workload(encoder=args.encoder, channels=args.channels, embed_dim=args.embed_dim)
    config = w.config(cohort=args.clients, num_clients=10_000)
    config.model.conv_impl = args.conv_impl
    pool = common.random_log_mels(w.pool)
    sim = common.Simulator(config, pool)
    method = build.build_method(config, *sim.input_stats)
    tx, _, _ = build.build_optimizers(config)
    params, model_state = sim.state.params, sim.state.model_state
    examples = sim.examples
    k, s, b = args.clients, w.local_steps, w.batch_size
    rng = np.random.default_rng(0)
    batches = jnp.asarray(rng.integers(0, w.pool, (k, s, b), dtype=np.int32))
    keys = jax.random.split(jax.random.key(0), k)
    clips = examples[batches[0, 0]]
    local_train = make_local_training(method.loss, tx)  # reads the pool as the round does

    def step_on(p, x, key):
        def objective(q):
            return method.loss({"params": q, **model_state}, x, key)

        (loss, _), grads = jax.value_and_grad(objective, has_aux=True)(p)
        updates, _ = tx.update(grads, tx.init(p), p)
        return jax.tree.map(jnp.add, p, updates), loss

    def step(p, ids, key):
        return step_on(p, gather_clips(examples, ids), key)

    def train(ids, key):
        r = local_train(params, model_state, tx.init(params), examples, ids, jnp.ones(s, bool), key)
        return r.params, r.loss

    plain = jax.jit(step_on)
    vmapped = jax.jit(jax.vmap(step, in_axes=(None, 0, 0)))
    scanned = jax.jit(train)
    vmap_scan = jax.jit(jax.vmap(train))
    per_step = {
        "plain": median_s(lambda: plain(params, clips, keys[0]), args.repeats),
        f"vmap_{k}": median_s(lambda: vmapped(params, batches[:, 0], keys), args.repeats) / k,
        "scan": median_s(lambda: scanned(batches[0], keys[0]), args.repeats) / s,
        f"vmap_{k}_scan": median_s(lambda: vmap_scan(batches, keys), args.repeats) / (k * s),
    }

    def host():
        ids = clients.sample_clients(sim.store.num_clients, k, 0, 0)
        cohort = clients.build_cohort(sim.store, ids, sim.work, s, 0, 0, sim.pad_to)
        return build.device_cohort(cohort, examples, None, sim.sharding).batches

    rows = []
    for name, secs in per_step.items():
        row = dict(
            bench="profile_step",
            encoder=args.encoder,
            channels=args.channels,
            setting=name,
            ms_per_client_step=round(secs * 1e3, 2),
            vs_plain=round(secs / per_step["plain"], 2),
        )
        common.emit(row, rows)
    host_s = median_s(host, args.repeats)
    common.emit(
        dict(
            bench="profile_step",
            encoder=args.encoder,
            channels=args.channels,
            setting="round_host",
            ms_per_client_step=round(host_s * 1e3 / (k * s), 2),
            vs_plain=round(host_s / (k * s) / per_step["plain"], 2),
        ),
        rows,
    )
    common.save(f"profile_step_{args.encoder}_{args.channels}", rows, w)


if __name__ == "__main__":
    sys.exit(main())
