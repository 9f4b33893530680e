"""Optimizers by name, for clients (local steps) and the server (on the pseudo-gradient).

On the server, SGD with learning rate 1 is plain FedAvg: the new global model is the
aggregate; with momentum it is FedAvgM.
"""

import optax

from fassl_jax.errors import unknown_name

OPTIMIZERS = {
    "sgd": lambda learning_rate, momentum: optax.sgd(learning_rate, momentum or None),
    "adam": lambda learning_rate, momentum: optax.adam(learning_rate, b1=momentum or 0.9),
}


def make(name: str, learning_rate: float, momentum: float = 0.0) -> optax.GradientTransformation:
    if name not in OPTIMIZERS:
        raise unknown_name("optimizer", name, OPTIMIZERS)
    return OPTIMIZERS[name](learning_rate, momentum)
