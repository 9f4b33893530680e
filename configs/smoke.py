r"""Smoke test: the whole loop on procedural clips with a tiny encoder, in about a minute.

Needs no data. The tests run it; use it to check an installation.

  python -m fassl_jax.main --config=configs/smoke.py --workdir=runs/smoke
"""

from configs import base


def get_config():
    c = base.get_config()
    c.data.source = "synthetic"  # 4 patterns x 4 sources x 8 takes; "source" is the client
    c.data.clip_seconds = 0.3
    c.data.cache_dir = "none"
    c.model.channels = 4
    c.model.embed_dim = 16
    c.ssl.proj_dim = 8
    c.ssl.crop_frames = 24
    c.fl.rounds = 3
    c.fl.clients_per_round = 3
    c.fl.batch_size = 4
    c.fl.local_steps = 2
    c.eval.every = 1
    c.eval.recall_at = (1, 5)
    c.eval.batch_size = 64
    return c
