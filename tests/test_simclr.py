"""SimCLR's loss against its formula in NumPy."""

import flax.linen as nn
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


def test_simclr_loss_falls_when_views_agree():
    """The same clip twice scores lower than two unrelated clips."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 4))
    same = simclr.nt_xent(jnp.asarray(z, jnp.float32), jnp.asarray(z, jnp.float32), 0.1)
    other = simclr.nt_xent(
        jnp.asarray(z, jnp.float32), jnp.asarray(rng.normal(size=(6, 4)), jnp.float32), 0.1
    )
    assert float(same) < float(other)


class _BatchNormOnly(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        return nn.BatchNorm(use_running_average=not train, momentum=0.9)(x.reshape(len(x), -1))


@pytest.mark.parametrize("separate", [False, True])
def test_two_views_share_a_batchnorm_batch_or_each_has_its_own(separate):
    """Barlow Twins' reference runs the network once per view: each view's batch is
    normalised on its own and the running mean moves twice. SimCLR's views share one batch."""
    model, views = _BatchNormOnly(), augment.random_gain(6.0)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(8, 6, 4)), jnp.float32)
    variables = model.init(jax.random.key(0), x)
    key = jax.random.key(3)
    z1, z2, updates = simclr.two_view_embeddings(model, views, separate)(variables, x, key)
    k1, k2, _ = jax.random.split(key, 3)
    v1, v2 = (np.asarray(augment.batched(views)(k, x)).reshape(8, -1) for k in (k1, k2))
    ran_mean = np.asarray(updates["batch_stats"]["BatchNorm_0"]["mean"])
    if separate:
        np.testing.assert_allclose(np.asarray(z1).mean(0), 0.0, atol=1e-5)
        np.testing.assert_allclose(np.asarray(z2).mean(0), 0.0, atol=1e-5)
        want = 0.9 * (0.1 * v1.mean(0)) + 0.1 * v2.mean(0)  # two updates from 0
    else:
        assert np.abs((np.asarray(z1) - np.asarray(z2)).mean(0)).min() > 1e-3  # views' offset
        want = 0.1 * np.concatenate([v1, v2]).mean(0)
    np.testing.assert_allclose(ran_mean, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name, separate", [("simclr", False), ("barlow_twins", True)])
def test_each_method_asks_for_its_own_batchnorm_batches(monkeypatch, name, separate):
    """Barlow Twins runs its projector's BatchNorm on each view's batch alone (as its
    reference does); SimCLR normalises the two views as one batch."""
    import importlib

    module = importlib.import_module(f"fassl_jax.ssl.{name}")
    asked, original = [], simclr.two_view_embeddings

    def spy(model, views, separate=False):
        asked.append(separate)
        return original(model, views, separate)

    monkeypatch.setattr(module, "two_view_embeddings", spy)
    module.build(_BatchNormOnly(), embed_dim=8, crop_frames=8)
    assert asked == [separate]
