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


def norm_reports(norms, weights=None):
    """One leaf per client, [n, 3], with the given L2 norms."""
    n = len(norms)
    direction = np.array([1.0, 2.0, 2.0]) / 3.0
    deltas = {"w": jnp.asarray(np.outer(norms, direction), jnp.float32)}
    weights = np.ones(n) if weights is None else np.asarray(weights)
    return ClientReports(deltas, jnp.asarray(weights, jnp.float32), jnp.zeros(n), jnp.arange(n))


def test_adaptive_clip_moves_geometrically_to_the_target_quantile():
    """Andrew et al. 2021 without noise: clip <- clip exp(-lr (fraction within - quantile)),
    each round's updates clipped at that round's clip; it settles at the norms' median."""
    norms = np.array([0.5, 1.5, 3.0, 6.0, 0.0])
    rep = norm_reports(norms, weights=[1, 1, 1, 1, 0])  # the last slot is padding
    params = {"w": jnp.zeros(3)}
    rule = privacy.dp_fedavg(4, clip=1.0, noise_multiplier=0.0, target_quantile=0.5, clip_lr=0.2)
    state, clip = rule.init(params), 1.0
    for _ in range(3):
        got, state = rule.update(rep, state, params)
        want = np.minimum(norms[:4], clip).sum() / 4  # the clipped norms, summed, over K
        np.testing.assert_allclose(np.linalg.norm(got["w"]), want, rtol=1e-5)
        clip *= np.exp(-0.2 * ((norms[:4] <= clip).mean() - 0.5))
        np.testing.assert_allclose(float(state.clip), clip, rtol=1e-5)
    for _ in range(200):
        _, state = rule.update(rep, state, params)
    assert 1.5 * 0.9 < float(state.clip) < 3.0 * 1.1  # oscillates about the median's interval
    # Groups summarized apart and merged: the same summary as the whole cohort at once.
    whole = rule.summary_of(rep, params, state)
    split = [jax.tree.map(lambda x, s=s: x[s], rep) for s in (slice(0, 2), slice(2, 5))]
    merged = rule.merge(*(rule.summary_of(part, params, state) for part in split))
    np.testing.assert_allclose(merged.clipped.total["w"], whole.clipped.total["w"], rtol=1e-6)
    assert float(merged.unclipped) == float(whole.unclipped)


def test_adaptive_clipping_splits_the_noise_between_the_count_and_the_update():
    """With count noise sigma_b, the update's multiplier is (z^-2 - (2 sigma_b)^-2)^-1/2 (so
    the accountant's z holds); its noise has that std times clip / K, and the clip moves by
    the noisy count."""
    z, k = 1.0, 16
    zu = privacy.update_noise_multiplier(z, k / 20)
    assert zu == pytest.approx((1.0 - 1.6**-2) ** -0.5)
    with pytest.raises(ValueError, match="clip_count_stddev=0.4 must exceed"):
        privacy.update_noise_multiplier(z, 0.4)
    rep = norm_reports(np.zeros(k))  # zero updates: what comes back is the noise
    params = {"w": jnp.zeros(3)}
    rule = privacy.dp_fedavg(k, clip=2.0, noise_multiplier=z, target_quantile=0.5, seed=1)
    state = rule.init(params)
    draws, clips = [], []
    for _ in range(400):
        got, new = rule.update(rep, state, params)
        draws.append(np.asarray(got["w"]) / (zu * float(state.clip) / k))
        clips.append(np.log(float(new.clip) / float(state.clip)))
        state = new
    draws = np.concatenate(draws)
    assert abs(draws.std() - 1) < 0.05  # 1,200 draws
    # All 16 within the clip: log step = -0.2 (1 + N(0, 0.8^2) / 16 - 0.5).
    steps = (-np.array(clips) / 0.2 - 0.5) * k
    assert abs(steps.std() - 0.8) < 0.1 and abs(steps.mean()) < 0.15
