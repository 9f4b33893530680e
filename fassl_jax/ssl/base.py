"""What an SSL method is: a model whose params split into encoder and heads, and a loss."""

from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax

Variables = dict[str, Any]  # {"params": ..., "batch_stats": ...}
# (variables, clips [B, T, F], key) -> (loss, updated non-param collections such as batch_stats)
LossFn = Callable[[Variables, jax.Array, jax.Array], tuple[jax.Array, Variables]]


class SSLMethod(NamedTuple):
    model: nn.Module  # params {"encoder": ..., <heads>}; model.encoder embeds for evaluation
    loss: LossFn
    example_frames: int  # clip length (frames) to initialise the model with
