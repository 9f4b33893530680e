"""Optimizers by name, for the clients (local steps) and the server (on the pseudo-gradient).

Server: the round hands the optimizer the pseudo-gradient g = -(aggregate delta), so SGD
with learning rate 1 is plain FedAvg and with momentum FedAvgM; "adam", "yogi" and
"adagrad" are FedAdam, FedYogi and FedAdagrad exactly as in Reddi et al. 2021, Algorithm 2
(no bias correction, v starts at tau^2, update m / (sqrt(v) + tau)).

Client: FedProx (Li et al. 2020) adds mu * (w - w_global) to each local gradient: the
gradient of (mu / 2) ||w - w_global||^2, with w_global the params the client's optimizer
was initialised with at the start of its round.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from fassl_jax.errors import unknown_name

ADAPTIVE_RULES = ("adam", "yogi", "adagrad")


class ReddiState(NamedTuple):
    m: optax.Params  # first moment of the pseudo-gradient
    v: optax.Params  # second moment, per rule


def scale_by_reddi(rule: str, b1: float = 0.9, b2: float = 0.99, tau: float = 1e-3):
    """m = b1 m + (1 - b1) g; v by `rule`; returns m / (sqrt(v) + tau).

    adagrad: v + g^2;  adam: b2 v + (1 - b2) g^2;  yogi: v - (1 - b2) g^2 sign(v - g^2)."""
    if rule not in ADAPTIVE_RULES:
        raise unknown_name("adaptive server rule", rule, ADAPTIVE_RULES)

    def second_moment(v, g):
        g2 = g * g
        if rule == "adagrad":
            return v + g2
        if rule == "adam":
            return b2 * v + (1 - b2) * g2
        return v - (1 - b2) * g2 * jnp.sign(v - g2)

    def init(params):
        return ReddiState(
            m=jax.tree.map(jnp.zeros_like, params),
            v=jax.tree.map(lambda p: jnp.full_like(p, tau * tau), params),
        )

    def update(updates, state, params=None):
        del params
        m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.m, updates)
        v = jax.tree.map(second_moment, state.v, updates)
        out = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + tau), m, v)
        return out, ReddiState(m, v)

    return optax.GradientTransformation(init, update)


class ProximalState(NamedTuple):
    anchor: optax.Params  # w_global: the params at init


def add_proximal_term(mu: float) -> optax.GradientTransformation:
    """FedProx: g + mu (w - w_global), w_global fixed when the client's optimizer starts."""

    def init(params):
        return ProximalState(anchor=params)

    def update(updates, state, params):
        out = jax.tree.map(lambda g, w, a: g + mu * (w - a), updates, params, state.anchor)
        return out, state

    return optax.GradientTransformation(init, update)


def _sgd(learning_rate, momentum=0.0, **_):
    return optax.sgd(learning_rate, momentum or None)


def _adaptive(rule):
    def make(learning_rate, momentum=0.9, b2=0.99, tau=1e-3):
        return optax.chain(scale_by_reddi(rule, momentum, b2, tau), optax.scale(-learning_rate))

    return make


CLIENT_OPTIMIZERS = {
    "sgd": _sgd,
    "adam": lambda learning_rate, momentum=0.0: optax.adam(learning_rate, b1=momentum or 0.9),
}
SERVER_OPTIMIZERS = {"sgd": _sgd, **{rule: _adaptive(rule) for rule in ADAPTIVE_RULES}}


def client(
    name: str, learning_rate: float, momentum: float = 0.0, proximal_mu: float = 0.0
) -> optax.GradientTransformation:
    if name not in CLIENT_OPTIMIZERS:
        raise unknown_name("client optimizer", name, CLIENT_OPTIMIZERS)
    tx = CLIENT_OPTIMIZERS[name](learning_rate, momentum)
    return optax.chain(add_proximal_term(proximal_mu), tx) if proximal_mu > 0 else tx


def server(
    name: str, learning_rate: float, momentum: float = 0.0, b2: float = 0.99, tau: float = 1e-3
) -> optax.GradientTransformation:
    """momentum: SGD's (FedAvgM), or beta_1 of the adaptive rules."""
    if name not in SERVER_OPTIMIZERS:
        raise unknown_name("server optimizer", name, SERVER_OPTIMIZERS)
    if name == "sgd":
        return _sgd(learning_rate, momentum)
    return SERVER_OPTIMIZERS[name](learning_rate, momentum, b2, tau)
