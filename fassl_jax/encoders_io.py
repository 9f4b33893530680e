"""A trained encoder read back from a run's workdir: its module, its variables and the
config that made it. What `evaluate` and the HEAR-style API (hear.py) load."""

import json
import os
from typing import Any, NamedTuple


class LoadedEncoder(NamedTuple):
    encoder: Any  # the flax encoder module, with the run's input statistics
    variables: Any  # the chosen weights ("last" round or a task's FASSL pick)
    initial: Any  # the run's random-init weights (the baseline)
    config: Any  # ml_collections.ConfigDict of the run
    input_mean: float
    input_std: float


def load_encoder(workdir: str, model: str = "last") -> LoadedEncoder:
    """model: "last" (the latest checkpoint) or a task name (the encoder FASSL selected for
    that task, workdir/best/<task>)."""
    import jax
    import ml_collections

    from fassl_jax import build, fassl
    from fassl_jax.checkpoints import Checkpointer
    from fassl_jax.errors import UserError
    from fassl_jax.models.heads import encoder_variables

    config_path = os.path.join(workdir, "config.json")
    if not os.path.exists(config_path):
        raise UserError(f"{workdir} holds no run (no config.json); give the workdir of a run")
    with open(config_path) as f:
        config = ml_collections.ConfigDict(json.load(f))
    ckpt = Checkpointer(workdir)
    if ckpt.latest_round() is None:
        raise UserError(f"{workdir} holds no checkpoint yet; run some rounds first")
    # The input statistics are module attributes, not params: any values give the same shapes.
    method = build.build_method(config, 0.0, 1.0)
    _, server_tx, aggregator = build.build_optimizers(config)
    initial = build.init_state(config, method, server_tx, aggregator)
    initial_encoder = jax.device_get(
        encoder_variables({"params": initial.params, **initial.model_state})
    )
    state, meta, _ = ckpt.restore_newest_readable(initial)
    ckpt.close()
    variables = encoder_variables({"params": state.params, **state.model_state})
    if model != "last":
        tasks = sorted(meta["fassl"])
        if model not in tasks:
            raise UserError(f"model {model!r}: choose last or a task of this run: {tasks}")
        best = fassl.BestCheckpoints(workdir)
        _, variables = best.restore(model, initial_encoder)
        best.close()
    mean, std = meta["input_mean"], meta["input_std"]
    encoder = build.build_method(config, mean, std, per_client_kernels=False).model.encoder
    return LoadedEncoder(encoder, variables, initial_encoder, config, mean, std)
