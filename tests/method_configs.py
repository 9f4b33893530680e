"""Tiny configs of every SSL method on the synthetic source, for tests."""

from configs import acop, barlow_twins, byol_a, simclr, smoke

TINY_SSL = {
    "simclr": (simclr, dict(proj_dim=8, crop_frames=24)),
    "barlow_twins": (barlow_twins, dict(proj_hidden=16, proj_dim=16, crop_frames=24)),
    "acop": (acop, dict(subclip_frames=8, gap_frames=2, pair_dim=16, dropout=0.0)),
    "byol_a": (byol_a, dict(proj_hidden=16, proj_dim=8, crop_frames=24, mixup_bank=16)),
}


def tiny_config(method: str, mode: str = "federated", **fl):
    """The smoke run (synthetic clips, a 4-channel encoder) with `method`'s config's ssl."""
    module, shrink = TINY_SSL[method]
    c = smoke.get_config()
    c.mode = mode
    c.ssl = module.get_config(mode).ssl
    c.ssl.update(shrink)
    c.fl.update(fl)
    return c
