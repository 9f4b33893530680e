r"""Scaling: seconds per round and peak host memory as the cohort and the population grow.

  python -m benchmarks.scaling --cohorts=8,32,128,512,1024
  python -m benchmarks.scaling --populations=1000,10000,100000,1000000 --cohort=1000
  python -m benchmarks.scaling --populations=1000,1000000 --cohort=1000 \
      --corpus_dir=data/general --name=scaling_populations_corpus

Each point runs in a fresh process, so its peak resident memory is its own. The population
points train on the FSDD pretraining clips ($FASSL_DATA_DIR, as log-mels) when they are
there (or on a data_prep corpus's pretraining clips with --corpus_dir), else on a random
pool of the same size; the population reuses those clips (a synthetic population:
data.partitions.population).
"""

import argparse
import json
import sys
import time

from benchmarks import common

TINY = dict(encoder="frame_mlp", channels=0, embed_dim=64)


def point(args: dict) -> dict:
    """One measurement (run in its own process)."""
    workload = common.Workload(**args["workload"])
    if args["data"] == "fsdd":
        pool, data = common.fsdd_or_random_pool()
    elif args["data"].startswith("corpus:"):  # a data_prep corpus's pretraining clips
        pool, data = common.corpus_pool(args["data"].split(":", 1)[1]), "corpus"
    else:
        pool, data = common.random_log_mels(workload.pool), "random"
    t = time.perf_counter()
    config = workload.config(args["cohort"], args["population"])
    sim = common.Simulator(config, pool)
    setup_s = time.perf_counter() - t
    timing = common.time_rounds(sim.round, args["rounds"])
    store = sim.store
    return dict(
        bench="scaling",
        encoder=workload.encoder,
        population=args["population"],
        cohort=args["cohort"],
        data=data,
        setup_s=round(setup_s, 2),
        registry_mb=round((store.example_ids.nbytes + store.offsets.nbytes) / 2**20, 2),
        **timing,
        peak_rss_mb=common.peak_rss_mb(),
    )


def run_point(args: dict) -> dict:
    argv = ["--point", json.dumps(args)]
    return common.run_json(sys.executable, "benchmarks.scaling", argv, f"scaling point {args}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cohorts", default="", help="cohort sizes at --population clients")
    p.add_argument("--populations", default="", help="population sizes at --cohort clients")
    p.add_argument("--cohort", type=int, default=1000)
    p.add_argument("--population", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--encoder", default="frame_mlp", choices=["frame_mlp", "audio_ntt"])
    p.add_argument("--channels", type=int, default=16, help="audio_ntt only")
    p.add_argument("--embed_dim", type=int, default=0)
    p.add_argument("--local_steps", type=int, default=4)
    p.add_argument("--corpus_dir", default="", help="population points on this corpus's clips")
    p.add_argument("--name", default="")
    p.add_argument("--point", default="", help=argparse.SUPPRESS)
    args = common.parse_args(p, argv)
    if args.point:
        print(json.dumps(point(json.loads(args.point))), flush=True)
        return

    if args.encoder == "frame_mlp":
        workload = common.Workload(**TINY)
    else:
        workload = common.Workload(channels=args.channels, embed_dim=args.embed_dim or 256)
    if args.embed_dim:
        workload = common.Workload(**{**workload.__dict__, "embed_dim": args.embed_dim})
    workload = common.Workload(**{**workload.__dict__, "local_steps": args.local_steps})
    points = [
        dict(cohort=int(c), population=args.population, data="random")
        for c in filter(None, args.cohorts.split(","))
    ] + [
        dict(
            cohort=args.cohort,
            population=int(n),
            data=f"corpus:{args.corpus_dir}" if args.corpus_dir else "fsdd",
        )  # fmt: skip
        for n in filter(None, args.populations.split(","))
    ]
    if not points:
        raise SystemExit("give --cohorts and/or --populations")
    rows = []
    for pt in points:
        row = run_point(dict(pt, rounds=args.rounds, workload=workload.__dict__))
        common.emit(row, rows)
    if any(r["population"] != rows[0]["population"] for r in rows):
        base = min(rows, key=lambda r: r["population"])
        for r in rows:
            r["vs_smallest_population"] = round(r["round_s"] / base["round_s"], 3)
    name = args.name or ("scaling_populations" if args.populations else "scaling_cohorts")
    common.save(name, rows, workload)


if __name__ == "__main__":
    main()
