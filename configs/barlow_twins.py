r"""Barlow Twins on FSDD, with SimCLR's views; `:centralized` trains centrally.

python -m fassl_jax.main --config=configs/barlow_twins.py --workdir=runs/bt
"""

from configs import methods


def get_config(mode: str = "federated"):
    c = methods.fsdd(mode)
    c.ssl = dict(
        method="barlow_twins",
        lambda_offdiag=5e-3,
        proj_hidden=512,
        proj_dim=512,
        crop_frames=48,
        gain_db=6.0,
        noise_std=0.05,
        time_masks=0,
        freq_masks=0,
    )
    return c
