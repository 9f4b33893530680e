r"""BYOL-A on FSDD: mixup against the client's recent clips and random resize crops;
`:centralized` trains centrally. `ssl.target` says what the EMA target is under federation
(see fassl_jax/ssl/byol_a.py).

  python -m fassl_jax.main --config=configs/byol_a.py --workdir=runs/byol_a
"""

from configs import methods


def get_config(mode: str = "federated"):
    c = methods.fsdd(mode)
    c.ssl = dict(
        method="byol_a",
        proj_hidden=1024,
        proj_dim=256,
        target_decay=0.99,
        target="aggregated",  # or "restart": each client's target restarts from the online net
        crop_frames=48,
        mixup_ratio=0.4,
        mixup_bank=128,
        rrc_scale=(0.6, 1.5),
        filter_db=0.0,  # > 0: a random equaliser on each view (not BYOL-A's; see ssl/byol_a.py)
    )
    return c
