r"""Epoch mode on natural, skewed clients: every client trains one epoch over its own clips,
so clients take from 1 to dozens of local steps; samples per second, side by side.

  python -m benchmarks.uneven --channels=16 --clients_json=data/general/clients.json
  python -m benchmarks.uneven --channels=64 --clients_json=data/general/clients.json

Client sizes are the multi-domain corpus's 1,327 natural clients (clients.json, written by
`python -m data_prep.build --corpus=general`); without it, log-normal sizes (mean 38 clips,
sigma 1.2, about as skewed). Per round, in one process: (a) fassl_jax's round (the trainer's
own cohort and round: step axis of the cohort's largest client, rows ordered by steps,
skipped steps not computed); (c) the sequential loop of jitted client steps (FedJAX's
default backend), and (c') one jitted scan per client (its steps padded to a power of two,
the padding skipped), the same cohorts; (d) Flower's simulation engine, each client looping
over its epoch with a jitted step (flower_peer.py; its own sampler picks the cohorts, so
its samples per round differ and are counted from its clients' reports). Round 0
(compilation) apart; samples/s per timed round, median and range.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

from benchmarks import common, peers, throughput
from fassl_jax.data import clients

SEED = 0


def natural_sizes(path: str) -> tuple[np.ndarray, str]:
    if path and os.path.exists(path):
        with open(path) as f:
            sizes = [c["size"] for c in json.load(f)["clients"].values()]
        return np.array(sizes, np.int64), f"the corpus's natural clients ({path})"
    rng = np.random.default_rng([SEED, 11])
    sizes = np.maximum(np.round(rng.lognormal(np.log(38) - 0.72, 1.2, 1327)), 1)
    return sizes.astype(np.int64), "log-normal sizes (mean 38 clips, sigma 1.2)"


def cohort_samples(sim: common.Simulator, r: int) -> int:
    """The clip-steps of round r's cohort (the same ids and sizes for (a) and (c))."""
    c = sim.config
    ids = clients.sample_clients(sim.store.num_clients, c.fl.clients_per_round, c.seed, r)
    steps = sim.work.steps_for(sim.store.offsets[ids + 1] - sim.store.offsets[ids])
    return int(steps.sum()) * c.fl.batch_size


def timed(run_round, samples_of, rounds: int) -> dict:
    t = time.perf_counter()
    run_round(0)
    first = time.perf_counter() - t
    times, samples = [], []
    for r in range(1, rounds + 1):
        t = time.perf_counter()
        run_round(r)
        times.append(time.perf_counter() - t)
        samples.append(samples_of(r))
    return stats(first, times, samples)


def stats(first: float, times: list[float], samples: list[int]) -> dict:
    rates = [n / t for n, t in zip(samples, times, strict=True)]
    return {
        "first_round_s": round(first, 3),
        "rounds": len(times),
        "samples_per_round": round(statistics.mean(samples), 1),
        "samples_per_s": round(statistics.median(rates), 1),
        "samples_per_s_min": round(min(rates), 1),
        "samples_per_s_max": round(max(rates), 1),
        "round_s_all": [round(x, 4) for x in times],
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--embed_dim", type=int, default=256)
    p.add_argument("--cohort", type=int, default=16)
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5, help="timed rounds after the first")
    p.add_argument("--peers", default="fassl,sequential,sequential_scan,flower")
    p.add_argument("--clients_json", default="data/general/clients.json")
    p.add_argument("--clients_in_parallel", type=int, default=0, help="0: the trainer's default")
    p.add_argument("--name", default="", help="results file name (default: uneven_<channels>ch)")
    args = common.parse_args(p, argv)

    sizes, where = natural_sizes(args.clients_json)
    workload = common.Workload(
        encoder="audio_ntt",
        channels=args.channels,
        embed_dim=args.embed_dim,
        local_steps=0,
        batch_size=args.batch_size,
        clips_per_client=float(sizes.mean()),
        size_sigma=0.0,
    )
    pool = common.random_log_mels(workload.pool)
    config = workload.config(
        args.cohort, len(sizes), local_epochs=1.0, clients_in_parallel=args.clients_in_parallel
    )
    store = clients.ClientStore.population(
        workload.pool, sizes, np.random.default_rng([config.seed, 7])
    )
    sim = common.Simulator(config, pool, store)
    steps = sim.work.steps_for(sizes)
    rows = []
    for peer in args.peers.split(","):
        if peer == "flower":
            extra = dict(local_epochs=1.0, sizes=sizes.tolist())
            w = common.Workload(**{**workload.__dict__})
            out = throughput.flower(w, args.cohort, len(sizes), args.rounds, extra)
            timing = stats(out["first_round_s"], out["round_s_all"], out["samples_all"])
        else:
            runner = {
                "fassl": lambda: sim,
                "sequential": lambda: peers.Sequential(sim),
                "sequential_scan": lambda: peers.SequentialScan(sim),
            }[peer]()
            timing = timed(runner.round, lambda r: cohort_samples(sim, r), args.rounds)
        row = dict(
            bench="uneven",
            channels=args.channels,
            cohort=args.cohort,
            peer=peer,
            **timing,
            peak_rss_mb=common.peak_rss_mb(),
        )
        common.emit(row, rows)
    info = {
        "sizes": where,
        "clients": len(sizes),
        "size_median": float(np.median(sizes)),
        "size_max": int(sizes.max()),
        "steps_median": float(np.median(steps)),
        "steps_max": int(steps.max()),
    }
    common.save(args.name or f"uneven_{args.channels}ch", rows, workload, info)


if __name__ == "__main__":
    sys.exit(main())
