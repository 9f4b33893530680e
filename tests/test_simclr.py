"""SimCLR's loss against its formula in NumPy."""

import jax.numpy as jnp
import numpy as np
import pytest

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


def test_simclr_loss_falls_when_views_agree():
    """The same clip twice scores lower than two unrelated clips."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 4))
    same = simclr.nt_xent(jnp.asarray(z, jnp.float32), jnp.asarray(z, jnp.float32), 0.1)
    other = simclr.nt_xent(
        jnp.asarray(z, jnp.float32), jnp.asarray(rng.normal(size=(6, 4)), jnp.float32), 0.1
    )
    assert float(same) < float(other)
