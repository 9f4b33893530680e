"""Heads that sit on an encoder, and the module that joins them."""

import flax.linen as nn
import jax


class MLP(nn.Module):
    """`depth` Dense layers with ReLU between them (and BatchNorm before each ReLU when
    `batch_norm`): SimCLR's projection head at depth 2, BYOL's projector and predictor
    with batch_norm, Barlow Twins' projector at depth 3 with batch_norm."""

    hidden: int
    out: int
    depth: int = 2
    batch_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        # The output layer is made first, so it is Dense_0: the names, and so the seeded
        # initial weights, of the first version of this head (and its published runs) hold.
        output = nn.Dense(self.out)
        for _ in range(self.depth - 1):
            x = nn.Dense(self.hidden)(x)
            if self.batch_norm:
                x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
            x = nn.relu(x)
        return output(x)


class EncoderWithHead(nn.Module):
    """Params {"encoder": ..., "head": ...}: the backbone/head split later work aggregates by."""

    encoder: nn.Module
    head: nn.Module

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return self.head(self.encoder(x, train), train)


# The collections a model's apply reads; others in a method's variables are method state.
MODEL_COLLECTIONS = ("params", "batch_stats")


def model_variables(variables: dict) -> dict:
    """The collections Flax's apply needs, without the method state (BYOL's target, ...)."""
    return {col: variables[col] for col in MODEL_COLLECTIONS if col in variables}


def encoder_variables(variables: dict) -> dict:
    """The encoder's part of a model's variables, for applying the encoder alone."""
    return {
        col: tree["encoder"]
        for col, tree in model_variables(variables).items()
        if "encoder" in tree
    }
