r"""Round throughput: client-samples per second in the steady state, side by side.

  python -m benchmarks.throughput --encoder=audio_ntt --cohorts=8,32,128
  python -m benchmarks.throughput --encoder=frame_mlp --cohorts=128,256,512,1024

Per cohort, in one process: (a) fassl_jax's round (the trainer's own round function);
(b) centralized training of the same model on as many samples; (c) a sequential loop of
jitted client steps (FedJAX's default backend), and (c') a loop of one jitted scan per
client (`--peers=...,sequential_scan`; peers.py); (d) Flower's simulation engine (Ray) with a
Flax client doing the same local work, run in its own environment (flower_peer.py; skipped
with --peers). Each: round 0 (compilation) apart, then the median of --rounds rounds.
"""

import argparse
import json
import os
import sys

from benchmarks import common, peers

ENCODER_WIDTHS = {  # the stated widths: AudioNTT2020 at 64 channels, a tiny frame MLP
    "audio_ntt": dict(channels=64, embed_dim=512),
    "frame_mlp": dict(channels=0, embed_dim=64),
}
FLOWER_VENV = os.path.join(common.HERE, ".flower-venv")


def flower(
    workload: common.Workload, cohort: int, num_clients: int, rounds: int, extra=None
) -> dict:
    """Flower in its own virtualenv (benchmarks/flower_setup.sh makes it): flwr[simulation]
    pins versions of protobuf and grpc that the main environment's packages do not take."""
    python = os.path.join(FLOWER_VENV, "bin", "python")
    if not os.path.exists(python):
        raise SystemExit(
            f"{python} is missing: run benchmarks/flower_setup.sh once, or leave flower out "
            "of --peers"
        )
    args = dict(cohort=cohort, num_clients=num_clients, rounds=rounds, **workload.__dict__)
    args.update(extra or {})  # e.g. local_epochs and explicit client sizes (uneven.py)
    return common.run_json(python, "benchmarks.flower_peer", [json.dumps(args)], "the Flower peer")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoder", default="audio_ntt", choices=sorted(ENCODER_WIDTHS))
    p.add_argument("--cohorts", default="8,32,128")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds after the first")
    p.add_argument("--peers", default="fassl,centralized,sequential,flower")
    p.add_argument("--num_clients", type=int, default=10_000, help="population sampled from")
    p.add_argument("--max_central_batch", type=int, default=512)
    p.add_argument("--channels", type=int, default=0, help="override the stated width")
    p.add_argument("--embed_dim", type=int, default=0)
    p.add_argument("--clients_in_parallel", type=int, default=0, help="0: the trainer's default")
    p.add_argument("--conv_impl", default="auto")
    p.add_argument("--unroll", type=int, default=1, help="lax.scan unroll of the local steps")
    p.add_argument("--dtype", default="float32", help="compute dtype: float32 | bfloat16")
    p.add_argument("--results_dir", default="", help="save here; RESULTS.md left alone")
    p.add_argument("--name", default="", help="results file name (default: throughput_<encoder>)")
    args = common.parse_args(p, argv)

    width = dict(ENCODER_WIDTHS[args.encoder])
    width.update(
        {k: v for k, v in (("channels", args.channels), ("embed_dim", args.embed_dim)) if v}
    )
    workload = common.Workload(encoder=args.encoder, **width)
    pool = common.random_log_mels(workload.pool)
    wanted = args.peers.split(",")
    if "flower" in wanted and not os.path.exists(os.path.join(FLOWER_VENV, "bin", "python")):
        raise SystemExit(f"{FLOWER_VENV} is missing: run benchmarks/flower_setup.sh once, or "
                         "leave flower out of --peers")  # fmt: skip
    rows = []
    for cohort in (int(c) for c in args.cohorts.split(",")):
        samples = cohort * workload.local_steps * workload.batch_size
        config = workload.config(cohort, args.num_clients)
        config.fl.clients_in_parallel = args.clients_in_parallel
        config.model.conv_impl = args.conv_impl
        config.fl.unroll_local_steps = args.unroll
        config.model.dtype = args.dtype
        sim = common.Simulator(config, pool)
        runners = {
            "fassl": lambda sim=sim: sim,
            "centralized": lambda sim=sim: peers.Centralized(sim, args.max_central_batch),
            "sequential": lambda sim=sim: peers.Sequential(sim),
            "sequential_scan": lambda sim=sim: peers.SequentialScan(sim),
        }
        for peer in wanted:
            if peer == "flower":
                try:
                    timing = flower(workload, cohort, args.num_clients, args.rounds)
                except SystemExit as e:  # its own process failed: a row says why, the rest runs
                    lines = str(e).splitlines() or ["failed"]
                    reason = next((x.strip() for x in reversed(lines) if "Error" in x), lines[0])
                    row = dict(bench="throughput", encoder=args.encoder, cohort=cohort,
                               dtype=args.dtype, peer=peer, error=reason[:300])  # fmt: skip
                    common.emit(row, rows)
                    continue
                n = samples
            else:
                runner = runners[peer]()
                timing = common.time_rounds(runner.round, args.rounds)
                n = getattr(runner, "samples", samples)
            row = dict(
                bench="throughput",
                encoder=args.encoder,
                cohort=cohort,
                dtype=args.dtype,
                peer=peer,
                samples=n,
                samples_per_s=round(n / timing["round_s"], 1),
                **timing,
                peak_rss_mb=common.peak_rss_mb(),
                peak_device_mb=common.peak_device_mb(),
            )
            common.emit(row, rows)
    common.save(
        args.name or f"throughput_{args.encoder}", rows, workload, results_dir=args.results_dir
    )


if __name__ == "__main__":
    sys.exit(main())
