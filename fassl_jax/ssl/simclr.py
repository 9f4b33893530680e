"""SimCLR (Chen et al. 2020): NT-Xent between two augmented views of each clip."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from fassl_jax.audio import augment
from fassl_jax.models.heads import MLP, EncoderWithHead
from fassl_jax.ssl.base import SSLMethod, model_init


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


def default_views(
    crop_frames: int,
    gain_db: float,
    noise_std: float,
    time_masks: int = 0,
    freq_masks: int = 0,
) -> augment.Augment:
    """The feature-matching methods' views (SimCLR, Barlow Twins): a random time crop, a gain,
    light Gaussian noise, and optionally SpecAugment masks."""
    steps = [
        augment.random_crop(crop_frames),
        augment.random_gain(gain_db),
        augment.gaussian_noise(noise_std),
    ]
    if time_masks or freq_masks:
        steps.append(augment.spec_augment(time_masks, crop_frames // 8, freq_masks, 8))
    return augment.chain(*steps)


def two_view_embeddings(model: nn.Module, views: augment.Augment, separate: bool = False):
    """(variables, x, key) -> (z1, z2, updates). separate=False: both views through the model
    in one batch, so BatchNorm normalises them together (SimCLR's global batch); True: one
    view after the other, each normalised over its own batch and the running statistics
    updated twice (Barlow Twins' reference, which runs the network once per view)."""
    views = augment.batched(views)

    def embed(variables, x, key):
        k1, k2, k_dropout = jax.random.split(key, 3)
        v1, v2 = views(k1, x), views(k2, x)
        if separate:
            k_d1, k_d2 = jax.random.split(k_dropout)
            z1, updates = model.apply(
                variables, v1, train=True, rngs={"dropout": k_d1}, mutable=["batch_stats"]
            )
            z2, updates = model.apply(
                {**variables, **updates},
                v2,
                train=True,
                rngs={"dropout": k_d2},
                mutable=["batch_stats"],
            )
            return z1, z2, updates
        z, updates = model.apply(
            variables,
            jnp.concatenate([v1, v2]),
            train=True,
            rngs={"dropout": k_dropout},
            mutable=["batch_stats"],
        )
        z1, z2 = jnp.split(z, 2)
        return z1, z2, updates

    return embed


def build(
    encoder: nn.Module,
    embed_dim: int,
    temperature: float = 0.1,
    proj_dim: int = 128,
    crop_frames: int = 96,
    gain_db: float = 6.0,
    noise_std: float = 0.05,
    time_masks: int = 0,
    freq_masks: int = 0,
) -> SSLMethod:
    model = EncoderWithHead(encoder, MLP(hidden=embed_dim, out=proj_dim))
    embed = two_view_embeddings(
        model, default_views(crop_frames, gain_db, noise_std, time_masks, freq_masks)
    )

    def loss(variables, x, key):
        z1, z2, updates = embed(variables, x, key)
        return nt_xent(z1, z2, temperature), updates

    return SSLMethod(model, loss, model_init(model, crop_frames))
