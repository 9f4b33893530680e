"""Aggregators: like optax's (init, update) pairs, they turn the cohort's client updates into
one server update (a delta the server optimizer then applies as a pseudo-gradient, see
optimizers.py).

    state = aggregator.init(params)
    delta, state = aggregator.update(reports, state, params)

`reports` hold the client deltas (client axis first; in a round, the params and the shared
model state such as BatchNorm statistics, so that a rule mixes the whole state as the
papers' code does), the clients' sample counts n_i (0 marks a padding slot, which never
counts) and their mean local losses L_i. The server optimizer then moves only the params.
`update` is three steps, so that a round can take its cohort a group of clients at a time
and never hold every client's delta at once:

    summary = aggregator.summary_of(reports, params, state)  # one group of clients
    summary = aggregator.merge(summary, other)        # two groups
    delta, state = aggregator.finish(summary, state, params)

A group of padding slots summarizes to the merge's identity. Definitions follow
the papers (FedVSSL, arXiv 2207.01975; L-DAWA, ICCV 2023; README.md, "Aggregation").
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fassl_jax.federated import privacy, summaries
from fassl_jax.federated.summaries import add, mean, weighted_sum

Params = Any
AggState = Any
Summary = Any


class ClientReports(NamedTuple):
    deltas: Params  # [C, ...] client model - global model
    weights: jax.Array  # [C] sample counts n_i; 0: a padding slot
    losses: jax.Array  # [C] mean local loss L_i
    slots: jax.Array | None = None  # [C] each client's row in the cohort (robust rules)


class Aggregator(NamedTuple):
    init: Callable[[Params], AggState]
    summarize: Callable[..., Summary]  # (reports, params), or (reports, params, state)
    merge: Callable[[Summary, Summary], Summary]
    finish: Callable[[Summary, AggState, Params], tuple[Params, AggState]]
    # True: summarize also reads the rule's state (DP-FedAvg's adaptive clip norm).
    summarize_reads_state: bool = False

    def summary_of(self, reports: ClientReports, params: Params, state: AggState) -> Summary:
        if self.summarize_reads_state:
            return self.summarize(reports, params, state)
        return self.summarize(reports, params)

    def update(self, reports: ClientReports, state: AggState, params: Params):
        """The whole cohort's reports at once."""
        return self.finish(self.summary_of(reports, params, state), state, params)


class RoundCount(NamedTuple):
    rounds: jax.Array  # int32: aggregations done before this one


def _count_rounds(params) -> RoundCount:
    del params
    return RoundCount(jnp.int32(0))


def _sample_weighted(reports: ClientReports, params) -> summaries.WeightedSum:
    del params
    return weighted_sum(reports.deltas, reports.weights)


def fedavg() -> Aggregator:
    """McMahan et al. 2017: the mean of the client deltas weighted by n_i."""

    def init(params):
        del params
        return ()

    def finish(summary, state, params):
        del params
        return mean(summary), state

    return Aggregator(init, _sample_weighted, add, finish)


def fedvssl(alpha: float = 0.9, beta: bool = True) -> Aggregator:
    """FedVSSL: client weights alpha * exp(-L_i)/sum exp(-L_j) + (1 - alpha) * n_i/sum n_j;
    with beta (the "SWA" switch), from the second aggregation on the new global model is
    0.5 * previous + 0.5 * aggregate, i.e. half the aggregate delta.

    alpha = 0, beta = False is FedAvg; alpha = 1, beta = False is the loss-based rule."""

    def summarize(reports, params):
        by_loss = summaries.softmax_sum(reports.deltas, -reports.losses, reports.weights > 0)
        return by_loss, _sample_weighted(reports, params)

    def merge(a, b):
        return summaries.merge_softmax(a[0], b[0]), add(a[1], b[1])

    def finish(summary, state, params):
        del params
        # sum_i (alpha p_i + (1 - alpha) q_i) d_i = alpha * (p-mean) + (1 - alpha) * (q-mean)
        by_loss, by_size = mean(summary[0]), mean(summary[1])
        delta = jax.tree.map(lambda p, q: alpha * p + (1.0 - alpha) * q, by_loss, by_size)
        if beta:
            half = jnp.where(state.rounds >= 1, 0.5, 1.0)
            delta = jax.tree.map(lambda d: d * half.astype(d.dtype), delta)
        return delta, RoundCount(state.rounds + 1)

    return Aggregator(_count_rounds, summarize, merge, finish)


def loss_based() -> Aggregator:
    """FedVSSL's loss-based weights alone: exp(-L_i) / sum_j exp(-L_j)."""
    return fedvssl(alpha=1.0, beta=False)


def ldawa_scales(client_params: Params, params: Params) -> Params:
    """Per client and per layer (each parameter tensor): rho = min(1, cos(w_i, w_global))."""

    def rho(w_i, w):
        dots = jnp.tensordot(w_i, w, axes=w.ndim)  # over every axis but the client axis
        norms = jnp.linalg.norm(w_i.reshape(w_i.shape[0], -1), axis=1) * jnp.linalg.norm(w)
        return jnp.minimum(1.0, dots / jnp.maximum(norms, 1e-12))

    return jax.tree.map(rho, client_params, params)


def ldawa(warmup_rounds: int = 2) -> Aggregator:
    """L-DAWA (Rehman et al., ICCV 2023): after `warmup_rounds` FedAvg rounds, each client's
    layer w_i^l is scaled by rho = min(1, cos(w_i^l, w_global^l)) and the new global layer is
    the plain mean over the cohort. In a round the shared model state (BatchNorm statistics,
    BYOL's target) takes the same plain mean, unscaled."""

    def summarize(reports, params):
        real = (reports.weights > 0).astype(reports.weights.dtype)
        client_params = jax.tree.map(jnp.add, reports.deltas, params)
        scales = ldawa_scales(client_params, params)
        if isinstance(params, dict) and "state" in params:  # a round's model state: unscaled
            scales["state"] = jax.tree.map(jnp.ones_like, scales["state"])
        scaled = jax.tree.map(
            lambda w, s: w * s.reshape(s.shape + (1,) * (w.ndim - 1)), client_params, scales
        )
        return weighted_sum(scaled, real), _sample_weighted(reports, params)

    def finish(summary, state, params):
        dawa = jax.tree.map(jnp.subtract, mean(summary[0]), params)
        plain = mean(summary[1])
        warm = state.rounds >= warmup_rounds
        delta = jax.tree.map(lambda d, p: jnp.where(warm, d, p), dawa, plain)
        return delta, RoundCount(state.rounds + 1)

    return Aggregator(_count_rounds, summarize, add, finish)


# --- Robust rules. They need every client's delta at once: a group's summary is the whole
# cohort's buffer [cohort_size, ...] with the group's rows filled at their slots and zeros
# elsewhere, so merging groups is adding buffers (memory: one delta per cohort slot).


class CohortBuffer(NamedTuple):
    deltas: Params  # [S, ...] the deltas at their slots, zero elsewhere
    real: jax.Array  # [S] 1.0 where a client (not padding) reported


def _buffer(cohort_size: int):
    def summarize(reports, params):
        del params
        if reports.slots is None:
            raise ValueError("robust rules need each report's cohort slot (ClientReports.slots)")
        real = (reports.weights > 0).astype(jnp.float32)

        def place(d):
            keep = real.reshape((-1,) + (1,) * (d.ndim - 1)).astype(d.dtype)
            return jnp.zeros((cohort_size, *d.shape[1:]), d.dtype).at[reports.slots].add(d * keep)

        return CohortBuffer(
            jax.tree.map(place, reports.deltas),
            jnp.zeros(cohort_size).at[reports.slots].add(real),
        )

    return summarize


def _no_state(params):
    del params
    return ()


def coordinate_median(cohort_size: int) -> Aggregator:
    """Yin et al. 2018: per coordinate, the median of the reporting clients' deltas."""

    def finish(buf, state, params):
        del params
        real = buf.real > 0

        def median(d):
            mask = real.reshape((-1,) + (1,) * (d.ndim - 1))
            return jnp.nanmedian(jnp.where(mask, d, jnp.nan), axis=0).astype(d.dtype)

        return jax.tree.map(median, buf.deltas), state

    return Aggregator(_no_state, _buffer(cohort_size), add, finish)


def trimmed_mean(cohort_size: int, trim: float = 0.1) -> Aggregator:
    """Yin et al. 2018: per coordinate, drop the `trim` share of the reporting clients'
    largest and as many of the smallest values, and average the rest."""

    def finish(buf, state, params):
        del params
        real = buf.real > 0
        n = real.sum().astype(jnp.int32)
        k = jnp.floor(trim * n.astype(jnp.float32)).astype(jnp.int32)

        def trimmed(d):
            mask = real.reshape((-1,) + (1,) * (d.ndim - 1))
            ordered = jnp.sort(jnp.where(mask, d, jnp.inf), axis=0)  # padding sorts last
            rank = jnp.arange(cohort_size, dtype=jnp.int32).reshape((-1,) + (1,) * (d.ndim - 1))
            keep = (rank >= k) & (rank < n - k)
            total = jnp.where(keep, ordered, jnp.zeros((), d.dtype)).sum(axis=0)
            return total / jnp.maximum(n - 2 * k, 1).astype(d.dtype)

        return jax.tree.map(trimmed, buf.deltas), state

    return Aggregator(_no_state, _buffer(cohort_size), add, finish)


def krum(cohort_size: int, byzantine: int = 1, keep: int = 1) -> Aggregator:
    """Blanchard et al. 2017: each reporting client scores the sum of squared distances to
    its n - byzantine - 2 nearest others; the mean of the `keep` lowest-scoring deltas
    (keep 1: Krum; more: multi-Krum)."""

    def finish(buf, state, params):
        del params
        real = buf.real > 0
        n = real.sum().astype(jnp.int32)
        flat = jnp.concatenate(
            [d.reshape(cohort_size, -1) for d in jax.tree.leaves(buf.deltas)], axis=1
        )
        sq = jnp.sum(flat**2, axis=1)
        gram = jnp.matmul(flat, flat.T, precision=jax.lax.Precision.HIGHEST)  # no TF32
        dist = sq[:, None] + sq[None, :] - 2.0 * gram
        pair = real[:, None] & real[None, :] & ~jnp.eye(cohort_size, dtype=bool)
        dist = jnp.where(pair, jnp.maximum(dist, 0.0), jnp.inf)
        neighbours = jnp.maximum(n - byzantine - 2, 1)
        nearest = jnp.sort(dist, axis=1)
        rank = jnp.arange(cohort_size, dtype=jnp.int32)[None, :]
        score = jnp.where(rank < neighbours, nearest, jnp.zeros((), nearest.dtype)).sum(axis=1)
        # One reporting client has no neighbour (score inf): it is the pick all the same.
        score = jnp.where(real, jnp.where(jnp.isinf(score), 0.0, score), jnp.inf)
        chosen = jnp.argsort(score)[:keep]
        picked = jnp.zeros(cohort_size).at[chosen].set(1.0) * buf.real
        weight = picked / jnp.maximum(picked.sum(), 1.0)
        return jax.tree.map(
            lambda d: jnp.tensordot(weight.astype(d.dtype), d, 1), buf.deltas
        ), state

    return Aggregator(_no_state, _buffer(cohort_size), add, finish)


# name -> builder; a builder's keyword arguments are the rule's config options.
AGGREGATORS = {
    "fedavg": fedavg,
    "loss": loss_based,
    "fedvssl": fedvssl,
    "ldawa": ldawa,
    "median": coordinate_median,
    "trimmed_mean": trimmed_mean,
    "krum": krum,
}
# Rules that need every client's delta at once; their builders take the cohort size first.
WHOLE_COHORT = ("median", "trimmed_mean", "krum")

AGGREGATORS["dp_fedavg"] = privacy.dp_fedavg
# Builders whose first argument is the cohort size (DP-FedAvg: its fixed denominator).
COHORT_SIZED = (*WHOLE_COHORT, "dp_fedavg")
