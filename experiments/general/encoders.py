"""The random-init encoder and, given a run, its latest checkpoint's, for the diagnostics
beside it (family_errors.py, geometry.py): the corpus and a jitted embed."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # the repository root

from configs import general  # noqa: E402


def load(variant: str, data_dir: str, workdir: str = "", trained_name: str = ""):
    """(dataset, embed(variables, clips), {name: encoder variables}): "random init"
    first, then the run in `workdir` (if given) as `trained_name`."""
    import jax

    from fassl_jax import build, train
    from fassl_jax.checkpoints import Checkpointer
    from fassl_jax.models.heads import encoder_variables

    c = general.get_config(variant)
    c.data.dir = data_dir
    data = train.load_dataset(c)
    method = build.build_method(c, data.input_mean, data.input_std, per_client_kernels=False)
    _, server_tx, aggregator = build.build_optimizers(c)
    state = build.init_state(c, method, server_tx, aggregator)
    encoders = {"random init": encoder_variables({"params": state.params, **state.model_state})}
    if workdir:
        restored, _, _ = Checkpointer(workdir).restore(state)
        encoders[trained_name or f"{workdir} (latest)"] = encoder_variables(
            {"params": restored.params, **restored.model_state}
        )
    embed = jax.jit(lambda v, x: method.model.encoder.apply(v, x, train=False))
    return data, embed, encoders
