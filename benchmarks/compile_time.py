r"""First-round compile time of a config's round, in a fresh process with no compile cache.

  FASSL_DATA_DIR=../shared/data python -m benchmarks.compile_time --config=configs/quickstart.py

Builds the round the trainer builds (on the FSDD pretraining clips and the config's own
partition) and times its first call (compilation + one round) and a second (the round
alone); compile_s is their difference.
"""

import argparse
import os
import runpy
import sys

# Before JAX starts: no persistent compile cache, or a second run would measure a cache hit.
os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)

from benchmarks import common  # noqa: E402
from fassl_jax import train  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/quickstart.py")
    p.add_argument("--rounds", type=int, default=2, help="timed rounds after the first")
    args = common.parse_args(p, argv)
    config = runpy.run_path(args.config)["get_config"]()
    pool, data = common.fsdd_or_random_pool()
    store = train.build_clients(config, pool)
    sim = common.Simulator(config, pool, store)
    timing = common.time_rounds(sim.round, args.rounds)
    row = dict(
        bench="compile_time",
        config=args.config,
        data=data,
        cohort=config.fl.clients_per_round,
        **timing,
        compile_s=round(timing["first_round_s"] - timing["round_s"], 2),
        peak_rss_mb=common.peak_rss_mb(),
    )
    rows = []
    common.emit(row, rows)
    common.save("compile_time", rows)


if __name__ == "__main__":
    sys.exit(main())
