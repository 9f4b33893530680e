"""Small shared builders for tests: a tiny encoder, synthetic clips, tree comparisons."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fassl_jax.audio import features
from fassl_jax.data import sources, synthetic
from fassl_jax.federated import round as fl_round
from fassl_jax.models.encoders import AudioNTT2020
from fassl_jax.ssl import simclr

TINY_FRAMES = 24


def tiny_method(conv_impl: str = "im2col_grad", dropout: float = 0.0):
    encoder = AudioNTT2020(
        channels=4,
        embed_dim=16,
        dropout=dropout,
        conv_impl=conv_impl,
        input_mean=-9.0,
        input_std=3.0,
    )
    return simclr.build(encoder, 16, proj_dim=8, crop_frames=TINY_FRAMES)


def tiny_log_mels(num_patterns: int = 3, num_sources: int = 4, takes: int = 6, seed: int = 0):
    data = synthetic.load(num_patterns, num_sources, takes, clip_seconds=0.3, seed=seed)
    return sources.to_log_mel(data, features.LogMelConfig(), cache_dir=None)


def init_state(method, server_tx=None, seed: int = 0) -> fl_round.ServerState:
    server_tx = server_tx or optax.sgd(1.0)
    clip = jnp.zeros((2, TINY_FRAMES, 64), jnp.float32)
    variables = method.init(jax.random.key(seed), clip)
    params = variables.pop("params")
    return fl_round.ServerState(params, dict(variables), server_tx.init(params), (), jnp.int32(0))


def max_abs_diff(a, b) -> float:
    diffs = jax.tree.map(lambda x, y: float(np.max(np.abs(np.asarray(x) - np.asarray(y)))), a, b)
    return max(jax.tree.leaves(diffs))


def assert_trees_close(got, want, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """Leafwise |got - want| <= atol + rtol * |want|; the structures must match."""
    assert jax.tree.structure(got) == jax.tree.structure(jax.tree.map(np.asarray, want))
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=atol, rtol=rtol)
