r"""The aggregation setups the literature names, as changes to a config: the quickstart
(SimCLR on FSDD, one client per speaker) with the named setup.

  python -m fassl_jax.main --config=configs/aggregators.py:fedyogi --workdir=runs/fedyogi

Each name sets the server optimizer, the aggregation rule, the client's proximal term or
the kept-local parts; README.md ("Aggregation") defines each with its paper. Server
learning rates of the adaptive rules follow Reddi et al. 2021's grid (eta 1e-2 .. 1e-1,
tau 1e-3).
"""

from configs import quickstart

SETUPS = {
    "fedavg": {},
    "fedavgm": {"server": dict(optimizer="sgd", learning_rate=1.0, momentum=0.9)},
    "fedadam": {"server": dict(optimizer="adam", learning_rate=1e-2, momentum=0.9, tau=1e-3)},
    "fedyogi": {"server": dict(optimizer="yogi", learning_rate=1e-2, momentum=0.9, tau=1e-3)},
    "fedadagrad": {"server": dict(optimizer="adagrad", learning_rate=1e-2, momentum=0.9)},
    "fedprox": {"client": dict(proximal_mu=0.01)},
    "loss": {"aggregator": dict(rule="loss")},
    "fedvssl": {"aggregator": dict(rule="fedvssl", alpha=0.9, beta=True)},
    "ldawa": {"aggregator": dict(rule="ldawa", warmup_rounds=2)},
    # Only the encoder travels; each client keeps its own projection/prediction heads.
    "backbone_only": {"fl": dict(keep_local="heads")},
    # Robust rules (every client's delta at once): Yin et al. 2018, Blanchard et al. 2017.
    "median": {"aggregator": dict(rule="median")},
    "trimmed_mean": {"aggregator": dict(rule="trimmed_mean", trim=0.1)},
    "krum": {"aggregator": dict(rule="krum", byzantine=1, keep=1)},
    # DP-FedAvg (McMahan et al. 2018): clip each update to norm 1, Gaussian noise z * 1 / K.
    "dp_fedavg": {"aggregator": dict(rule="dp_fedavg", clip=1.0, noise_multiplier=1.0)},
}


def apply(c, setup: str):
    """Changes config `c` in place to use `setup`; returns it."""
    if setup not in SETUPS:
        raise ValueError(f"aggregation setup {setup!r}: choose one of {sorted(SETUPS)}")
    for section, values in SETUPS[setup].items():
        c[section].update(values)
    return c


def get_config(setup: str = "fedavg"):
    return apply(quickstart.get_config(), setup)
