r"""What the per-method configs share: the quickstart-sized model and schedule on FSDD, and
the switch to centralized training on the same audio.

  python -m fassl_jax.main --config=configs/simclr.py --workdir=runs/simclr
  python -m fassl_jax.main --config=configs/simclr.py:centralized --workdir=runs/simclr_c
"""

from configs import quickstart

MODES = ("federated", "centralized")


def fsdd(mode: str):
    """FSDD, one client per speaker, 20 rounds of all 6 clients x 4 steps of 32 clips.

    Centralized: one learner on all the pretraining audio, taking as many steps per round
    as the whole cohort does (24 of 32 clips), so both see the same number of examples.
    """
    if mode not in MODES:
        raise ValueError(f"config argument {mode!r}: choose one of {MODES}")
    c = quickstart.get_config()
    if mode == "centralized":
        c.mode = "centralized"
        c.fl.local_steps *= c.fl.clients_per_round
    return c
