"""Differential privacy for the round: DP-FedAvg (McMahan et al. 2018, "Learning
differentially private recurrent language models") at the client level, and its privacy
accounting with Google's dp-accounting (RDP).

Each reporting client's whole update (params and shared model state) is clipped to L2 norm
`clip`; the server sums the clipped updates, divides by the cohort size K (a fixed
denominator: no client's sample count enters) and adds Gaussian noise of standard deviation
noise_multiplier * clip / K per coordinate. Cohorts are fixed-size uniform samples of the
population; the accountant treats each round as Poisson sampling at rate q = K / N, the
usual approximation (the amplification of fixed-size sampling is of the same order).

Adaptive clipping (Andrew et al. 2021, "Differentially private learning with adaptive
clipping"), with target_quantile > 0: each round also counts the clients whose update norm
was within the clip, privately (Gaussian noise of std clip_count_stddev on the count), and
moves the clip geometrically towards that quantile of the norms:
clip <- clip * exp(-clip_lr * (noisy fraction unclipped - target_quantile)). The noise on
the update then takes multiplier (z^-2 - (2 clip_count_stddev)^-2)^-1/2, so the two releases
together are as private as one Gaussian mechanism of multiplier z (their Theorem 1): the
accountant's z is unchanged.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from fassl_jax.federated.summaries import WeightedSum, add


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


def clip_per_client(deltas, real: jax.Array, clip, with_norms: bool = False):
    """Each client's whole update (every leaf, client axis first) scaled to L2 norm <= clip;
    padding rows (real 0) to zero. with_norms: also the norms before clipping."""
    sq = sum(jnp.sum(d.reshape(d.shape[0], -1) ** 2, axis=1) for d in jax.tree.leaves(deltas))
    norms = jnp.sqrt(sq)
    scale = jnp.minimum(1.0, clip / jnp.maximum(norms, 1e-12)) * real
    clipped = jax.tree.map(
        lambda d: d * scale.reshape((-1,) + (1,) * (d.ndim - 1)).astype(d.dtype), deltas
    )
    return (clipped, norms) if with_norms else clipped


class DPState(NamedTuple):
    key: jax.Array  # the server's noise key, split every round
    clip: jax.Array  # float32: the clip norm of the next round (fixed unless adaptive)


class DPSummary(NamedTuple):
    clipped: WeightedSum  # sum of the clipped updates, count of reporting clients
    unclipped: jax.Array  # how many reporting clients' norms were within the clip


def update_noise_multiplier(z: float, count_stddev: float) -> float:
    """The update's noise multiplier when the unclipped count is released with Gaussian
    noise of std count_stddev, for a total privacy of multiplier z (Andrew et al. 2021)."""
    if z == 0:
        return 0.0
    if 2 * count_stddev <= z:
        raise ValueError(
            f"adaptive clipping: clip_count_stddev={count_stddev} must exceed "
            f"noise_multiplier / 2 = {z / 2}; raise it (Andrew et al. use cohort size / 20)"
        )
    return (z**-2 - (2 * count_stddev) ** -2) ** -0.5


def dp_fedavg(
    cohort_size: int,
    clip: float = 1.0,
    noise_multiplier: float = 1.0,
    seed: int = 0,
    target_quantile: float = 0.0,
    clip_lr: float = 0.2,
    clip_count_stddev: float = 0.0,
):
    """DP-FedAvg as an aggregator (see the module docstring); groups merge by addition.
    target_quantile > 0: adaptive clipping from `clip`, learning rate clip_lr, count noise
    clip_count_stddev (0: cohort_size / 20, the paper's choice)."""
    from fassl_jax.federated.aggregators import Aggregator  # that module registers this one

    if not 0.0 <= target_quantile < 1.0:
        raise ValueError(
            f"aggregator.target_quantile={target_quantile} must lie in [0, 1) (0: a fixed clip)"
        )
    adaptive = target_quantile > 0
    count_std = (clip_count_stddev or cohort_size / 20) if adaptive and noise_multiplier else 0.0
    update_z = (
        update_noise_multiplier(noise_multiplier, count_std) if adaptive else noise_multiplier
    )

    def init(params):
        del params
        return DPState(jax.random.key(seed + 0x0D9), jnp.float32(clip))

    def summarize(reports, params, state: DPState) -> DPSummary:
        del params
        real = (reports.weights > 0).astype(jnp.float32)
        clipped, norms = clip_per_client(reports.deltas, real, state.clip, with_norms=True)
        within = jnp.where(norms <= state.clip, real, 0.0).sum()
        return DPSummary(
            WeightedSum(jax.tree.map(lambda d: d.sum(axis=0), clipped), real.sum()), within
        )

    def finish(summary: DPSummary, state: DPState, params):
        del params
        key, use, count_key = jax.random.split(state.key, 3)
        leaves, tree = jax.tree.flatten(summary.clipped.total)
        keys = jax.random.split(use, len(leaves))
        std = update_z * state.clip / cohort_size
        noisy = [t / cohort_size + std * jax.random.normal(k, t.shape, t.dtype)
                 for t, k in zip(leaves, keys, strict=True)]  # fmt: skip
        new_clip = state.clip
        if adaptive:
            count = summary.unclipped + count_std * jax.random.normal(count_key)
            fraction = count / cohort_size
            new_clip = state.clip * jnp.exp(-clip_lr * (fraction - target_quantile))
        return jax.tree.unflatten(tree, noisy), DPState(key, new_clip.astype(jnp.float32))

    return Aggregator(init, summarize, add, finish, summarize_reads_state=True)
