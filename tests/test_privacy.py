"""DP-FedAvg's clipping and noise against NumPy, and its accounting against dp-accounting."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dp_accounting import GaussianDpEvent, PoissonSampledDpEvent, SelfComposedDpEvent
from dp_accounting.rdp import rdp_privacy_accountant

from fassl_jax.federated import privacy
from fassl_jax.federated.aggregators import ClientReports


def test_epsilon_is_dp_accountings_rdp_epsilon():
    accountant = rdp_privacy_accountant.RdpAccountant()
    accountant.compose(SelfComposedDpEvent(PoissonSampledDpEvent(0.02, GaussianDpEvent(1.3)), 250))
    assert privacy.epsilon(0.02, 1.3, 250, 1e-5) == pytest.approx(accountant.get_epsilon(1e-5))
    assert privacy.epsilon(0.02, 1.3, 0, 1e-5) == 0.0
    assert privacy.epsilon(0.02, 0.0, 10, 1e-5) == float("inf")


def test_noise_for_a_target_epsilon_spends_it():
    z = privacy.noise_for_epsilon(0.05, 100, 3.0, 1e-5)
    assert privacy.epsilon(0.05, z, 100, 1e-5) == pytest.approx(3.0, rel=0.02)
    assert privacy.epsilon(0.05, 0.9 * z, 100, 1e-5) > 3.0  # less noise spends more


def test_dp_fedavg_clips_each_update_and_adds_noise_of_the_stated_scale():
    rng = np.random.default_rng(0)
    deltas = {"a": rng.normal(size=(5, 100, 40)), "b": rng.normal(size=(5, 7))}
    deltas["a"][1] *= 1e-3  # one update already inside the clip
    weights = np.array([3.0, 1.0, 2.0, 5.0, 0.0])  # the last slot is padding
    rep = ClientReports(jax.tree.map(lambda d: jnp.asarray(d, jnp.float32), deltas),
                        jnp.asarray(weights, jnp.float32), jnp.zeros(5), jnp.arange(5))  # fmt: skip
    clip, k = 2.0, 4
    norms = np.sqrt(sum((d.reshape(5, -1) ** 2).sum(1) for d in deltas.values()))
    scale = np.minimum(1.0, clip / norms) * (weights > 0)
    want = {n: np.tensordot(scale, d, 1) / k for n, d in deltas.items()}  # sample counts unused
    params = {"a": jnp.zeros((100, 40)), "b": jnp.zeros(7)}
    quiet = privacy.dp_fedavg(k, clip=clip, noise_multiplier=0.0)
    got, _ = quiet.update(rep, quiet.init(params), params)
    for n in want:
        np.testing.assert_allclose(got[n], want[n], rtol=1e-5, atol=1e-7)
    noisy = privacy.dp_fedavg(k, clip=clip, noise_multiplier=1.5, seed=3)
    state = noisy.init(params)
    got, state2 = noisy.update(rep, state, params)
    residual = np.concatenate([(np.asarray(got[n]) - want[n]).ravel() for n in want])
    assert abs(residual.std() / (1.5 * clip / k) - 1) < 0.03  # 4,007 draws
    assert abs(residual.mean()) < 4 * (1.5 * clip / k) / np.sqrt(residual.size)
    again, _ = noisy.update(rep, state2, params)  # the next round draws new noise
    assert not np.allclose(np.asarray(again["b"]), np.asarray(got["b"]))
