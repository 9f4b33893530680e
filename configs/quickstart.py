r"""Quickstart: SimCLR + FedAvg on the real spoken digits, one client per speaker.

A few minutes on a 2-core CPU. The encoder is a narrow AudioNTT2020 (16 channels, d = 256).

  FASSL_DATA_DIR=../shared/data python -m fassl_jax.main \
      --config=configs/quickstart.py --workdir=runs/quick
"""

from configs import base


def get_config():
    c = base.get_config()
    c.model.channels = 16
    c.model.embed_dim = 256
    c.fl.rounds = 10
    c.fl.clients_per_round = 6
    c.fl.local_steps = 4
    c.fl.batch_size = 32
    c.eval.every = 5
    return c
