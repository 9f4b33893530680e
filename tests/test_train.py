"""The whole loop on the smoke config: reproducibility, resumption, outputs."""

import json
import os

import jax
import numpy as np
import pytest
from helpers import max_abs_diff

from configs import smoke
from fassl_jax import train
from fassl_jax.run_log import read_metrics

TIMING_KEYS = ("seconds", "eval_seconds")


def without_timings(records):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in records]


def smoke_config(**overrides):
    c = smoke.get_config()
    for dotted, value in overrides.items():
        node = c
        *path, leaf = dotted.split(".")
        for part in path:
            node = node[part]
        node[leaf] = value
    return c


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three runs of the smoke config: seed 0 twice, seed 1 once."""
    out = {}
    for name, seed in [("a", 0), ("b", 0), ("other_seed", 1)]:
        workdir = str(tmp_path_factory.mktemp(name))
        summary = train.run(smoke_config(seed=seed), workdir)
        out[name] = (workdir, summary)
    return out


def test_same_seed_gives_identical_metrics_and_another_seed_does_not(runs):
    a, b, other = (
        read_metrics(os.path.join(runs[n][0], "metrics.jsonl")) for n in ("a", "b", "other_seed")
    )
    assert len(a) == 3
    assert without_timings(a) == without_timings(b)
    assert without_timings(a) != without_timings(other)


def test_outputs(runs):
    workdir, summary = runs["a"]
    records = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    assert [r["round"] for r in records] == [1, 2, 3]
    for r in records:
        assert {
            "round",
            "loss",
            "clients",
            "seconds",
            "pattern/recall@1",
            "source/recall@5",
        } <= set(r)
        assert r["clients"] == 3 and np.isfinite(r["loss"])
    with open(os.path.join(workdir, "summary.json")) as f:
        on_disk = json.load(f)
    assert on_disk == summary
    assert set(summary["tasks"]) == {"pattern", "source"}
    for rows in summary["tasks"].values():
        assert set(rows) == {"model", "random_init", "logmel"}
        for scores in rows.values():
            assert set(scores) == {"recall@1", "recall@5"}
            assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2", "3"]  # keep=2


def test_resume_continues_exactly(runs, tmp_path):
    """Stopping after 2 rounds and resuming to 3 gives the uninterrupted run's record."""
    workdir = str(tmp_path)
    train.run(smoke_config(**{"fl.rounds": 2}), workdir)
    train.run(smoke_config(), workdir)
    resumed = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    straight = read_metrics(os.path.join(runs["a"][0], "metrics.jsonl"))
    assert without_timings(resumed) == without_timings(straight)


def test_resume_drops_log_lines_the_checkpoint_does_not_hold(runs, tmp_path):
    """A crash between a round's log line and its checkpoint must not duplicate the round."""
    workdir = str(tmp_path)
    train.run(smoke_config(**{"fl.rounds": 2}), workdir)
    with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
        f.write(json.dumps({"round": 3, "loss": 0.0, "clients": 3, "seconds": 0.0}) + "\n")
    train.run(smoke_config(), workdir)
    resumed = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    straight = read_metrics(os.path.join(runs["a"][0], "metrics.jsonl"))
    assert without_timings(resumed) == without_timings(straight)


def test_a_workdir_refuses_another_experiment(runs):
    from fassl_jax.errors import UserError

    with pytest.raises(UserError, match="ssl.temperature"):
        train.run(smoke_config(**{"ssl.temperature": 0.5}), runs["a"][0])


def test_centralized_mode_trains_through_the_same_steps(tmp_path):
    summary = train.run(smoke_config(mode="centralized"), str(tmp_path))
    records = read_metrics(os.path.join(tmp_path, "metrics.jsonl"))
    assert all(r["clients"] == 1 for r in records)
    assert records[-1]["loss"] < records[0]["loss"]
    assert set(summary["tasks"]) == {"pattern", "source"}


def test_trained_state_differs_from_initial(runs):
    from fassl_jax.checkpoints import Checkpointer

    workdir, _ = runs["a"]
    config = smoke_config()
    method = train.build_method(config, 0.0, 1.0)
    _, server_tx, aggregator = train.build_optimizers(config)
    initial = train.init_state(config, method, server_tx, aggregator)
    ckpt = Checkpointer(workdir)
    state, meta, _ = ckpt.restore(initial)
    ckpt.close()
    assert int(state.round) == 3 and set(meta) == {"input_mean", "input_std"}
    assert max_abs_diff(jax.device_get(state.params), jax.device_get(initial.params)) > 1e-4


def test_a_short_federated_run_on_real_spoken_digits(tmp_path, fsdd_dir):
    """Real audio end to end: six speaker clients, a tiny encoder, two rounds."""
    from configs import quickstart

    c = quickstart.get_config()
    c.data.dir = fsdd_dir
    c.model.channels, c.model.embed_dim, c.ssl.proj_dim = 4, 16, 8
    c.fl.rounds, c.fl.local_steps, c.fl.batch_size = 2, 2, 8
    summary = train.run(c, str(tmp_path))
    records = read_metrics(os.path.join(tmp_path, "metrics.jsonl"))
    assert [r["clients"] for r in records] == [6, 6]
    assert records[1]["loss"] < records[0]["loss"]
    digit = summary["tasks"]["digit"]
    # 10 balanced digits: chance is 0.1 at k = 1. Log-mels of the same speaker's other takes
    # retrieve the digit far above chance, and Recall@k grows with k.
    assert digit["logmel"]["recall@1"] > 0.5
    for scores in digit.values():
        values = [scores[f"recall@{k}"] for k in (1, 5, 10, 20, 50)]
        assert values == sorted(values)
