"""fassl_jax: federated self-supervised learning of audio representations in JAX."""

__version__ = "0.1.0"
