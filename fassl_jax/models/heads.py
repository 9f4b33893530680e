"""Heads that sit on an encoder, and the module that joins them."""

import flax.linen as nn
import jax


class MLP(nn.Module):
    """Dense -> ReLU -> Dense: SimCLR's projection head."""

    hidden: int
    out: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        del train
        return nn.Dense(self.out)(nn.relu(nn.Dense(self.hidden)(x)))


class EncoderWithHead(nn.Module):
    """Params {"encoder": ..., "head": ...}: the backbone/head split later work aggregates by."""

    encoder: nn.Module
    head: nn.Module

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return self.head(self.encoder(x, train), train)


def encoder_variables(variables: dict) -> dict:
    """The encoder's part of a model's variables, for applying the encoder alone."""
    return {col: tree["encoder"] for col, tree in variables.items() if "encoder" in tree}
