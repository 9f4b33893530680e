r"""Non-iid settings by name, as changes to a config (README.md, "Concepts"; Dirichlet
label skew as in Hsu et al. 2019).

python -m fassl_jax.main --config=configs/partitions.py:dirichlet --workdir=runs/dir
"""

from configs import quickstart

SETUPS = {
    "natural": dict(kind="natural", splits_per_group=1),  # one client per speaker
    # Each speaker's clips over 3 clients of log-normal sizes: 18 clients, 6 per round.
    "natural_split": dict(kind="natural", splits_per_group=3, size_sigma=0.5),
    "dirichlet": dict(kind="dirichlet", num_clients=12, alpha=0.1, label="digit"),
    "iid": dict(kind="iid", num_clients=12),
}


def apply(c, setup: str):
    """Changes config `c` in place to partition its clients by `setup`; returns it."""
    if setup not in SETUPS:
        raise ValueError(f"partition setup {setup!r}: choose one of {sorted(SETUPS)}")
    c.partition.update(SETUPS[setup])
    return c


def get_config(setup: str = "natural"):
    return apply(quickstart.get_config(), setup)
