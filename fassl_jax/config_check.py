"""Checks a config before any work starts; each error names the key and what to set it to."""

import inspect

import ml_collections

from fassl_jax.audio.features import MEL_NORMS, MEL_SCALES
from fassl_jax.data.partitions import PARTITIONS
from fassl_jax.data.pool import MODES as POOL_MODES
from fassl_jax.data.sources import SOURCES
from fassl_jax.errors import ConfigError
from fassl_jax.federated.aggregators import AGGREGATORS
from fassl_jax.federated.optimizers import CLIENT_OPTIMIZERS, SERVER_OPTIMIZERS
from fassl_jax.federated.parts import parse_keep_local
from fassl_jax.models.encoders import CONV_IMPLS, ENCODERS, NORMS
from fassl_jax.ssl import METHODS

MODES = ("federated", "centralized")

_CHOICES = {
    "mode": MODES,
    "data.source": (*SOURCES, "corpus"),
    "data.pool": POOL_MODES,
    "partition.kind": PARTITIONS,
    "model.encoder": ENCODERS,
    "model.conv_impl": (*CONV_IMPLS, "auto"),
    "model.norm": NORMS,
    "ssl.method": METHODS,
    "client.optimizer": CLIENT_OPTIMIZERS,
    "server.optimizer": SERVER_OPTIMIZERS,
    "aggregator.rule": AGGREGATORS,
    "audio.mel_scale": MEL_SCALES,
    "audio.mel_norm": MEL_NORMS,
}
_AT_LEAST = {
    "fl.rounds": 1,
    "fl.clients_per_round": 1,
    "fl.batch_size": 2,
    "fl.local_steps": 0,
    "fl.max_local_steps": 0,
    "fl.clients_in_parallel": 0,
    "fl.unroll_local_steps": 1,
    "model.channels": 1,
    "model.embed_dim": 1,
    "eval.every": 1,
    "eval.batch_size": 1,
    "eval.window_frames": 0,
    "eval.window_hop": 0,
    "checkpoint.keep": 1,
    "partition.num_clients": 1,
    "partition.splits_per_group": 1,
    "partition.clips_per_client": 1,
    "data.clip_seconds": 0.1,
    "data.pool_gb": 0.0,
    "client.proximal_mu": 0.0,
    "server.b2": 0.0,
}
_POSITIVE = (
    "fl.local_epochs",
    "client.learning_rate",
    "server.learning_rate",
    "server.tau",  # the adaptive rules divide by sqrt(v) + tau
    "partition.alpha",
)


def _get(config: ml_collections.ConfigDict, dotted: str):
    node = config
    for part in dotted.split("."):
        node = node[part]
    return node


def validate(config: ml_collections.ConfigDict) -> None:
    for key, choices in _CHOICES.items():
        value = _get(config, key)
        if value not in choices:
            raise ConfigError(
                f"config.{key}={value!r} is not known; choose one of: {', '.join(sorted(choices))}"
            )
    for key, low in _AT_LEAST.items():
        value = _get(config, key)
        if value < low:
            raise ConfigError(f"config.{key} must be >= {low} (got {value})")
    for key in _POSITIVE:
        value = _get(config, key)
        if not value > 0:
            raise ConfigError(f"config.{key} must be > 0 (got {value})")
    _check_options(config, "ssl", "method", METHODS, 2, "configs/{}.py sets them")
    _check_options(config, "aggregator", "rule", AGGREGATORS, 0, "configs/aggregators.py")
    if config.mode == "centralized" and config.client.proximal_mu > 0:
        raise ConfigError(
            "config.client.proximal_mu > 0 (FedProx) needs a global model to pull towards; "
            "set it to 0 for mode='centralized'"
        )
    try:
        parse_keep_local(config.fl.keep_local)
    except ValueError as e:
        raise ConfigError(f"config.fl.keep_local={config.fl.keep_local!r}: {e}") from None
    for k in config.eval.recall_at:
        if k < 1:
            raise ConfigError(f"config.eval.recall_at holds {k}; every k must be >= 1")


def _check_options(config, section: str, name_key: str, builders: dict, skip: int, hint: str):
    """config.<section> holds `name_key` and that builder's keyword options, nothing else.

    skip: the builder's leading positional parameters that are not options."""
    node = config[section]
    name = node[name_key]
    known = list(inspect.signature(builders[name]).parameters)[skip:]
    for key in node:
        if key != name_key and key not in known:
            raise ConfigError(
                f"config.{section}.{key} is not an option of {section}.{name_key}={name!r}; "
                f"its options: {', '.join(known) or 'none'} ({hint.format(name)})"
            )
