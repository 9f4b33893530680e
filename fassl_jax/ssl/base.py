"""What an SSL method is: a model whose params split into encoder and heads, a loss, and
(only where a method needs them) hooks around the optimizer steps.

The round and the trainer call these fields and nothing method-specific, so a new method is
a new module with a `build` function and a config.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax

Variables = dict[str, Any]  # {"params": ..., "batch_stats": ..., <method state>}
# (variables, clips [B, T, F], key) -> (loss, updated non-param collections)
LossFn = Callable[[Variables, jax.Array, jax.Array], tuple[jax.Array, Variables]]


def _identity(variables: Variables) -> Variables:
    return variables


class SSLMethod(NamedTuple):
    model: nn.Module  # params {"encoder": ..., <heads>}; model.encoder embeds for evaluation
    loss: LossFn
    # (key, clips [B, T, F]) -> every variable the loss reads, method state included.
    init: Callable[[jax.Array, jax.Array], Variables]
    # After each optimizer step: variables -> variables (BYOL: the EMA target follows).
    after_step: Callable[[Variables], Variables] = _identity
    # A federated client receiving the global model: variables -> variables (BYOL: the
    # target may restart from the online network). Centralized training never calls it.
    on_receive: Callable[[Variables], Variables] = _identity
    # Non-param collections that belong to one client's local training: the server neither
    # averages nor broadcasts them; every client starts from their initial value.
    private_collections: tuple[str, ...] = ()


def model_init(model: nn.Module, frames: int) -> Callable[[jax.Array, jax.Array], Variables]:
    """The plain init: the model's own variables, from clips cut to `frames`."""

    def init(key, clips):
        return dict(model.init(key, clips[:, :frames], train=False))

    return init
