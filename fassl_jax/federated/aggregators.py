"""Aggregators: (init, update) pairs that turn the clients' updates into one server update.

An aggregator sees the client deltas (client axis first) and the clients' weights n_i; the
server optimizer (plain optax, see server_optim.py) then applies the result.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from fassl_jax.federated.placement import weighted_mean

Params = Any
AggState = Any


class Aggregator(NamedTuple):
    init: Callable[[Params], AggState]
    update: Callable[[Params, jax.Array, AggState], tuple[Params, AggState]]


def fedavg() -> Aggregator:
    """McMahan et al. 2017: the mean of the client deltas weighted by their clip counts."""

    def init(params):
        del params
        return ()

    def update(deltas, weights, state):
        return weighted_mean(deltas, weights), state

    return Aggregator(init, update)


AGGREGATORS = {"fedavg": fedavg}
