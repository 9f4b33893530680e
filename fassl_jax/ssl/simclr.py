"""SimCLR (Chen et al. 2020): NT-Xent between two augmented views of each clip."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from fassl_jax.audio import augment
from fassl_jax.models.heads import MLP, EncoderWithHead
from fassl_jax.ssl.base import SSLMethod


def nt_xent(z1: jax.Array, z2: jax.Array, temperature: float) -> jax.Array:
    """Normalised-temperature cross-entropy over 2B views: each view's positive is its twin,
    the other 2B - 2 views are negatives. z1, z2: [B, D]."""
    z = jnp.concatenate([z1, z2])
    z = z / jnp.linalg.norm(z, axis=-1, keepdims=True).clip(1e-12)
    logits = z @ z.T / temperature
    n = z1.shape[0]
    logits = jnp.where(jnp.eye(2 * n, dtype=bool), -jnp.inf, logits)
    twin = jnp.concatenate([jnp.arange(n, 2 * n), jnp.arange(n)])
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(log_probs, twin[:, None], axis=-1).mean()


def default_views(crop_frames: int, gain_db: float, noise_std: float) -> augment.Augment:
    """SimCLR's view pipeline here: random time crop, gain, light noise."""
    return augment.chain(
        augment.random_crop(crop_frames),
        augment.random_gain(gain_db),
        augment.gaussian_noise(noise_std),
    )


def build(
    encoder: nn.Module,
    embed_dim: int,
    temperature: float = 0.1,
    proj_dim: int = 128,
    crop_frames: int = 96,
    gain_db: float = 6.0,
    noise_std: float = 0.05,
) -> SSLMethod:
    model = EncoderWithHead(encoder, MLP(hidden=embed_dim, out=proj_dim))
    views = augment.batched(default_views(crop_frames, gain_db, noise_std))

    def loss(variables, x, key):
        k1, k2, k_dropout = jax.random.split(key, 3)
        both = jnp.concatenate([views(k1, x), views(k2, x)])  # one BN batch over both views
        z, updates = model.apply(
            variables, both, train=True, rngs={"dropout": k_dropout}, mutable=["batch_stats"]
        )
        z1, z2 = jnp.split(z, 2)
        return nt_xent(z1, z2, temperature), updates

    return SSLMethod(model, loss, crop_frames)
