"""Each SSL loss against a direct NumPy implementation of its formula."""

import glob
import inspect
import itertools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fassl_jax.audio import features
from fassl_jax.data import audio_io
from fassl_jax.ssl import acop, barlow_twins, byol_a


def f32(x):
    return jnp.asarray(x, jnp.float32)


def barlow_twins_numpy(z1, z2, lam, eps=1e-5):
    n, d = z1.shape
    a = (z1 - z1.mean(0)) / np.sqrt(z1.var(0) + eps)
    b = (z2 - z2.mean(0)) / np.sqrt(z2.var(0) + eps)
    c = np.zeros((d, d))
    for i in range(d):
        for j in range(d):
            c[i, j] = sum(a[k, i] * b[k, j] for k in range(n)) / n
    return sum((1 - c[i, i]) ** 2 for i in range(d)) + lam * sum(
        c[i, j] ** 2 for i in range(d) for j in range(d) if i != j
    )


@pytest.mark.parametrize("lam", [5e-3, 0.5])
def test_barlow_twins_matches_its_formula(lam):
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(8, 5)), rng.normal(size=(8, 5))
    got = barlow_twins.barlow_twins_loss(f32(z1), f32(z2), lam)
    np.testing.assert_allclose(float(got), barlow_twins_numpy(z1, z2, lam), rtol=1e-5)


def test_barlow_twins_is_near_zero_for_identical_decorrelated_views():
    z = np.linalg.qr(np.random.default_rng(1).normal(size=(64, 4)))[0]  # orthogonal columns
    z = (z - z.mean(0)) / z.std(0)
    assert float(barlow_twins.barlow_twins_loss(f32(z), f32(z), 5e-3)) < 0.05


def test_byol_normalized_regression_matches_its_formula():
    rng = np.random.default_rng(2)
    p1, p2, t1, t2 = (rng.normal(size=(6, 4)) for _ in range(4))

    def regression(p, z):
        p = p / np.linalg.norm(p, axis=1, keepdims=True)
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
        return np.sum((p - z) ** 2, axis=1)

    want = np.mean(regression(p1, t2) + regression(p2, t1))
    got = byol_a.byol_loss(f32(p1), f32(p2), f32(t1), f32(t2))
    np.testing.assert_allclose(float(got), want, rtol=1e-5)
    # The targets carry no gradient.
    g = jax.grad(lambda t: byol_a.byol_loss(f32(p1), f32(p2), t, f32(t2)))(f32(t1))
    assert float(jnp.abs(g).max()) == 0.0


def test_acop_orders_and_labels_round_trip():
    orders = acop.permutations(3)
    assert len(orders) == 6 and {tuple(o) for o in orders} == set(itertools.permutations(range(3)))
    subclips = jnp.arange(3 * 2 * 2, dtype=jnp.float32).reshape(3, 2, 2)
    for label in range(6):
        shuffled = acop.shuffle(subclips, jnp.int32(label), orders)
        for i in range(3):  # position i holds original sub-clip orders[label, i]
            np.testing.assert_array_equal(shuffled[i], subclips[orders[label, i]])
        np.testing.assert_array_equal(acop.unshuffle(shuffled, jnp.int32(label), orders), subclips)
    # Distinct labels give distinct orders of distinct sub-clips.
    seen = {
        tuple(np.asarray(acop.shuffle(subclips, jnp.int32(k), orders))[:, 0, 0]) for k in range(6)
    }
    assert len(seen) == 6


def test_acop_permutation_cross_entropy_matches_its_formula():
    rng = np.random.default_rng(3)
    logits, labels = rng.normal(size=(7, 6)), rng.integers(0, 6, size=7)
    want = np.mean(
        [np.log(np.exp(row).sum()) - row[y] for row, y in zip(logits, labels, strict=True)]
    )
    got = acop.order_cross_entropy(f32(logits), jnp.asarray(labels, jnp.int32))
    np.testing.assert_allclose(float(got), want, rtol=1e-5)


def test_acop_inputs_are_crops_cut_with_gaps_then_shuffled_by_their_label():
    """The whole data path: frames numbered 0..T-1 (no gain, no noise) come out as n
    sub-clips of consecutive frames, gap_frames apart, in the order their label names."""
    n, sub, gap = 3, 5, 4
    make = acop.order_inputs_fn(n, sub, gap, gain_db=0.0, noise_std=0.0)
    frames = jnp.tile(jnp.arange(40, dtype=jnp.float32)[None, :, None], (16, 1, 3))
    shuffled, labels = make(frames, jax.random.key(0))
    assert shuffled.shape == (16, n, sub, 3) and len(set(np.asarray(labels).tolist())) > 3
    orders = acop.permutations(n)
    for clip, label in zip(np.asarray(shuffled), np.asarray(labels), strict=True):
        first = clip[:, 0, 0]  # each position's first frame number
        start = first.min()
        np.testing.assert_array_equal(first, start + orders[label] * (sub + gap))
        np.testing.assert_array_equal(clip[:, :, 0], first[:, None] + np.arange(sub))


def test_acop_gap_hides_the_join_that_gives_contiguous_sub_clips_away(fsdd_dir):
    """On real speech, which of two adjacent sub-clips came first can be read from the join
    alone (the true join is the smoother one) when they touch: frames closer than n_fft / hop
    share samples. ACOP's default gap takes most of that shortcut away."""
    paths = sorted(glob.glob(os.path.join(fsdd_dir, "*.wav")))[::5][:300]
    clips = np.stack([audio_io.read_clip(p, 16_000, 16_000) for p in paths])
    log_mels = features.log_mel_batched(clips)

    def join_reads_order(sub, gap):
        a, b = np.moveaxis(np.asarray(acop.cut(jnp.asarray(log_mels), 2, sub, gap)), 1, 0)
        true_join = np.linalg.norm(a[:, -1] - b[:, 0], axis=-1)
        reversed_join = np.linalg.norm(b[:, -1] - a[:, 0], axis=-1)
        return float(np.mean(true_join < reversed_join))

    defaults = inspect.signature(acop.build).parameters
    contiguous = join_reads_order(defaults["subclip_frames"].default, 0)
    with_gap = join_reads_order(defaults["subclip_frames"].default, defaults["gap_frames"].default)
    assert contiguous > 0.75, contiguous
    assert with_gap < contiguous - 0.15, (with_gap, contiguous)
