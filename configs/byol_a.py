r"""BYOL-A on FSDD: mixup against the client's recent clips and random resize crops;
`:centralized` trains centrally. `ssl.target` says what the EMA target is under federation
(see fassl_jax/ssl/byol_a.py).

  python -m fassl_jax.main --config=configs/byol_a.py --workdir=runs/byol_a

How the values were chosen (no test-split score): crop_frames=48, the quickstart's crop
(chosen on FSDD's select split against 96, experiments/sweeps/quickstart_crop.md; on the
corpus, experiments/general/selection.md kept 48 against BYOL-A's 96 on the select split);
mixup_bank=128: a client's bank holds its own recent clips, one round's 4 x 32 (BYOL-A's
2,048 is a dataset-wide bank, which no client has); proj_hidden=1024: BYOL-A's 4,096 scaled
to these small encoders, proj_dim, target_decay, mixup_ratio and rrc_scale: BYOL-A's own.
The front end stays the project's (Slaney mel scale and norm) so that every method is
scored on the same log-mels; `--config.audio.mel_scale=htk --config.audio.mel_norm=none`
gives BYOL-A's torchaudio front end. The two were not compared.
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
