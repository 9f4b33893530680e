"""Sums over the client axis that can be taken a group of clients at a time.

A group's summary merges with another group's into the summary of both, so a round can
train its cohort group by group and carry only the running summary: the server's memory is
bounded by the group, not the cohort. A padding slot (weight 0) adds nothing, so a group of
padding is the identity of the merge.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class WeightedSum(NamedTuple):
    total: Any  # sum_i w_i x_i (x_i: any pytree)
    weight: jax.Array  # sum_i w_i


def weighted_sum(tree, weights: jax.Array) -> WeightedSum:
    """Over the client axis (axis 0 of every leaf)."""
    return WeightedSum(
        jax.tree.map(lambda x: jnp.tensordot(weights.astype(x.dtype), x, axes=1), tree),
        weights.sum(),
    )


def mean(s: "WeightedSum | SoftmaxSum"):
    if isinstance(s, SoftmaxSum):
        s = s.sum
    return jax.tree.map(lambda t: t / s.weight.astype(t.dtype), s.total)


def add(a, b):
    """The merge of plain sums (any pytree of them)."""
    return jax.tree.map(jnp.add, a, b)


class SoftmaxSum(NamedTuple):
    """sum_i exp(s_i - shift) x_i with its weight, shift the largest score s_i seen so far:
    mean() is the softmax(s)-weighted mean, computed stably group by group."""

    shift: jax.Array  # -inf while no client has been seen
    sum: WeightedSum


def softmax_sum(tree, scores: jax.Array, real: jax.Array) -> SoftmaxSum:
    """Over the clients where `real` (padding slots count for nothing)."""
    scores = jnp.where(real, scores, -jnp.inf)
    shift = scores.max()
    finite_shift = jnp.where(jnp.isfinite(shift), shift, 0.0)
    return SoftmaxSum(shift, weighted_sum(tree, jnp.exp(scores - finite_shift)))


def merge_softmax(a: SoftmaxSum, b: SoftmaxSum) -> SoftmaxSum:
    shift = jnp.maximum(a.shift, b.shift)

    def rescaled(s: SoftmaxSum) -> WeightedSum:  # to the common shift; nothing seen: zero
        scale = jnp.where(s.shift == -jnp.inf, 0.0, jnp.exp(s.shift - shift))
        return jax.tree.map(lambda x: x * scale.astype(x.dtype), s.sum)

    return SoftmaxSum(shift, add(rescaled(a), rescaled(b)))
