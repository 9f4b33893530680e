"""Peer (d): Flower's simulation engine (flwr[simulation], Ray) running a Flax client that
does the same local work as fassl_jax's clients: SimCLR with the same encoder, the same
population and client sizes, `local_steps` steps of `batch_size` clips as one jitted loop
per client, FedAvg weighted by client size over params and BatchNorm statistics.

Runs in benchmarks/.flower-venv (flower_setup.sh), from the repository root:
  .flower-venv/bin/python -m benchmarks.flower_peer '<workload JSON>'
and prints one JSON line: the median seconds of rounds 2.. (round 1 holds the actors'
start-up and each actor's compilation) and the first round's.
"""

import json
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.flower_client import SEED, W, client_fn, pool_and_store
from fassl_jax.models.encoders import ENCODERS
from fassl_jax.ssl import simclr


def main():
    from flwr.client import ClientApp
    from flwr.common import ndarrays_to_parameters
    from flwr.server import ServerApp, ServerAppComponents, ServerConfig
    from flwr.server.strategy import FedAvg
    from flwr.simulation import run_simulation

    ends, samples = [], []

    class TimedFedAvg(FedAvg):
        def aggregate_fit(self, server_round, results, failures):
            if failures:
                raise RuntimeError(f"Flower round {server_round}: {failures[:1]}")
            out = super().aggregate_fit(server_round, results, failures)
            ends.append(time.perf_counter())
            samples.append(sum(int(fit.metrics.get("samples", 0)) for _, fit in results))
            return out

    W.update(json.loads(sys.argv[1]))
    # Ray's workers start from the driver's environment: let them import this repository.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    pool, store = pool_and_store()
    # The initial model only; clients build their own jitted trainer in their actor.
    encoder = ENCODERS[W["encoder"]](channels=W["channels"], embed_dim=W["embed_dim"])
    init = simclr.build(encoder, W["embed_dim"], crop_frames=W["crop_frames"]).init(
        jax.random.key(SEED), jnp.asarray(pool[:2])
    )
    initial = ndarrays_to_parameters([np.asarray(x) for x in jax.tree.leaves(init)])
    n, cohort = store.num_clients, W["cohort"]
    strategy = TimedFedAvg(
        fraction_fit=cohort / n,
        min_fit_clients=cohort,
        min_available_clients=n,
        fraction_evaluate=0.0,
        min_evaluate_clients=0,
        initial_parameters=initial,
        on_fit_config_fn=lambda r: {"round": r, "workload": json.dumps(W)},
    )

    def server_fn(context):
        return ServerAppComponents(
            strategy=strategy, config=ServerConfig(num_rounds=W["rounds"] + 1)
        )

    start = time.perf_counter()
    run_simulation(
        server_app=ServerApp(server_fn=server_fn),
        client_app=ClientApp(client_fn=client_fn),
        num_supernodes=n,
        backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}},
    )
    times = np.diff([start, *ends])
    print(
        json.dumps(
            {
                "first_round_s": round(float(times[0]), 3),
                "round_s": round(statistics.median(times[1:].tolist()), 4),
                "round_s_all": [round(float(t), 4) for t in times[1:]],
                "samples_all": samples[1:],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
