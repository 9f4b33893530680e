"""Augmentations of one log-mel clip [T, F], each `fn(key, x) -> x`; vmap them for batches.

Working on one clip keeps every function trivially vmappable over batch and client axes.
"""

from collections.abc import Callable

import jax
import numpy as np

Augment = Callable[[jax.Array, jax.Array], jax.Array]


def random_crop(frames: int) -> Augment:
    """A random window of `frames` time steps."""

    def fn(key, x):
        start = jax.random.randint(key, (), 0, x.shape[0] - frames + 1)
        return jax.lax.dynamic_slice_in_dim(x, start, frames, axis=0)

    return fn


def random_gain(max_db: float) -> Augment:
    """A uniform gain in [-max_db, max_db] dB: an offset in the log-power domain."""

    def fn(key, x):
        db = jax.random.uniform(key, (), minval=-max_db, maxval=max_db)
        return x + db * float(np.log(10.0) / 10.0)

    return fn


def gaussian_noise(std: float) -> Augment:
    """Independent Gaussian noise of scale `std` on every log-mel bin."""

    def fn(key, x):
        return x + std * jax.random.normal(key, x.shape, x.dtype)

    return fn


def chain(*augments: Augment) -> Augment:
    """Applies augments in order, each with its own key."""

    def fn(key, x):
        for aug, k in zip(augments, jax.random.split(key, len(augments)), strict=True):
            x = aug(k, x)
        return x

    return fn


def batched(augment: Augment) -> Augment:
    """The same augment on a batch [B, ...], with an independent key per clip."""

    def fn(key, xs):
        return jax.vmap(augment)(jax.random.split(key, xs.shape[0]), xs)

    return fn
