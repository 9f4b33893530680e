r"""Streaming cohorts against the resident pool, at equal work: configs/general.py:quick's
round on the multi-domain corpus, its pool either on the device (data.pool=resident) or read
per round from the memory-mapped feature cache, one round ahead in a thread
(data.pool=cohort). Round seconds (median, min-max) and the host's anonymous memory.

  python -m benchmarks.streaming --data_dir=data/general

The same cohorts, clips and keys in both modes (tests/test_corpus.py checks the trained
models are equal); what differs is where the clips live. Memory: the largest RssAnon seen
after any round (anonymous pages: the process's own arrays; the memory map's file pages
are the page cache's and are not counted), and the pool's own size for scale.
"""

import argparse
import statistics
import sys
import time

import jax
import numpy as np

from benchmarks import common
from configs import general
from fassl_jax import build, train
from fassl_jax.data import clients
from fassl_jax.data.pool import ClientPool, Prefetch
from fassl_jax.federated import parts, placement


def rss_anon_mb() -> float:
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("RssAnon:"))
    return round(int(line.split()[1]) / 1024, 1)


def run_mode(config, data, store, mode: str, rounds: int) -> dict:
    config = config.copy_and_resolve_references()
    config.data.pool = mode
    fl = config.fl
    method = build.build_method(config, data.input_mean, data.input_std)
    client_tx, server_tx, aggregator = build.build_optimizers(config)
    mesh = placement.client_mesh()
    round_fn, pad_to = build.build_round(
        config,
        method,
        client_tx,
        server_tx,
        aggregator,
        parts.ModelParts.build(fl.keep_local, method.private_collections),
        mesh,
    )
    state = jax.device_put(
        build.init_state(config, method, server_tx, aggregator), placement.replicated(mesh)
    )
    sharding = placement.split_clients(mesh) if pad_to > 1 else placement.replicated(mesh)
    work = clients.LocalWork(fl.batch_size, fl.local_epochs, fl.local_steps)
    max_steps = int(work.steps_for(store.sizes).max())
    before = rss_anon_mb()
    pool = ClientPool(data.pool, config.data, mesh)

    def cohort_of(r: int):
        ids = clients.sample_clients(store.num_clients, fl.clients_per_round, config.seed, r)
        cohort = clients.round_cohort(store, ids, work, max_steps, config.seed, r, pad_to)
        return pool.for_cohort(cohort)

    prefetch = Prefetch(cohort_of)
    key = jax.random.key(config.seed)
    times, peak = [], rss_anon_mb()
    for r in range(rounds + 1):
        t = time.perf_counter()
        cohort, examples = prefetch.get(r)
        device = build.device_cohort(cohort, examples, None, sharding)
        state, metrics, _ = round_fn(state, device, jax.random.fold_in(key, r))
        if r < rounds:
            prefetch.start(r + 1)
        float(metrics["loss"])  # waits for the round
        times.append(time.perf_counter() - t)
        peak = max(peak, rss_anon_mb())
    prefetch.close()
    timed = times[1:]
    return {
        "mode": mode,
        "first_round_s": round(times[0], 3),
        "rounds": len(timed),
        "round_s": round(statistics.median(timed), 4),
        "round_s_min": round(min(timed), 4),
        "round_s_max": round(max(timed), 4),
        "round_s_all": [round(x, 4) for x in timed],
        "rss_anon_before_mb": before,
        "rss_anon_peak_mb": peak,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", default="data/general")
    p.add_argument("--rounds", type=int, default=6, help="timed rounds after the first")
    p.add_argument("--modes", default="cohort,resident")  # cohort first: a clean heap
    args = common.parse_args(p, argv)
    config = general.get_config("quick")
    config.data.dir = args.data_dir
    data = train.load_dataset(config)  # the pool stays a memory map until a mode reads it
    store = train.build_clients(config, data.pretrain)
    pool_mb = round(np.prod(data.pool.shape) * 4 / 2**20, 1)
    rows = []
    for mode in args.modes.split(","):
        timing = run_mode(config, data, store, mode, args.rounds)
        row = dict(bench="streaming", pool_float32_mb=pool_mb, **timing)
        common.emit(row, rows)
    info = {"clips": int(data.pool.shape[0]), "clients": store.num_clients}
    common.save("streaming", rows, None, info)


if __name__ == "__main__":
    sys.exit(main())
