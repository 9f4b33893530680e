"""Differential privacy for the round: DP-FedAvg (McMahan et al. 2018, "Learning
differentially private recurrent language models") at the client level, and its privacy
accounting with Google's dp-accounting (RDP).

Each reporting client's whole update (params and shared model state) is clipped to L2 norm
`clip`; the server sums the clipped updates, divides by the cohort size K (a fixed
denominator: no client's sample count enters) and adds Gaussian noise of standard deviation
noise_multiplier * clip / K per coordinate. Cohorts are fixed-size uniform samples of the
population; the accountant treats each round as Poisson sampling at rate q = K / N, the
usual approximation (the amplification of fixed-size sampling is of the same order).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from fassl_jax.federated.summaries import WeightedSum, add


class NoiseState(NamedTuple):
    key: jax.Array  # the server's noise key, split every round


def _rdp_event(sampling_rate: float, noise_multiplier: float, rounds: int):
    import dp_accounting

    return dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(
            sampling_rate, dp_accounting.GaussianDpEvent(noise_multiplier)
        ),
        rounds,
    )


def epsilon(sampling_rate: float, noise_multiplier: float, rounds: int, delta: float) -> float:
    """The (epsilon, delta) guarantee's epsilon after `rounds` rounds (RDP accountant)."""
    from dp_accounting.rdp import rdp_privacy_accountant

    if rounds == 0:
        return 0.0
    if noise_multiplier <= 0:
        return float("inf")
    accountant = rdp_privacy_accountant.RdpAccountant()
    accountant.compose(_rdp_event(sampling_rate, noise_multiplier, rounds))
    return float(accountant.get_epsilon(delta))


def noise_for_epsilon(sampling_rate: float, rounds: int, target: float, delta: float) -> float:
    """The smallest noise multiplier whose epsilon after `rounds` rounds is `target`."""
    import dp_accounting
    from dp_accounting.rdp import rdp_privacy_accountant

    return float(
        dp_accounting.calibrate_dp_mechanism(
            rdp_privacy_accountant.RdpAccountant,
            lambda z: _rdp_event(sampling_rate, z, rounds),
            target,
            delta,
            bracket_interval=dp_accounting.ExplicitBracketInterval(1e-3, 1e3),
        )
    )


def clip_per_client(deltas, real: jax.Array, clip: float):
    """Each client's whole update (every leaf, client axis first) scaled to L2 norm <= clip;
    padding rows (real 0) to zero."""
    sq = sum(jnp.sum(d.reshape(d.shape[0], -1) ** 2, axis=1) for d in jax.tree.leaves(deltas))
    scale = jnp.minimum(1.0, clip / jnp.maximum(jnp.sqrt(sq), 1e-12)) * real
    return jax.tree.map(
        lambda d: d * scale.reshape((-1,) + (1,) * (d.ndim - 1)).astype(d.dtype), deltas
    )


def dp_fedavg(cohort_size: int, clip: float = 1.0, noise_multiplier: float = 1.0, seed: int = 0):
    """DP-FedAvg as an aggregator (see the module docstring); groups merge by addition."""
    from fassl_jax.federated.aggregators import Aggregator  # that module registers this one

    def init(params):
        del params
        return NoiseState(jax.random.key(seed + 0x0D9))

    def summarize(reports, params) -> WeightedSum:
        del params
        real = (reports.weights > 0).astype(jnp.float32)
        clipped = clip_per_client(reports.deltas, real, clip)
        return WeightedSum(jax.tree.map(lambda d: d.sum(axis=0), clipped), real.sum())

    def finish(summary: WeightedSum, state: NoiseState, params):
        del params
        key, use = jax.random.split(state.key)
        leaves, tree = jax.tree.flatten(summary.total)
        keys = jax.random.split(use, len(leaves))
        std = noise_multiplier * clip / cohort_size
        noisy = [t / cohort_size + std * jax.random.normal(k, t.shape, t.dtype)
                 for t, k in zip(leaves, keys, strict=True)]  # fmt: skip
        return jax.tree.unflatten(tree, noisy), NoiseState(key)

    return Aggregator(init, summarize, add, finish)
