r"""ACOP, audio clip order prediction, on FSDD: 3 sub-clips of 0.32 s, 6 orders;
`:centralized` trains centrally.

  python -m fassl_jax.main --config=configs/acop.py --workdir=runs/acop
"""

from configs import methods


def get_config(mode: str = "federated"):
    c = methods.fsdd(mode)
    c.ssl = dict(
        method="acop",
        num_subclips=3,
        subclip_frames=32,  # 3 x 32 of the clip's 101 frames
        pair_dim=512,
        dropout=0.5,
        gain_db=6.0,
        noise_std=0.05,
    )
    return c
