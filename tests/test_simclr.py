"""SimCLR's loss against its formula in NumPy; augmentations are seeded, shaped and vmappable."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fassl_jax.audio import augment
from fassl_jax.ssl import simclr


def nt_xent_numpy(z1, z2, t):
    z = np.concatenate([z1, z2]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    losses = []
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        others = [np.exp(z[i] @ z[k] / t) for k in range(2 * n) if k != i]
        losses.append(-np.log(np.exp(z[i] @ z[j] / t) / np.sum(others)))
    return np.mean(losses)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_matches_its_formula(temperature):
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    got = simclr.nt_xent(jnp.asarray(z1, jnp.float32), jnp.asarray(z2, jnp.float32), temperature)
    np.testing.assert_allclose(float(got), nt_xent_numpy(z1, z2, temperature), rtol=1e-5)


AUGMENTS = {
    "crop": augment.random_crop(8),
    "gain": augment.random_gain(6.0),
    "noise": augment.gaussian_noise(0.1),
    "simclr_views": simclr.default_views(8, 6.0, 0.05),
}


@pytest.mark.parametrize("name", sorted(AUGMENTS))
def test_augmentations_are_seeded_keep_shapes_and_vmap(name):
    aug = AUGMENTS[name]
    x = jnp.asarray(np.random.default_rng(0).normal(size=(12, 5)), jnp.float32)
    a, b = aug(jax.random.key(0), x), aug(jax.random.key(0), x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, aug(jax.random.key(1), x))
    assert a.shape == ((8, 5) if name in ("crop", "simclr_views") else x.shape)
    # A client axis of batches: the vmapped call equals a loop over clients.
    clients = jnp.stack([x, x + 1.0, x * 2.0])  # [C, T, F] -> one clip per client here
    keys = jax.random.split(jax.random.key(3), 3)
    looped = jnp.stack([aug(k, c) for k, c in zip(keys, clients, strict=True)])
    np.testing.assert_allclose(jax.vmap(aug)(keys, clients), looped, rtol=1e-6)


def test_simclr_loss_falls_when_views_agree():
    """The same clip twice scores lower than two unrelated clips."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 4))
    same = simclr.nt_xent(jnp.asarray(z, jnp.float32), jnp.asarray(z, jnp.float32), 0.1)
    other = simclr.nt_xent(
        jnp.asarray(z, jnp.float32), jnp.asarray(rng.normal(size=(6, 4)), jnp.float32), 0.1
    )
    assert float(same) < float(other)
