r"""A tiny grid to try the study command in about a minute (procedural clips, a 4-channel
encoder, 2 rounds, 2 seeds; no data needed):

  python -m fassl_jax.study --grid=configs/studies/tiny.py --workdir=runs/tiny_study
  python -m fassl_jax.study --grid=configs/studies/tiny.py --workdir=runs/tiny_study \
      --only=ldawa --set=fl.rounds=3
"""

from configs import aggregators, smoke
from fassl_jax.study import Cell, Grid


def make_config(cell: Cell):
    c = smoke.get_config()
    c.mode = cell.mode
    c.fl.rounds = 2
    if cell.mode == "federated":
        aggregators.apply(c, cell.aggregator)
    return c


def get_grid() -> Grid:
    return Grid(
        title="tiny",
        methods=("simclr",),
        aggregators=("fedavg", "ldawa"),
        partitions=("natural",),
        modes=("federated", "centralized"),
        make_config=make_config,
        command="python -m fassl_jax.study --grid=configs/studies/tiny.py --workdir=DIR",
        seeds=(0, 1),
        held_equal="the synthetic clips, the model and the sample gradients per round",
    )
