r"""ACOP, audio clip order prediction, on FSDD: 3 sub-clips of 0.28 s with 0.08 s between
them, 6 orders; `:centralized` trains centrally.

  python -m fassl_jax.main --config=configs/acop.py --workdir=runs/acop
"""

from configs import methods


def get_config(mode: str = "federated"):
    c = methods.fsdd(mode)
    c.ssl = dict(
        method="acop",
        num_subclips=3,
        # Sub-clips 8 frames apart (VCOP's interval; log-mel frames closer than n_fft / hop =
        # 6.4 share samples), and the longest that fit 3 of them in the clip's 101 frames.
        # Neither was chosen by a score.
        subclip_frames=28,
        gap_frames=8,
        pair_dim=512,
        dropout=0.5,
        gain_db=6.0,
        noise_std=0.05,
    )
    # Scored as it trains: the mean embedding of 28-frame windows (not the whole clip).
    c.eval.window_frames = c.ssl.subclip_frames
    return c
