"""Augmentations of one log-mel clip [T, F], each `fn(key, x) -> x`; vmap them for batches.

Working on one clip keeps every function trivially vmappable over batch and client axes.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.ndimage
import numpy as np

Augment = Callable[[jax.Array, jax.Array], jax.Array]
DB_TO_LOG = float(np.log(10.0) / 10.0)  # a power gain in dB, in natural-log (log-mel) units


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
        return x + db * DB_TO_LOG

    return fn


def gaussian_noise(std: float) -> Augment:
    """Independent Gaussian noise of scale `std` on every log-mel bin."""

    def fn(key, x):
        return x + std * jax.random.normal(key, x.shape, x.dtype)

    return fn


def random_filter(max_db: float, points: int = 4) -> Augment:
    """FilterAugment's linear type (Nam et al. 2022): a random equaliser, a gain in
    [-max_db, max_db] dB at `points` random mel bins (and both ends), linearly interpolated
    over the bins between. It stands in for the microphone, room or recording chain
    (soundfont, device) that changes a sound's spectral tilt and not what it is."""

    def fn(key, x):
        f = x.shape[-1]
        k_at, k_db = jax.random.split(key)
        inner = jnp.sort(jax.random.uniform(k_at, (points,), maxval=f - 1.0))
        at = jnp.concatenate([jnp.zeros(1), inner, jnp.full(1, f - 1.0)])
        db = jax.random.uniform(k_db, (points + 2,), minval=-max_db, maxval=max_db)
        return x + jnp.interp(jnp.arange(f, dtype=jnp.float32), at, db) * DB_TO_LOG

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


def random_resize_crop(
    canvas_time: float = 1.5,
    canvas_freq: float = 1.0,
    scale: tuple[float, float] = (0.6, 1.5),
    freq_scale: tuple[float, float] | None = None,
    fill: float = 0.0,
) -> Augment:
    """BYOL-A's random resize crop on a log-mel [T, F].

    The clip sits in the middle of a virtual canvas `canvas_time` x `canvas_freq` times its
    size; a window whose sides are the clip's times independent factors drawn from `scale`
    (clipped to the canvas) is placed uniformly on the canvas and resized back to [T, F]
    bilinearly. The canvas outside the clip holds `fill`: BYOL-A crops standardised log-mels
    and pads zeros, the dataset mean. freq_scale: the frequency side's own range (None:
    `scale`); (1, 1) with canvas_freq 1 leaves the frequency axis untouched (a time-only crop
    that keeps pitch and formant positions).
    """
    low = jnp.array([scale[0], (freq_scale or scale)[0]], jnp.float32)
    high = jnp.array([scale[1], (freq_scale or scale)[1]], jnp.float32)

    def fn(key, x):
        t, f = x.shape
        k_size, k_pos = jax.random.split(key)
        shape = jnp.array([t, f], jnp.float32)
        canvas = shape * jnp.array([canvas_time, canvas_freq], jnp.float32)
        size = jax.random.uniform(k_size, (2,), minval=low, maxval=high) * shape
        size = jnp.minimum(size, canvas)
        # The window's origin on the canvas, then in the clip's coordinates.
        origin = jax.random.uniform(k_pos, (2,)) * (canvas - size) - (canvas - shape) / 2
        # Pixel centres of the output grid, mapped into the window (align_corners=False).
        rows = origin[0] + (jnp.arange(t, dtype=jnp.float32) + 0.5) * size[0] / t - 0.5
        cols = origin[1] + (jnp.arange(f, dtype=jnp.float32) + 0.5) * size[1] / f - 0.5
        coords = jnp.meshgrid(rows, cols, indexing="ij")
        # map_coordinates pads with 0 (its cval must be static): resample around `fill`.
        return fill + jax.scipy.ndimage.map_coordinates(x - fill, coords, order=1, mode="constant")

    return fn


def _mask_band(key, length: int, max_width: int) -> jax.Array:
    """A [length] boolean band of uniform width in [0, max_width] at a uniform position."""
    k_width, k_start = jax.random.split(key)
    width = jax.random.randint(k_width, (), 0, max_width + 1)
    start = jax.random.randint(k_start, (), 0, length - width + 1)
    i = jnp.arange(length)
    return (i >= start) & (i < start + width)


def spec_augment(
    time_masks: int = 2, max_time: int = 10, freq_masks: int = 2, max_freq: int = 8
) -> Augment:
    """SpecAugment's masks (Park et al. 2019): `time_masks` bands of up to `max_time` frames and
    `freq_masks` bands of up to `max_freq` mel bins, each set to the clip's mean."""

    def fn(key, x):
        t, f = x.shape
        keys = jax.random.split(key, time_masks + freq_masks)
        masked = jnp.zeros((t, f), bool)
        for k in keys[:time_masks]:
            masked |= _mask_band(k, t, min(max_time, t))[:, None]
        for k in keys[time_masks:]:
            masked |= _mask_band(k, f, min(max_freq, f))[None, :]
        return jnp.where(masked, x.mean(), x)

    return fn


class MixupBank(NamedTuple):
    """A FIFO of a client's recent clips for mixup; carried through its local steps."""

    clips: jax.Array  # [K, T, F]
    count: jax.Array  # int32: how many slots hold clips (<= K)
    next: jax.Array  # int32: the slot the next clip goes to


def mixup_bank_init(size: int, clip_shape: tuple[int, ...]) -> MixupBank:
    return MixupBank(jnp.zeros((size, *clip_shape), jnp.float32), jnp.int32(0), jnp.int32(0))


def mixup_bank_push(bank: MixupBank, clips: jax.Array) -> MixupBank:
    """Appends a batch [B, T, F], overwriting the oldest clips once the bank is full."""
    size, b = bank.clips.shape[0], clips.shape[0]
    if b > size:
        clips = clips[-size:]
        b = size
    slots = (bank.next + jnp.arange(b)) % size
    return MixupBank(
        bank.clips.at[slots].set(clips),
        jnp.minimum(bank.count + b, size).astype(jnp.int32),
        ((bank.next + b) % size).astype(jnp.int32),
    )


def log_mixup_exp(ratio: float):
    """BYOL-A's mixup in the power domain: log((1 - l) exp(x) + l exp(m)), with l uniform in
    [0, ratio] and m a clip drawn from the bank. An empty bank leaves x unchanged.

    Returns fn(key, x [T, F], bank) -> [T, F].
    """

    def fn(key, x, bank: MixupBank):
        k_pick, k_ratio = jax.random.split(key)
        pick = jax.random.randint(k_pick, (), 0, jnp.maximum(bank.count, 1))
        lam = jnp.where(bank.count > 0, jax.random.uniform(k_ratio, (), maxval=ratio), 0.0)
        partner = bank.clips[pick]
        return jnp.logaddexp(jnp.log1p(-lam) + x, jnp.log(lam) + partner)

    return fn
