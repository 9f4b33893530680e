"""Barlow Twins (Zbontar et al. 2021): the cross-correlation of two views' projections,
standardised over the batch, is pushed towards the identity."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from fassl_jax.models.heads import MLP, EncoderWithHead
from fassl_jax.ssl.base import SSLMethod, model_init
from fassl_jax.ssl.simclr import default_views, two_view_embeddings


def cross_correlation(z1: jax.Array, z2: jax.Array, eps: float = 1e-5) -> jax.Array:
    """C_ij = mean_b z1n_bi z2n_bj, each feature standardised over the batch [B, D]."""

    def standardise(z):
        return (z - z.mean(0)) / jnp.sqrt(z.var(0) + eps)

    return standardise(z1).T @ standardise(z2) / z1.shape[0]


def barlow_twins_loss(z1: jax.Array, z2: jax.Array, lambda_offdiag: float) -> jax.Array:
    """sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2."""
    c = cross_correlation(z1, z2)
    on_diag = jnp.sum((1.0 - jnp.diag(c)) ** 2)
    off_diag = jnp.sum(c**2) - jnp.sum(jnp.diag(c) ** 2)
    return on_diag + lambda_offdiag * off_diag


def build(
    encoder: nn.Module,
    embed_dim: int,
    lambda_offdiag: float = 5e-3,
    proj_hidden: int = 512,
    proj_dim: int = 512,
    crop_frames: int = 96,
    gain_db: float = 6.0,
    noise_std: float = 0.05,
    time_masks: int = 0,
    freq_masks: int = 0,
) -> SSLMethod:
    """The same views as SimCLR, so the two feature-matching losses compare like for like."""
    del embed_dim
    projector = MLP(hidden=proj_hidden, out=proj_dim, depth=3, batch_norm=True)
    model = EncoderWithHead(encoder, projector)
    embed = two_view_embeddings(
        model,
        default_views(crop_frames, gain_db, noise_std, time_masks, freq_masks),
        separate=True,  # BatchNorm sees each view's batch on its own, as in the reference
    )

    def loss(variables, x, key):
        z1, z2, updates = embed(variables, x, key)
        return barlow_twins_loss(z1, z2, lambda_offdiag), updates

    return SSLMethod(model, loss, model_init(model, crop_frames))
