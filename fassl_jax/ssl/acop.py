"""ACOP, audio clip order prediction (after VCOP, Xu et al. 2019): a clip is cut into n
sub-clips with an interval between neighbours, shuffled into one of n! orders; the shared
encoder embeds each sub-clip, every pair of embeddings goes through Linear(512)+ReLU, the
pair features are concatenated and, after dropout, a linear classifier names the order.
The loss is the cross-entropy on it."""

import itertools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from fassl_jax.audio import augment
from fassl_jax.ssl.base import SSLMethod


def permutations(n: int) -> np.ndarray:
    """[n!, n]: row k is the k-th order in lexicographic order; label k means sub-clip
    position i holds original sub-clip permutations(n)[k, i]."""
    return np.array(list(itertools.permutations(range(n))), np.int32)


def cut(clips: jax.Array, num_subclips: int, subclip_frames: int, gap_frames: int) -> jax.Array:
    """[B, span, F] -> [B, n, subclip_frames, F], sub-clip i starting at i * (subclip_frames +
    gap_frames). The gap, like VCOP's interval between clips, keeps the order task from
    reading the join: log-mel frames less than n_fft / hop apart share samples, and with
    contiguous sub-clips the true join was the smoother one for most FSDD pairs
    (tests/test_ssl_losses.py measures it)."""
    starts = np.arange(num_subclips) * (subclip_frames + gap_frames)
    frames = starts[:, None] + np.arange(subclip_frames)  # [n, subclip_frames], static
    return clips[:, frames]


def shuffle(subclips: jax.Array, label: jax.Array, orders: np.ndarray) -> jax.Array:
    """[n, ...] sub-clips in their original order -> the order `label` names."""
    return subclips[jnp.asarray(orders)[label]]


def unshuffle(shuffled: jax.Array, label: jax.Array, orders: np.ndarray) -> jax.Array:
    """The inverse of `shuffle`: back to the original order."""
    return shuffled[jnp.argsort(jnp.asarray(orders)[label])]


class OrderPredictor(nn.Module):
    """Params {"encoder": ..., "pair": ..., "classifier": ...}. Input [B, n, T, F] sub-clips;
    output [B, n!] order logits."""

    encoder: nn.Module
    pair_dim: int = 512
    dropout: float = 0.5

    @nn.compact
    def __call__(self, subclips: jax.Array, train: bool = False) -> jax.Array:
        b, n = subclips.shape[:2]
        features = self.encoder(subclips.reshape(b * n, *subclips.shape[2:]), train)
        features = features.reshape(b, n, -1)
        pair = nn.Dense(self.pair_dim, name="pair")  # shared by every pair
        pairs = [
            nn.relu(pair(jnp.concatenate([features[:, i], features[:, j]], -1)))
            for i, j in itertools.combinations(range(n), 2)
        ]
        x = nn.Dropout(self.dropout, deterministic=not train)(jnp.concatenate(pairs, -1))
        return nn.Dense(math.factorial(n), name="classifier")(x)


def order_inputs_fn(num_subclips, subclip_frames, gap_frames, gain_db, noise_std):
    """(clips [B, T, F], key) -> (shuffled sub-clips [B, n, subclip_frames, F], order labels
    [B]): a random crop of the n sub-clips and their gaps, a gain and light noise, the cut
    and the shuffle."""
    orders = permutations(num_subclips)
    span = num_subclips * subclip_frames + (num_subclips - 1) * gap_frames
    crop = augment.batched(
        augment.chain(
            augment.random_crop(span),
            augment.random_gain(gain_db),
            augment.gaussian_noise(noise_std),
        )
    )

    def order_inputs(x, key):
        if x.shape[1] < span:
            raise ValueError(
                f"ACOP needs clips of {span} frames ({num_subclips} x {subclip_frames} and "
                f"{num_subclips - 1} gaps of {gap_frames}); these have {x.shape[1]}: lower "
                "config.ssl.subclip_frames or config.ssl.gap_frames"
            )
        k_crop, k_order = jax.random.split(key)
        labels = jax.random.randint(k_order, (x.shape[0],), 0, len(orders))
        subclips = cut(crop(k_crop, x), num_subclips, subclip_frames, gap_frames)
        return jax.vmap(shuffle, in_axes=(0, 0, None))(subclips, labels, orders), labels

    return order_inputs


def order_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def build(
    encoder: nn.Module,
    embed_dim: int,
    num_subclips: int = 3,
    subclip_frames: int = 28,
    gap_frames: int = 8,
    pair_dim: int = 512,
    dropout: float = 0.5,
    gain_db: float = 6.0,
    noise_std: float = 0.05,
) -> SSLMethod:
    """Default pipeline: a random crop of n sub-clips and the n - 1 gaps between them, a gain
    and light noise on it, then the cut (see `cut`) and the shuffle (order_inputs_fn)."""
    del embed_dim
    span = num_subclips * subclip_frames + (num_subclips - 1) * gap_frames
    cut_args = (num_subclips, subclip_frames, gap_frames)
    model = OrderPredictor(encoder, pair_dim, dropout)
    order_inputs = order_inputs_fn(num_subclips, subclip_frames, gap_frames, gain_db, noise_std)

    def init(key, clips):
        return dict(model.init(key, cut(clips[:, :span], *cut_args), train=False))

    def loss(variables, x, key):
        k_inputs, k_dropout = jax.random.split(key)
        shuffled, labels = order_inputs(x, k_inputs)
        logits, updates = model.apply(
            variables, shuffled, train=True, rngs={"dropout": k_dropout}, mutable=["batch_stats"]
        )
        return order_cross_entropy(logits, labels), updates

    return SSLMethod(model, loss, init)
