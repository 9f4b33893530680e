r"""Quickstart: SimCLR + FedAvg on the real spoken digits, one client per speaker.

A few minutes on a 2-core CPU. The encoder is a narrow AudioNTT2020 (16 channels, d = 256);
SimCLR's views are 0.48 s crops of the 1 s clips, chosen on the select split over 3 seeds
(experiments/sweeps/quickstart_crop.md): against near-whole-clip crops (96 frames) the last
round's select Recall@1 led by 0.089 ± 0.010 on digit and 0.054 ± 0.010 on speaker, and
the best rounds were level (digit -0.003 ± 0.017). The 20 rounds are a time budget, not a
score's choice.

  FASSL_DATA_DIR=../shared/data python -m fassl_jax.main \
      --config=configs/quickstart.py --workdir=runs/quick
"""

from configs import base


def get_config():
    c = base.get_config()
    c.model.channels = 16
    c.model.embed_dim = 256
    c.ssl.crop_frames = 48
    c.fl.rounds = 20
    c.fl.clients_per_round = 6
    c.fl.local_steps = 4
    c.fl.batch_size = 32
    c.eval.every = 5
    return c
