"""Checks a config before any work starts; each error names the key and what to set it to."""

import inspect
import math

import ml_collections

from fassl_jax.audio.features import MEL_NORMS, MEL_SCALES
from fassl_jax.data.partitions import PARTITIONS
from fassl_jax.data.pool import MODES as POOL_MODES
from fassl_jax.data.sources import SOURCES
from fassl_jax.errors import ConfigError
from fassl_jax.federated.aggregators import AGGREGATORS, COHORT_SIZED
from fassl_jax.federated.optimizers import CLIENT_OPTIMIZERS, SERVER_OPTIMIZERS
from fassl_jax.federated.parts import parse_keep_local
from fassl_jax.federated.round import ATTACKS
from fassl_jax.models.encoders import COMPUTE_DTYPES, CONV_IMPLS, ENCODERS, NORMS
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
    "model.dtype": COMPUTE_DTYPES,
    "ssl.method": METHODS,
    "client.optimizer": CLIENT_OPTIMIZERS,
    "server.optimizer": SERVER_OPTIMIZERS,
    "aggregator.rule": AGGREGATORS,
    "audio.mel_scale": MEL_SCALES,
    "fl.attack": ATTACKS,
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
    "log.every": 1,
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


# SSL and augmentation options, whichever method has them: (low, high, low inclusive).
_SSL_RANGES = {
    "temperature": (0.0, None, False),
    "proj_dim": (1, None, True),
    "proj_hidden": (1, None, True),
    "pair_dim": (1, None, True),
    "num_subclips": (2, None, True),
    "gap_frames": (0, None, True),
    "dropout": (0.0, 1.0, True),
    "gain_db": (0.0, None, True),
    "filter_db": (0.0, None, True),
    "noise_std": (0.0, None, True),
    "time_masks": (0, None, True),
    "freq_masks": (0, None, True),
    "lambda_offdiag": (0.0, None, True),
    "target_decay": (0.0, 1.0, True),
    "mixup_ratio": (0.0, 1.0, True),
    "mixup_bank": (1, None, True),
}
_INTEGERS = ("proj_dim", "proj_hidden", "pair_dim", "num_subclips", "gap_frames", "time_masks",
             "freq_masks", "mixup_bank", "crop_frames", "subclip_frames")  # fmt: skip
MIN_FRAMES = 8  # the encoders pool time by 2 three times


def _in_range(value, low, high, low_inclusive) -> bool:
    above = value >= low if low_inclusive else value > low
    return above and (high is None or value <= high)


def _check_ssl_options(config: ml_collections.ConfigDict) -> None:
    from fassl_jax.build import clip_frames  # the clip's length in frames, from the front end

    ssl, frames = config.ssl, clip_frames(config)
    for key, value in ssl.items():
        if key in _INTEGERS and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"config.ssl.{key} must be a whole number (got {value!r})")
        if key in _SSL_RANGES:
            low, high, inclusive = _SSL_RANGES[key]
            if not isinstance(value, int | float) or not _in_range(value, low, high, inclusive):
                bound = f"{'>=' if inclusive else '>'} {low}" + (f" and <= {high}" if high else "")
                raise ConfigError(f"config.ssl.{key} must be {bound} (got {value!r})")
    for key in ("rrc_scale", "rrc_freq_scale"):
        value = ssl.get(key)
        if value is None:
            continue
        if len(value) != 2 or not 0 < value[0] <= value[1]:
            raise ConfigError(f"config.ssl.{key} must be (low, high) with 0 < low <= high "
                              f"(got {value!r})")  # fmt: skip
    if "crop_frames" in ssl and not MIN_FRAMES <= ssl.crop_frames <= frames:
        raise ConfigError(
            f"config.ssl.crop_frames={ssl.crop_frames} must lie in {MIN_FRAMES}..{frames}, the "
            f"clip's frames at data.clip_seconds={config.data.clip_seconds}"
        )
    if "subclip_frames" in ssl:
        n, gap = ssl.get("num_subclips", 3), ssl.get("gap_frames", 0)
        span = n * ssl.subclip_frames + (n - 1) * gap
        if ssl.subclip_frames < MIN_FRAMES or span > frames:
            raise ConfigError(
                f"config.ssl: {n} sub-clips of {ssl.subclip_frames} frames with gaps of {gap} "
                f"need {span} frames and each at least {MIN_FRAMES}; the clip has {frames}: "
                "lower subclip_frames or gap_frames"
            )


def _get(config: ml_collections.ConfigDict, dotted: str):
    node = config
    for part in dotted.split("."):
        node = node[part]
    return node


_AT_MOST = {"data.clip_seconds": 600.0}  # 10 minutes a clip: beyond it, split the audio


def _non_finite(d: dict, prefix: str = "") -> str | None:
    """The first key whose number is NaN or infinite (every option is a finite number)."""
    for k, v in d.items():
        if isinstance(v, dict):
            bad = _non_finite(v, f"{prefix}{k}.")
            if bad:
                return bad
        elif isinstance(v, float) and not math.isfinite(v):
            return f"{prefix}{k}={v}"
    return None


def validate(config: ml_collections.ConfigDict) -> None:
    bad = _non_finite(config.to_dict())
    if bad:
        raise ConfigError(f"config.{bad}: every number in a config must be finite")
    for key, high in _AT_MOST.items():
        if _get(config, key) > high:
            raise ConfigError(f"config.{key} must be <= {high} (got {_get(config, key)})")
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
    whole_cohort = config.aggregator.rule in COHORT_SIZED  # cohort_size comes from fl
    _check_options(
        config, "aggregator", "rule", AGGREGATORS, int(whole_cohort), "configs/aggregators.py"
    )
    if config.mode == "centralized" and config.client.proximal_mu > 0:
        raise ConfigError(
            "config.client.proximal_mu > 0 (FedProx) needs a global model to pull towards; "
            "set it to 0 for mode='centralized'"
        )
    try:
        parse_keep_local(config.fl.keep_local)
    except ValueError as e:
        raise ConfigError(f"config.fl.keep_local={config.fl.keep_local!r}: {e}") from None
    recall_at = config.eval.recall_at
    if isinstance(recall_at, str | int) or not all(
        isinstance(k, int) and not isinstance(k, bool) for k in recall_at
    ):
        raise ConfigError(
            f"config.eval.recall_at={recall_at!r} must be a tuple of whole numbers, e.g. (1, 5)"
        )
    for k in recall_at:
        if k < 1:
            raise ConfigError(f"config.eval.recall_at holds {k}; every k must be >= 1")
    if isinstance(config.seed, bool) or not isinstance(config.seed, int) or config.seed < 0:
        raise ConfigError(f"config.seed must be a whole number >= 0 (got {config.seed!r})")
    if not 0.0 <= config.model.dropout < 1.0:
        raise ConfigError(f"config.model.dropout must be in [0, 1) (got {config.model.dropout})")
    for key in ("dropout", "stragglers", "deadline", "attack_fraction"):
        if not 0.0 <= config.fl[key] <= 1.0:
            raise ConfigError(f"config.fl.{key} must be in [0, 1] (got {config.fl[key]})")
    agg = config.aggregator
    if agg.rule == "trimmed_mean" and not 0.0 <= agg.get("trim", 0.1) < 0.5:
        raise ConfigError(f"config.aggregator.trim must be in [0, 0.5) (got {agg.trim})")
    if agg.rule == "krum" and (agg.get("keep", 1) < 1 or agg.get("byzantine", 1) < 0):
        raise ConfigError("config.aggregator.keep must be >= 1 and byzantine >= 0")
    if agg.rule == "dp_fedavg":
        if "seed" in agg:
            raise ConfigError(
                "config.aggregator.seed is not an option: DP noise follows config.seed"
            )
        if agg.get("clip", 1.0) <= 0 or agg.get("noise_multiplier", 1.0) < 0:
            raise ConfigError("config.aggregator.clip must be > 0 and noise_multiplier >= 0")
        quantile = agg.get("target_quantile", 0.0)
        if not 0.0 <= quantile < 1.0:
            raise ConfigError(
                f"config.aggregator.target_quantile must be in [0, 1) (got {quantile}; 0: a "
                "fixed clip)"
            )
        z = agg.get("noise_multiplier", 1.0)
        count_std = agg.get("clip_count_stddev", 0.0) or config.fl.clients_per_round / 20
        if quantile > 0 and z > 0 and not 2 * count_std > z:
            raise ConfigError(
                f"config.aggregator.clip_count_stddev ({count_std:g}; default cohort / 20) must "
                f"exceed noise_multiplier / 2 = {z / 2:g} for adaptive clipping; raise it"
            )
    if config.dp.target_epsilon < 0 or not 0 < config.dp.delta < 1:
        raise ConfigError("config.dp.target_epsilon must be >= 0 and config.dp.delta in (0, 1)")
    if config.dp.target_epsilon > 0 and agg.rule != "dp_fedavg":
        raise ConfigError(
            "config.dp.target_epsilon needs aggregator.rule='dp_fedavg' (configs/aggregators.py:"
            "dp_fedavg)"
        )
    if config.mode == "centralized" and config.fl.attack:
        raise ConfigError("config.fl.attack simulates poisoned clients; set it to '' for "
                          "mode='centralized'")  # fmt: skip
    if config.fl.over_select < 0:
        raise ConfigError(f"config.fl.over_select must be >= 0 (got {config.fl.over_select})")
    domains = config.data.get("domains", "")  # workdirs from before the option lack it
    if domains and config.data.source != "corpus":
        raise ConfigError(
            f"config.data.domains={domains!r} picks a corpus's domains; it needs "
            "data.source='corpus' (or set it to '')"
        )
    if domains and not domains.replace(",", "").strip():
        raise ConfigError(
            f"config.data.domains={domains!r} names no domain; e.g. 'instruments' (or '' for all)"
        )
    if config.partition.size_sigma < 0:
        raise ConfigError(
            f"config.partition.size_sigma must be >= 0 (got {config.partition.size_sigma})"
        )
    _check_ssl_options(config)


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
