r"""The select-split trials behind configs/general.py (experiments/general/selection.md): each
is configs/general.py:quick (40 rounds, FASSL scores every 5) with one or two changes.

  python -m fassl_jax.main --config=experiments/general/trials.py:byol_batchnorm \
      --workdir=runs/trials/byol_batchnorm
"""

from configs import aggregators, barlow_twins, general

SIMCLR = dict(
    method="simclr", temperature=0.1, proj_dim=128, crop_frames=48, gain_db=6.0, noise_std=0.05
)
# configs/barlow_twins.py's options (SimCLR's views, 48-frame crops) with a 1,024-wide projector.
BARLOW = dict(barlow_twins.get_config().ssl, proj_hidden=1024, proj_dim=1024)
TRIALS = {
    # name: (what changes, overrides on configs/general.py:quick)
    "byol_batchnorm": ("BYOL-A, BatchNorm", {"model.norm": "batch"}),
    "byol_batchnorm_time_only": (
        "BYOL-A, BatchNorm, time-only resize crop",
        {"model.norm": "batch", "ssl.rrc_freq_scale": (1.0, 1.0)},
    ),
    "byol_batchnorm_time_only_crop96": (
        "BYOL-A, BatchNorm, time-only resize crop, 96-frame crops",
        {"model.norm": "batch", "ssl.rrc_freq_scale": (1.0, 1.0), "ssl.crop_frames": 96},
    ),
    "byol_groupnorm": ("BYOL-A, GroupNorm (configs/general.py:quick itself)", {}),
    "byol_groupnorm_time_only": (
        "BYOL-A, GroupNorm, time-only resize crop",
        {"ssl.rrc_freq_scale": (1.0, 1.0)},
    ),
    "byol_groupnorm_lr001": ("BYOL-A, GroupNorm, client lr 0.01", {"client.learning_rate": 0.01}),
    "byol_groupnorm_32ch": ("BYOL-A, GroupNorm, 32 channels", {"model.channels": 32}),
    "byol_groupnorm_150_rounds": (
        "BYOL-A, GroupNorm, 150 rounds (stopped at 70), scored every 10",
        {"fl.rounds": 150, "eval.every": 10},
    ),
    "byol_groupnorm_no_mixup": ("BYOL-A, GroupNorm, no mixup", {"ssl.mixup_ratio": 0.0}),
    "byol_groupnorm_time_only_no_mixup": (
        "BYOL-A, GroupNorm, time-only resize crop, no mixup",
        {"ssl.rrc_freq_scale": (1.0, 1.0), "ssl.mixup_ratio": 0.0},
    ),
    "barlow_groupnorm": ("Barlow Twins (SimCLR's views), GroupNorm", {"ssl": BARLOW}),
    "byol_groupnorm_stratified": (
        "BYOL-A, GroupNorm, cohorts spread evenly over the four domains",
        {"fl.stratify": "domain"},
    ),
    # From here on BYOL-A standardises before augmenting and post-normalises (its own order).
    "byol_groupnorm_post_norm": ("BYOL-A in its own normalisation order, GroupNorm", {}),
    "byol_groupnorm_post_norm_crop96": (
        "BYOL-A in its own normalisation order, GroupNorm, 96-frame crops (BYOL-A's)",
        {"ssl.crop_frames": 96},
    ),
    "byol_groupnorm_post_norm_32ch": (
        "BYOL-A in its own normalisation order, GroupNorm, 32 channels",
        {"model.channels": 32},
    ),
    "byol_groupnorm_post_norm_d1024": (
        "BYOL-A in its own normalisation order, GroupNorm, embedding 1024 (projector 2048)",
        {"model.embed_dim": 1024, "ssl.proj_hidden": 2048},
    ),
    "byol_groupnorm_post_norm_iid": (
        "BYOL-A in its own normalisation order, GroupNorm, 1,327 iid clients (not natural)",
        {"partition.kind": "iid", "partition.num_clients": 1327},
    ),
    "byol_groupnorm_post_norm_filter6": (
        "BYOL-A in its own normalisation order, GroupNorm, each view through a random "
        "equaliser of +-6 dB (FilterAugment)",
        {"ssl.filter_db": 6.0},
    ),
    "byol_groupnorm_post_norm_epochs3": (
        "BYOL-A in its own normalisation order, GroupNorm, 3 local epochs per client (each "
        "client's steps from its own size) instead of 4 steps",
        {"fl.local_steps": 0, "fl.local_epochs": 3.0},
    ),
    # A diagnostic, not a candidate recipe: can this recipe lift family above its random init
    # when it pretrains on instrument notes alone (the pretraining soundfont's 128 programs
    # and its drum kits)?
    "byol_groupnorm_post_norm_instruments_only": (
        "BYOL-A in its own normalisation order, GroupNorm, pretraining on the instruments "
        "domain alone",
        {"data.domains": "instruments"},
    ),
    "simclr_groupnorm": ("SimCLR (crop, gain, noise), GroupNorm", {"ssl": SIMCLR}),
    "byol_groupnorm_centralized": ("BYOL-A, GroupNorm, centralized", {"mode": "centralized"}),
    # Aggregation setups of configs/aggregators.py on the recipe.
    "byol_groupnorm_fedvssl": ("BYOL-A, GroupNorm, FedVSSL's rule", {"setup": "fedvssl"}),
    "byol_groupnorm_ldawa": ("BYOL-A, GroupNorm, L-DAWA", {"setup": "ldawa"}),
}


def get_config(name: str):
    if name not in TRIALS:
        raise ValueError(f"unknown trial {name!r}; choose one of: {', '.join(TRIALS)}")
    overrides = dict(TRIALS[name][1])
    centralized = overrides.pop("mode", "") == "centralized"
    c = general.get_config("quick_centralized" if centralized else "quick")
    if "setup" in overrides:
        aggregators.apply(c, overrides.pop("setup"))
    c.update_from_flattened_dict(overrides)
    return c
