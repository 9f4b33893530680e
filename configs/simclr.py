r"""SimCLR (NT-Xent) on FSDD; `:centralized` trains the same model centrally (configs/methods.py).

python -m fassl_jax.main --config=configs/simclr.py --workdir=runs/simclr
"""

from configs import methods


def get_config(mode: str = "federated"):
    c = methods.fsdd(mode)
    c.ssl = dict(
        method="simclr",
        temperature=0.1,
        proj_dim=128,
        crop_frames=48,  # views are 0.48 s crops of the 1 s clips
        gain_db=6.0,
        noise_std=0.05,
        time_masks=0,
        freq_masks=0,
    )
    return c
