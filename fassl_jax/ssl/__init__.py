"""Self-supervised objectives; each module's `build(encoder, embed_dim, **options)`."""

from fassl_jax.ssl import simclr
from fassl_jax.ssl.base import SSLMethod

METHODS = {"simclr": simclr.build}

__all__ = ["METHODS", "SSLMethod"]
