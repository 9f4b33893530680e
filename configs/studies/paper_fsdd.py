r"""The paper's comparison on FSDD: feature-matching (SimCLR) against predictive (ACOP) SSL,
under FedAvg, FedVSSL's rule, L-DAWA and backbone-only transmission (one client per
speaker), beside centralized training of each on the same audio.

  FASSL_DATA_DIR=../shared/data python -m fassl_jax.study \
      --grid=configs/studies/paper_fsdd.py --workdir=runs/paper_fsdd

10 cells of the quickstart's size (20 rounds, FASSL selection every 5), 3 seeds each: about
80 minutes on a 2-core CPU. The paper's study proper runs on the multi-domain corpus
(configs/studies/paper.py).
"""

import importlib

from configs import aggregators, partitions
from fassl_jax.study import Cell, Grid


def make_config(cell: Cell):
    c = importlib.import_module(f"configs.{cell.method}").get_config(cell.mode)
    if cell.mode == "federated":
        aggregators.apply(c, cell.aggregator)
        partitions.apply(c, cell.partition)
    return c


def get_grid() -> Grid:
    return Grid(
        title="FSDD: SSL method x aggregation (natural partition), and centralized",
        methods=("simclr", "acop"),
        aggregators=("fedavg", "fedvssl", "ldawa", "backbone_only"),
        partitions=("natural",),
        modes=("federated", "centralized"),
        make_config=make_config,
        command=(
            "python -m fassl_jax.study --grid=configs/studies/paper_fsdd.py "
            "--workdir=runs/paper_fsdd"
        ),
        held_equal=(
            "the audio, the model, the optimizer (SGD, momentum 0.9, lr 0.05) and the sample "
            "gradients per round: one centralized learner takes the cohort's 6 x 4 steps of "
            "32 clips. Not equal: the centralized optimizer's momentum carries over between "
            "rounds, each client's starts afresh every round, and clients are averaged"
        ),
        task_groups=(("semantic", ("digit",)), ("non-semantic", ("speaker",))),
        predictive=("acop",),
    )
