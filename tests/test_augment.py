"""Augmentations: seeded, shape-keeping, vmappable over a client axis, and doing what they say."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fassl_jax.audio import augment
from fassl_jax.ssl import simclr

T, F = 24, 16
BANK = augment.mixup_bank_push(
    augment.mixup_bank_init(4, (T, F)),
    jnp.asarray(np.random.default_rng(1).normal(size=(3, T, F)), jnp.float32),
)
MIXUP = augment.log_mixup_exp(0.4)

AUGMENTS = {
    "crop": augment.random_crop(8),
    "gain": augment.random_gain(6.0),
    "filter": augment.random_filter(6.0),
    "noise": augment.gaussian_noise(0.1),
    "resize_crop": augment.random_resize_crop(),
    "spec_augment": augment.spec_augment(2, 6, 2, 4),
    "mixup": lambda key, x: MIXUP(key, x, BANK),
    "simclr_views": simclr.default_views(8, 6.0, 0.05, time_masks=1, freq_masks=1),
}
CROPPING = ("crop", "simclr_views")


def clip(seed: int = 0) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).normal(size=(T, F)) - 5.0, jnp.float32)


@pytest.mark.parametrize("name", sorted(AUGMENTS))
def test_augmentations_are_seeded_keep_shapes_and_vmap(name):
    aug, x = AUGMENTS[name], clip()
    a, b = aug(jax.random.key(0), x), aug(jax.random.key(0), x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, aug(jax.random.key(1), x))
    assert a.shape == ((8, F) if name in CROPPING else x.shape)
    # A client axis: the vmapped call equals a loop over clients.
    clients = jnp.stack([x, x + 1.0, x * 2.0])
    keys = jax.random.split(jax.random.key(3), 3)
    looped = jnp.stack([aug(k, c) for k, c in zip(keys, clients, strict=True)])
    np.testing.assert_allclose(jax.vmap(aug)(keys, clients), looped, rtol=1e-5, atol=1e-5)


def test_filter_is_one_piecewise_linear_gain_curve_within_its_db_bound():
    """The same gain on every frame; in dB, at most `points` kinks inside and every value
    within +-max_db; over many draws the gains reach near both bounds."""
    x = clip()
    gains = []
    for seed in range(50):
        gain = np.asarray(augment.random_filter(6.0, points=3)(jax.random.key(seed), x) - x)
        np.testing.assert_allclose(gain, np.broadcast_to(gain[:1], gain.shape), atol=1e-5)
        db = gain[0] / (np.log(10.0) / 10.0)
        assert np.abs(db).max() <= 6.0 + 1e-4
        # Away from the kinks, equal steps: a kink shows as a non-zero second difference.
        kinks = np.abs(np.diff(db, 2)) > 1e-3
        assert kinks.sum() <= 2 * 3  # a kink between bins bends two second differences
        gains.append(db)
    assert np.max(gains) > 5.0 and np.min(gains) < -5.0


def test_resize_crop_at_scale_one_on_its_own_canvas_is_the_identity():
    x = clip()
    same = augment.random_resize_crop(1.0, 1.0, (1.0, 1.0))(jax.random.key(0), x)
    np.testing.assert_allclose(same, x, atol=1e-5)


def test_resize_crop_zooms_in_time():
    """A half-length window of a time ramp, stretched back: the ramp's slope halves."""
    ramp = jnp.tile(jnp.arange(T, dtype=jnp.float32)[:, None], (1, F))
    out = augment.random_resize_crop(1.0, 1.0, (0.5, 0.5))(jax.random.key(0), ramp)
    slope = np.diff(np.asarray(out[2:-2, F // 2]))
    np.testing.assert_allclose(slope, 0.5, atol=1e-4)


def test_resize_crop_with_frequency_scale_one_keeps_every_frequency_profile():
    """freq_scale=(1, 1): each output frame is a blend of two neighbouring input frames (a
    time stretch), never a frequency shift; the time side still zooms."""
    x = clip()
    out = np.asarray(augment.random_resize_crop(1.5, 1.0, (0.5, 0.5), (1.0, 1.0), fill=-5.0)(
        jax.random.key(3), x))  # fmt: skip
    xs = np.asarray(x)
    padded = np.concatenate([np.full((1, F), -5.0), xs, np.full((1, F), -5.0)])
    for frame in out[2:-2]:
        # frame = a * row_i + (1 - a) * row_{i+1} for some i and a in [0, 1]
        errors = []
        for i in range(len(padded) - 1):
            d = padded[i] - padded[i + 1]
            a = np.clip((frame - padded[i + 1]) @ d / max(d @ d, 1e-12), 0, 1)
            errors.append(np.abs(frame - padded[i + 1] - a * d).max())
        assert min(errors) < 1e-4
    assert not np.allclose(out, xs, atol=1e-3)


def test_resize_crop_pads_with_the_fill_value_not_the_clips_mean():
    """Zoomed out (window 1.5x the clip on a 1.5x canvas): the clip shrinks to the middle
    two thirds and the rest is `fill` (BYOL-A: 0 on standardised log-mels, the data mean)."""
    x = jnp.full((T, F), 3.0)
    out = np.asarray(augment.random_resize_crop(1.5, 1.0, (1.5, 1.5), (1.0, 1.0))(
        jax.random.key(0), x))  # fmt: skip
    np.testing.assert_allclose(out[:3], 0.0, atol=1e-6)
    np.testing.assert_allclose(out[-3:], 0.0, atol=1e-6)
    np.testing.assert_allclose(out[T // 2], 3.0, atol=1e-6)


def test_spec_augment_masks_whole_bands_with_the_mean():
    x = clip()
    out = np.asarray(augment.spec_augment(1, 6, 0, 4)(jax.random.key(2), x))
    changed = np.flatnonzero((out != np.asarray(x)).any(axis=1))
    assert len(changed) <= 6 and np.all(np.diff(changed) == 1)  # one band of frames
    np.testing.assert_allclose(out[changed], float(x.mean()), rtol=1e-6)


def test_mixup_is_log_mixup_exp_with_a_bank_clip_and_empty_bank_is_identity():
    x = clip()
    out = np.asarray(MIXUP(jax.random.key(5), x, BANK), np.float64)
    candidates = np.asarray(BANK.clips[: int(BANK.count)], np.float64)
    # out = log((1 - l) e^x + l e^m) for one bank clip m and one l in [0, 0.4].
    fits = []
    for m in candidates:
        lam = (np.exp(out) - np.exp(x)) / (np.exp(m) - np.exp(x))
        fits.append(np.ptp(lam) < 1e-3 and 0 <= lam.mean() <= 0.4)
    assert any(fits)
    empty = augment.mixup_bank_init(4, (T, F))
    np.testing.assert_array_equal(MIXUP(jax.random.key(5), x, empty), x)


def test_mixup_bank_is_a_fifo():
    bank = augment.mixup_bank_init(3, (1, 1))
    for v in range(5):
        bank = augment.mixup_bank_push(bank, jnp.full((1, 1, 1), float(v)))
    assert int(bank.count) == 3
    assert sorted(np.asarray(bank.clips).ravel().tolist()) == [2.0, 3.0, 4.0]
