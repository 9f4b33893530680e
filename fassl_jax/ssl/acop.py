"""ACOP, audio clip order prediction (after VCOP, Xu et al. 2019): a clip is cut into n
sub-clips, shuffled into one of n! orders; the shared encoder embeds each sub-clip, every
pair of embeddings goes through Linear(512)+ReLU, the pair features are concatenated and,
after dropout, a linear classifier names the order. The loss is the cross-entropy on it."""

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


def order_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def build(
    encoder: nn.Module,
    embed_dim: int,
    num_subclips: int = 3,
    subclip_frames: int = 32,
    pair_dim: int = 512,
    dropout: float = 0.5,
    gain_db: float = 6.0,
    noise_std: float = 0.05,
) -> SSLMethod:
    """Default pipeline: a random crop of num_subclips x subclip_frames frames, a gain and
    light noise on it, then the cut into contiguous sub-clips and the shuffle."""
    del embed_dim
    orders = permutations(num_subclips)
    span = num_subclips * subclip_frames
    model = OrderPredictor(encoder, pair_dim, dropout)
    crop = augment.batched(
        augment.chain(
            augment.random_crop(span),
            augment.random_gain(gain_db),
            augment.gaussian_noise(noise_std),
        )
    )

    def cut(clips):  # [B, span, F] -> [B, n, subclip_frames, F]
        return clips.reshape(clips.shape[0], num_subclips, subclip_frames, clips.shape[-1])

    def init(key, clips):
        return dict(model.init(key, cut(clips[:, :span]), train=False))

    def loss(variables, x, key):
        if x.shape[1] < span:
            raise ValueError(
                f"ACOP needs clips of {span} frames ({num_subclips} x {subclip_frames}); "
                f"these have {x.shape[1]}: lower config.ssl.subclip_frames"
            )
        k_crop, k_order, k_dropout = jax.random.split(key, 3)
        labels = jax.random.randint(k_order, (x.shape[0],), 0, len(orders))
        shuffled = jax.vmap(shuffle, in_axes=(0, 0, None))(cut(crop(k_crop, x)), labels, orders)
        logits, updates = model.apply(
            variables, shuffled, train=True, rngs={"dropout": k_dropout}, mutable=["batch_stats"]
        )
        return order_cross_entropy(logits, labels), updates

    return SSLMethod(model, loss, init)
