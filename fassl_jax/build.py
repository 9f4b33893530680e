"""From a config to the pieces of a run: the SSL method, the optimizers and aggregator, the
jitted round and the initial server state. The trainer (train.py), the evaluator and the
benchmarks build through these, so they all run the same code.

Imports only JAX, Flax and optax beside the package's model and round modules, so a
benchmark can run where the data and checkpoint libraries are not installed.
"""

import jax
import jax.numpy as jnp

from fassl_jax import distributed, ssl
from fassl_jax.audio import features
from fassl_jax.data import clients
from fassl_jax.eval import retrieval
from fassl_jax.federated import aggregators, optimizers
from fassl_jax.federated import round as fl_round
from fassl_jax.federated.client import make_local_training
from fassl_jax.models.encoders import ENCODERS


def cpu_formulation(model) -> tuple[str, int]:
    """(conv_impl, clients_in_parallel) on CPU for a config's `model`, measured
    (benchmarks/RESULTS.md): at 64 channels, one client at a time with im2col matmuls ran
    1.13x im2col vmapped over 8 clients (cohort 8, 61.3 against 54.3 samples/s, one run
    each), level with the sequential loop; at 16 one client at a time with convolutions
    (im2col kernel grads) ran 1.26x im2col one at a time and 1.58x im2col in groups of 8,
    and compiled faster (im2col_grad one at a time was not measured at 64). Without
    convolutions (the frame MLP) a vmap over 32 clients' steps ran 0.89x the time of one at
    a time. In epoch mode a vmapped group would also compute its largest client's steps
    for all of them (groups of 8 ran 0.47x the sequential loop, uneven_64ch)."""
    if model.encoder == "frame_mlp":
        return ("xla", 32)
    if model.channels <= 16:
        return ("im2col_grad", 1)
    return ("im2col", 1)


# Accelerators vmap this many clients at once and loop over such groups: activation memory
# is bounded by the group, whatever the cohort (a bound, not a tuned value).
ACCELERATOR_CLIENTS_IN_PARALLEL = 64


def on_cpu() -> bool:
    return jax.default_backend() == "cpu"


def resolve_conv_impl(model, per_client_kernels: bool = True) -> str:
    """A config's `model.conv_impl`, with "auto" resolved for this backend.

    per_client_kernels: the encoder runs under a vmap over clients' own kernels (the
    federated round), not one set of kernels (centralized training, one client at a time).
    """
    if model.conv_impl != "auto":
        return model.conv_impl
    if on_cpu():
        return cpu_formulation(model)[0]
    if per_client_kernels and jax.default_backend() == "gpu":
        # Vmapped per-client kernels make XLA's convolution a grouped one; as batched
        # matmuls the round ran 1.72x (float32) and 1.84x (bfloat16) as fast on an H200,
        # AudioNTT2020 64 channels, cohort 256 (benchmarks/RESULTS.md), for 1.2x the peak
        # memory in float32. Other widths, the ResNet and TPUs: not measured.
        return "im2col"
    return "xla"


def build_method(
    config, input_mean: float, input_std: float, per_client_kernels: bool | None = None
) -> ssl.SSLMethod:
    """The config's SSL method around its encoder. per_client_kernels (resolve_conv_impl):
    default, whether the config trains federated."""
    m = config.model
    if per_client_kernels is None:
        per_client_kernels = config.mode != "centralized"
    encoder = ENCODERS[m.encoder](
        channels=m.channels,
        embed_dim=m.embed_dim,
        dropout=m.dropout,
        conv_impl=resolve_conv_impl(m, per_client_kernels),
        norm=m.norm,
        dtype=m.get("dtype", "float32"),  # workdirs from before the option lack it
        input_mean=input_mean,
        input_std=input_std,
    )
    options = {k: v for k, v in config.ssl.items() if k != "method"}
    return ssl.METHODS[config.ssl.method](encoder, m.embed_dim, **options)


def eval_embed_fn(config, encoder):
    """(variables, clips) -> embeddings as the run scores its encoder: whole clips, or the
    mean over windows of eval.window_frames (every eval.window_hop, default half a window).
    Embedding runs one set of kernels, so its convolution is the one for that case."""
    encoder = encoder.clone(conv_impl=resolve_conv_impl(config.model, per_client_kernels=False))
    embed = lambda v, x: encoder.apply(v, x, train=False)  # noqa: E731
    w = config.eval.get("window_frames", 0)  # configs from before the option lack it
    if w > 0:
        embed = retrieval.windowed(embed, w, config.eval.get("window_hop", 0) or max(w // 2, 1))
    return embed


def build_optimizers(config):
    """(client optimizer, server optimizer, aggregator). Centralized runs have no server: the
    client optimizer's state is kept in the server state's place and carries over."""
    c, s = config.client, config.server
    client_tx = optimizers.client(c.optimizer, c.learning_rate, c.momentum, c.proximal_mu)
    if config.mode == "centralized":
        return client_tx, client_tx, aggregators.fedavg()
    server_tx = optimizers.server(s.optimizer, s.learning_rate, s.momentum, s.b2, s.tau)
    options = {k: v for k, v in config.aggregator.items() if k != "rule"}
    rule = config.aggregator.rule
    if rule in aggregators.WHOLE_COHORT:  # a buffer row per cohort slot, padding included
        devices = len(jax.devices())
        options["cohort_size"] = -(-config.fl.clients_per_round // devices) * devices
    elif rule == "dp_fedavg":  # the fixed denominator: the cohort's size
        options["cohort_size"] = config.fl.clients_per_round
        options["seed"] = config.seed
    return client_tx, server_tx, aggregators.AGGREGATORS[rule](**options)


def build_round(
    config, method, client_tx, server_tx, aggregator, model_parts, mesh, num_clients: int = 0
):
    """(round_fn, pad_clients_to): the jitted round (its state argument donated) and the
    multiple of which the cohort must be, one share per device."""
    fl = config.fl
    local_train = make_local_training(
        method.loss,
        client_tx,
        unroll=fl.unroll_local_steps,
        after_step=method.after_step,
    )
    if config.mode == "centralized":
        return jax.jit(fl_round.make_centralized_round(local_train), donate_argnums=0), 1
    client_update = fl_round.make_client_update(
        local_train, client_tx, method.on_receive, model_parts
    )
    in_parallel = fl.clients_in_parallel or (
        cpu_formulation(config.model)[1] if on_cpu() else ACCELERATOR_CLIENTS_IN_PARALLEL
    )
    attack = fl_round.attack_on(
        fl.attack, fl.attack_fraction, fl.attack_scale, config.seed, num_clients
    )
    round_fn = fl_round.make_round(
        client_update, aggregator, server_tx, mesh, in_parallel, model_parts, attack
    )
    return jax.jit(round_fn, donate_argnums=0), mesh.size


def device_cohort(
    cohort: clients.Cohort, examples: jax.Array, own_states, sharding
) -> fl_round.DeviceCohort:
    """A round's schedule and the sampled clients' kept-local parts onto the devices, split by
    client; `examples` is the pool, already resident there."""
    own = distributed.put(own_states, sharding)
    return fl_round.DeviceCohort(
        examples, *distributed.put(tuple(cohort), sharding), client_states=own
    )


def init_state(config, method: ssl.SSLMethod, server_tx, aggregator) -> fl_round.ServerState:
    clip = jnp.zeros((2, clip_frames(config), config.audio.n_mels), jnp.float32)
    variables = method.init(jax.random.key(config.seed), clip)
    params = variables.pop("params")
    return fl_round.ServerState(
        params, dict(variables), server_tx.init(params), aggregator.init(params), jnp.int32(0)
    )


def log_mel_config(config) -> features.LogMelConfig:
    a = config.audio
    return features.LogMelConfig(
        n_mels=a.n_mels, eps=a.eps, mel_scale=a.mel_scale, mel_norm=a.mel_norm
    )


def clip_frames(config) -> int:
    cfg = log_mel_config(config)
    return cfg.num_frames(round(config.data.clip_seconds * cfg.sample_rate))
