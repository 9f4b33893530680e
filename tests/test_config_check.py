"""Bad config values stop before any data is read or anything compiles, in one line that
names the key."""

import re

import pytest
from method_configs import tiny_config

from fassl_jax import config_check
from fassl_jax.errors import ConfigError

# (method, dotted key, bad value, what the message must say)
BAD = [
    ("simclr", "seed", -5, "config.seed must be a whole number >= 0"),
    ("simclr", "seed", 1.5, "config.seed must be a whole number"),
    ("simclr", "eval.recall_at", "abc", "config.eval.recall_at='abc' must be a tuple"),
    ("simclr", "eval.recall_at", (1, 2.5), "must be a tuple of whole numbers"),
    ("simclr", "ssl.temperature", 0.0, "config.ssl.temperature must be > 0.0"),
    ("simclr", "ssl.proj_dim", 0, "config.ssl.proj_dim must be >= 1"),
    ("simclr", "ssl.proj_dim", 8.0, "config.ssl.proj_dim must be a whole number"),
    ("simclr", "ssl.crop_frames", 1000, "crop_frames=1000 must lie in 8..31"),
    ("simclr", "ssl.crop_frames", 0, "crop_frames=0 must lie in 8..31"),
    ("simclr", "ssl.noise_std", -0.1, "config.ssl.noise_std must be >= 0.0"),
    ("simclr", "model.dropout", -0.2, "config.model.dropout must be in [0, 1)"),
    ("simclr", "partition.size_sigma", -1.0, "config.partition.size_sigma must be >= 0"),
    ("byol_a", "ssl.mixup_ratio", 1.5, "config.ssl.mixup_ratio must be >= 0.0 and <= 1.0"),
    ("byol_a", "ssl.rrc_scale", (1.5, 0.6), "rrc_scale must be (low, high)"),
    ("byol_a", "ssl.target_decay", -0.5, "config.ssl.target_decay"),
    ("acop", "ssl.subclip_frames", 20, "need 64 frames"),
    ("acop", "ssl.gap_frames", -1, "config.ssl.gap_frames must be >= 0"),
    ("barlow_twins", "ssl.lambda_offdiag", -1.0, "config.ssl.lambda_offdiag must be >= 0.0"),
    ("simclr", "fl.dropout", 1.5, "config.fl.dropout must be in [0, 1]"),
    ("simclr", "fl.attack", "bribe", "config.fl.attack='bribe' is not known"),
    ("simclr", "data.domains", "instruments", "it needs data.source='corpus'"),
]


def test_robust_rule_options_are_ranged():
    c = tiny_config("simclr")
    c.aggregator = {"rule": "trimmed_mean", "trim": 0.5}
    with pytest.raises(ConfigError, match=re.escape("config.aggregator.trim must be in [0, 0.5)")):
        config_check.validate(c)
    c.aggregator = {"rule": "krum", "keep": 0}
    with pytest.raises(ConfigError, match="keep must be >= 1"):
        config_check.validate(c)


@pytest.mark.parametrize(("method", "key", "value", "message"), BAD)
def test_bad_values_name_the_key(method, key, value, message):
    c = tiny_config(method)  # smoke clips: 0.3 s, 31 frames
    node = c
    *path, leaf = key.split(".")
    for part in path:
        node = node[part]
    with c.ignore_type():
        node[leaf] = value
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_check.validate(c)


@pytest.mark.parametrize("method", ["simclr", "barlow_twins", "acop", "byol_a"])
def test_the_methods_tiny_configs_pass(method):
    config_check.validate(tiny_config(method))


def test_data_domains_that_name_no_domain_are_an_error():
    c = tiny_config("simclr")
    c.data.source, c.data.domains = "corpus", " , "
    with pytest.raises(ConfigError, match="config.data.domains=' , ' names no domain"):
        config_check.validate(c)
