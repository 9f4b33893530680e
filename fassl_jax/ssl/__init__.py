"""Self-supervised objectives; each module's `build(encoder, embed_dim, **options)`."""

from fassl_jax.ssl import acop, barlow_twins, byol_a, simclr
from fassl_jax.ssl.base import SSLMethod

METHODS = {
    "simclr": simclr.build,
    "barlow_twins": barlow_twins.build,
    "acop": acop.build,
    "byol_a": byol_a.build,
}

__all__ = ["METHODS", "SSLMethod"]
