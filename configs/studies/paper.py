r"""The paper's study on the multi-domain corpus (configs/general.py's data, encoder and
schedule): feature-matching (SimCLR, BYOL-A, Barlow Twins) against predictive (ACOP) SSL,
under FedAvg, FedVSSL's rule, L-DAWA, backbone-only transmission and the loss-based rule,
over the corpus's natural clients, beside centralized training of each method on the same
audio with the same sample gradients; FASSL selection per task; 3 seeds.

  python -m data_prep.build --corpus=general --out=data/general --fsdd=DIR   # once
  python -m fassl_jax.study --grid=configs/studies/paper.py --workdir=runs/paper
  python -m fassl_jax.study --grid=configs/studies/paper.py:full --workdir=runs/paper_full

Default grid: 4 methods x (5 aggregations + centralized) x 3 seeds = 72 runs of 20 rounds
(16 clients x 4 steps of 32 clips, scored every 5): about 2.1 hours on a 2-core CPU (seed
1's 24 cells, run alone, took 86-122 s each, median 103 s). `:full`: the same grid at 64
channels and 300 rounds (scored every 20), for an accelerator.

Each method keeps its own views and heads (configs/<method>.py) with the corpus recipe's
encoder (AudioNTT2020, GroupNorm) and crops of 48 frames (ACOP: its 3 sub-clips of 28
frames, scored on 28-frame windows). The default grid skips the linear probes (retrieval
only); `:full` runs them. No value here was chosen by a test-split score.
"""

import importlib

from configs import aggregators, general
from fassl_jax.study import Cell, Grid

METHODS = ("simclr", "byol_a", "barlow_twins", "acop")
AGGREGATIONS = ("fedavg", "fedvssl", "ldawa", "backbone_only", "loss")
# The corpus's tasks by kind (data_prep/corpora.py TASKS), for the predictive (ACOP) against
# feature-matching claim.
TASK_GROUPS = (
    ("semantic", ("word", "family", "fsdd_digit")),
    ("non-semantic", ("language", "voice", "pitch", "fsdd_speaker")),
)


def make_config(cell: Cell, variant: str = "default"):
    full = variant == "full"
    c = general.get_config("centralized" if cell.mode == "centralized" else "full")
    method = importlib.import_module(f"configs.{cell.method}").get_config("federated")
    c.ssl = method.ssl
    c.client.learning_rate = method.client.learning_rate  # Barlow Twins has its own
    if cell.method == "acop":
        c.eval.window_frames = c.ssl.subclip_frames
    if cell.mode == "federated":
        aggregators.apply(c, cell.aggregator)
    c.fl.rounds, c.eval.every = (300, 20) if full else (20, 5)
    if full:
        c.model.channels = 64
    else:  # the probes took a third of a cell's time, and no claim of the study reads them
        c.eval.probe = False
    return c


def get_grid(variant: str = "default") -> Grid:
    if variant not in ("default", "full"):
        raise ValueError(f"grid argument {variant!r}: choose default or full")
    name = "" if variant == "default" else ":full"
    return Grid(
        title="Multi-domain corpus: SSL method x aggregation (natural clients), and centralized",
        methods=METHODS,
        aggregators=AGGREGATIONS,
        partitions=("natural",),
        modes=("federated", "centralized"),
        make_config=lambda cell: make_config(cell, variant),
        command=f"python -m fassl_jax.study --grid=configs/studies/paper.py{name} "
        f"--workdir=runs/paper{'_full' if variant == 'full' else ''}",
        held_equal=(
            "the corpus, the encoder, each method's objective and views, the client optimizer "
            "(SGD, momentum 0.9, each method's learning rate: 0.05, Barlow Twins 0.002) and "
            "the sample gradients per round: one centralized "
            "learner takes the cohort's 16 x 4 steps of 32 clips. Not equal: the centralized "
            "optimizer's momentum carries over between rounds, each client's starts afresh, "
            "and clients are averaged"
        ),
        task_groups=TASK_GROUPS,
        predictive=("acop",),
    )
