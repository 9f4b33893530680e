"""The whole loop on the smoke config: reproducibility, resumption, outputs."""

import json
import os
import shutil

import jax
import numpy as np
import pytest
from helpers import max_abs_diff

from configs import smoke
from fassl_jax import build, fassl, train
from fassl_jax.models.heads import encoder_variables
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


def permute_test_labels(load):
    """Wraps train.load_log_mels: the test split's labels shuffled, everything else kept."""

    def load_permuted(config):
        data = load(config)
        test = np.flatnonzero(data.split == "test")
        rng = np.random.default_rng(1)
        labels = {}
        for task, y in data.labels.items():
            y = y.copy()
            y[test] = y[rng.permutation(test)]
            labels[task] = y
        return data._replace(labels=labels)

    return load_permuted


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Runs of the smoke config: seed 0 twice, seed 1 once, and seed 0 with the test
    split's labels permuted."""
    out = {}
    for name, seed in [("a", 0), ("b", 0), ("other_seed", 1), ("permuted", 0)]:
        workdir = str(tmp_path_factory.mktemp(name))
        with pytest.MonkeyPatch.context() as patch:
            if name == "permuted":
                patch.setattr(train, "load_log_mels", permute_test_labels(train.load_log_mels))
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
            "select/pattern/recall@1",
            "eval_seconds",
        } <= set(r)
        assert r["clients"] == 3 and np.isfinite(r["loss"])
    with open(os.path.join(workdir, "summary.json")) as f:
        on_disk = json.load(f)
    assert on_disk == summary
    assert set(summary["tasks"]) == {"pattern", "source"}
    for rows in summary["tasks"].values():
        for name in ("model", "selected", "random_init", "logmel"):
            assert set(rows[name]) == {"recall@1", "recall@5"}
    # The linear probe: every encoder, both splits; log-mel's by hand from the clips.
    from fassl_jax.eval.probe import linear_probe

    data = train.load_dataset(smoke_config())
    for task, rows in summary["tasks"].items():
        assert set(rows["probe"]) == {"selected", "model", "random_init", "logmel"}
        t = data.tasks[task]
        feats = (data.eval_clips - data.input_mean) / data.input_std
        feats = feats.mean(axis=1)
        tests = {s: (feats[t.queries[s][0]], t.queries[s][1]) for s in t.queries}
        want = linear_probe(feats[t.gallery], t.gallery_labels, tests)
        assert rows["probe"]["logmel"] == pytest.approx(want, abs=1e-6)
    # The summary's numbers are the log's: the last round's test scores, and FASSL's pick.
    for task, rows in summary["tasks"].items():
        assert rows["model"]["recall@1"] == records[-1][f"{task}/recall@1"]
        picked = next(r for r in records if r["round"] == rows["best_round"])
        assert rows["selected"]["recall@5"] == picked[f"{task}/recall@5"]
    # Evaluation time is reported apart from training time.
    seconds = summary["seconds"]
    assert seconds["train"] == pytest.approx(sum(r["seconds"] for r in records), abs=1e-2)
    assert seconds["eval"] == pytest.approx(sum(r["eval_seconds"] for r in records), abs=1e-2)
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2", "3"]  # keep=2


def test_fassl_keeps_each_tasks_best_round_by_its_selection_score(runs):
    workdir, summary = runs["a"]
    records = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    for task, t in summary["tasks"].items():
        select = [r[f"select/{task}/recall@1"] for r in records]
        best = records[int(np.argmax(select))]  # the first of equal scores
        assert t["best_round"] == best["round"]
        assert t["best_select_recall@1"] == best[f"select/{task}/recall@1"]
        assert t["best_test_recall@1"] == best[f"{task}/recall@1"]
        assert t["last_test_recall@1"] == records[-1][f"{task}/recall@1"]
        assert os.listdir(os.path.join(workdir, "best", task)) == [str(t["best_round"])]


def test_fassl_selection_never_sees_test_labels(runs):
    """Shuffling the test split's labels changes test scores, never the selected rounds."""
    (_, plain), (_, permuted) = runs["a"], runs["permuted"]
    for task in plain["tasks"]:
        a, b = plain["tasks"][task], permuted["tasks"][task]
        assert a["best_round"] == b["best_round"]
        assert a["best_select_recall@1"] == b["best_select_recall@1"]
    assert any(
        plain["tasks"][t]["model"] != permuted["tasks"][t]["model"] for t in plain["tasks"]
    ), "the permutation should have changed some test score"


def test_resume_continues_exactly(runs, tmp_path):
    """Stopping after 2 rounds and resuming to 3 gives the uninterrupted run's record."""
    workdir = str(tmp_path)
    train.run(smoke_config(**{"fl.rounds": 2}), workdir)
    summary = train.run(smoke_config(), workdir)
    resumed = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    straight = read_metrics(os.path.join(runs["a"][0], "metrics.jsonl"))
    assert without_timings(resumed) == without_timings(straight)
    assert summary["tasks"] == runs["a"][1]["tasks"]  # FASSL's bests survive the restart


def test_resume_says_so_and_prints_a_line_per_round_when_not_a_terminal(runs, tmp_path, capsys):
    """Under pytest stdout is not a terminal: no bar, one line per round (log.every=1) with
    the select scores at scored rounds; a resume says where it starts."""
    workdir = str(tmp_path)
    train.run(smoke_config(**{"fl.rounds": 2}), workdir)
    first = capsys.readouterr().out.splitlines()
    rounds = [line for line in first if line.startswith("round ")]
    assert [line.split()[1] for line in rounds] == ["1/2", "2/2"]
    assert all("ETA" in line and "select R@1: pattern" in line for line in rounds)
    train.run(smoke_config(), workdir)
    out = capsys.readouterr().out
    assert f"{workdir}: resumed from round 2 of 3" in out and "round 3/3" in out


def test_a_run_from_before_an_option_existed_resumes(runs, tmp_path):
    """A config.json without an option added since (at its default now) is the same config."""
    workdir = str(tmp_path)
    train.run(smoke_config(**{"fl.rounds": 2}), workdir)
    path = os.path.join(workdir, "config.json")
    with open(path) as f:
        old = json.load(f)
    del old["fl"]["stratify"], old["log"]  # as written before these existed
    with open(path, "w") as f:
        json.dump(old, f)
    train.run(smoke_config(), workdir)
    resumed = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    assert [r["round"] for r in resumed] == [1, 2, 3]


def damage_files(folder: str, how: str) -> int:
    """Damages every file under folder (orbax's commit marker aside); returns how many."""
    count = 0
    for root, _, files in os.walk(folder):
        for name in files:
            if name == "commit_success.txt":
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                data = f.read()
            if how == "junk":
                data = b"\x00junk"
            elif how == "empty":
                data = b""
            elif how == "halved":
                data = data[: len(data) // 2]
            elif how == "flipped":  # every byte's bits inverted
                data = bytes(b ^ 0xFF for b in data)
            with open(path, "wb") as f:
                f.write(data)
            count += 1
    return count


# The newest checkpoint's meta (JSON) or state (array data and metadata) junked, emptied,
# halved or bit-flipped.
DAMAGE = [
    ("meta", "junk"),
    ("state", "junk"),
    ("meta", "empty"),
    ("state", "halved"),
    ("state", "flipped"),
]


@pytest.mark.parametrize(("item", "how"), DAMAGE)
def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(
    runs, tmp_path, capsys, item, how
):
    """A damaged newest checkpoint and a torn last line in metrics.jsonl: the resume says
    which round it could not read, continues from the round before, and finishes with the
    uninterrupted run's record."""
    workdir = str(tmp_path)
    train.run(smoke_config(**{"fl.rounds": 2}), workdir)
    assert damage_files(os.path.join(workdir, "checkpoints", "2", item), how) > 0
    with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
        f.write('{"round": 3, "lo')  # a line torn mid-write
    capsys.readouterr()
    summary = train.run(smoke_config(), workdir)
    out = capsys.readouterr().out
    assert "checkpoint of round 2 is unreadable" in out and "falling back to round 1" in out
    assert "resumed from round 1 of 3" in out
    resumed = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    straight = read_metrics(os.path.join(runs["a"][0], "metrics.jsonl"))
    assert without_timings(resumed) == without_timings(straight)
    assert summary["tasks"] == runs["a"][1]["tasks"]
    assert os.listdir(os.path.join(workdir, "damaged_checkpoints"))  # kept aside, not lost


def test_best_models_match_the_summary_after_a_crash_between_a_pick_and_its_checkpoint(
    tmp_path,
):
    """A pick saved to best/<task> whose round's checkpoint never committed (a crash between
    them), then a resume with another eval.every: each best/<task>'s newest model is the
    round summary.json names, and the stray pick is gone (or replaced by the run's own)."""
    workdir = str(tmp_path)
    train.run(smoke_config(**{"fl.rounds": 2}), workdir)
    best = os.path.join(workdir, "best")
    tasks = sorted(os.listdir(best))
    for task in tasks:  # a pick of round 3 that the crash left behind (an older model)
        step = str(max(int(n) for n in os.listdir(os.path.join(best, task)) if n.isdigit()))
        shutil.copytree(os.path.join(best, task, step), os.path.join(best, task, "3"))
        shutil.copytree(os.path.join(best, task), os.path.join(tmp_path, "stray", task))
    summary = train.run(smoke_config(**{"fl.rounds": 4, "eval.every": 3}), workdir)
    picked = {}
    for task in tasks:
        steps = sorted(int(n) for n in os.listdir(os.path.join(best, task)) if n.isdigit())
        # The newest (what restore reads) is summary's pick; older ones are named by the
        # retained checkpoints (checkpoint.keep = 2) for a fallback.
        assert steps[-1] == summary["tasks"][task]["best_round"] and len(steps) <= 2
        picked[task] = steps[-1]
    # A round-3 pick is the resumed run's own model, not the stray copy of an older one.
    config = smoke_config()
    initial = build.init_state(
        config, build.build_method(config, 0.0, 1.0), *build.build_optimizers(config)[1:]
    )
    like = encoder_variables({"params": initial.params, **initial.model_state})
    best_ckpts = fassl.BestCheckpoints(workdir)
    for task in tasks:
        if picked[task] == 3:
            _, got = best_ckpts.restore(task, like)
            stray = load_stray(os.path.join(tmp_path, "stray", task), like)
            assert max_abs_diff(got, stray) > 0.0
    best_ckpts.close()


def load_stray(folder: str, like):
    stray = fassl.BestCheckpoints(os.path.dirname(folder))
    stray.root = os.path.dirname(folder)
    _, value = stray.restore(os.path.basename(folder), like)
    stray.close()
    return value


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
    method = build.build_method(config, 0.0, 1.0)
    _, server_tx, aggregator = build.build_optimizers(config)
    initial = build.init_state(config, method, server_tx, aggregator)
    ckpt = Checkpointer(workdir)
    state, meta, _ = ckpt.restore(initial)
    ckpt.close()
    assert int(state.round) == 3 and set(meta) == {"input_mean", "input_std", "fassl", "seconds"}
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
    for name in ("model", "selected", "random_init", "logmel"):
        scores = digit[name]
        values = [scores[f"recall@{k}"] for k in (1, 5, 10, 20, 50)]
        assert values == sorted(values)


def test_a_population_partition_hands_the_trainer_its_registry():
    """partition.kind=population: the trainer's client store is the synthetic population,
    its size the config's, its memory the pool's ids plus the offsets."""
    c = smoke_config(
        **{
            "partition.kind": "population",
            "partition.num_clients": 100_000,
            "partition.clips_per_client": 4.0,
            "partition.size_sigma": 0.5,
        }
    )
    data = train.load_log_mels(c)
    pretrain = data.subset(data.split == "pretrain")
    store = train.build_clients(c, pretrain)
    assert store.num_clients == 100_000
    assert store.example_ids.nbytes == len(pretrain.audio) * 4
    assert 3.5 < store.sizes.mean() < 4.5


def test_fsdd_selection_and_test_splits_are_disjoint(fsdd_dir):
    """FASSL selects on takes 5-9 and reports on takes 0-4: no recording is in both."""
    from fassl_jax.data import spoken_digit

    data = spoken_digit.load(fsdd_dir, clip_seconds=1.0)
    select = {data.audio[i].tobytes() for i in np.flatnonzero(data.split == "select")}
    test = {data.audio[i].tobytes() for i in np.flatnonzero(data.split == "test")}
    assert len(select) == len(test) == 300
    assert not select & test


def test_resume_keeps_client_heads_and_aggregator_state(tmp_path):
    """Backbone-only transmission with L-DAWA and FedYogi: the per-client heads, the
    aggregator's round count and the server optimizer's moments all come back on resume."""
    overrides = {
        "fl.keep_local": "heads",
        "aggregator.rule": "ldawa",
        "server.optimizer": "yogi",
        "server.learning_rate": 0.01,
        "server.momentum": 0.9,
    }
    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    train.run(smoke_config(**overrides), straight)
    train.run(smoke_config(**overrides, **{"fl.rounds": 2}), stopped)
    train.run(smoke_config(**overrides), stopped)
    a, b = (read_metrics(os.path.join(d, "metrics.jsonl")) for d in (straight, stopped))
    assert without_timings(a) == without_timings(b)
    (sa, _, _), (sb, _, _) = (
        final_checkpoint(smoke_config(**overrides), d) for d in (straight, stopped)
    )
    assert max_abs_diff(jax.device_get(sa), jax.device_get(sb)) == 0.0
    ca, cb = (client_log(d) for d in (straight, stopped))
    assert ca.keys() == cb.keys() and len(ca) > 0
    assert max_abs_diff(ca, cb) == 0.0


def final_checkpoint(config, workdir):
    from fassl_jax.checkpoints import Checkpointer

    method = build.build_method(config, 0.0, 1.0)
    _, server_tx, aggregator = build.build_optimizers(config)
    ckpt = Checkpointer(workdir)
    out = ckpt.restore(build.init_state(config, method, server_tx, aggregator))
    ckpt.close()
    return out


def client_log(workdir) -> dict:
    """Each client's latest kept-local parts, from the run's per-round log."""
    folder = os.path.join(workdir, "client_states")
    latest = {}
    for name in sorted(os.listdir(folder)):
        with np.load(os.path.join(folder, name)) as f:
            for row, c in enumerate(f["ids"]):
                latest[int(c)] = {k: f[k][row] for k in f.files if k != "ids"}
    return latest


def test_a_second_run_on_a_busy_workdir_refuses_at_once_and_changes_nothing(tmp_path):
    from fassl_jax.errors import UserError
    from fassl_jax.run_log import workdir_lock

    workdir = str(tmp_path / "run")
    os.makedirs(workdir)
    with workdir_lock(workdir):  # as a first run does while it trains
        before = sorted(os.listdir(workdir))
        with pytest.raises(UserError, match=rf"in use by pid {os.getpid()} on .* since "):
            train.run(smoke_config(), workdir)
        assert sorted(os.listdir(workdir)) == before  # no config.json, no metrics
    train.run(smoke_config(**{"fl.rounds": 1}), workdir)  # released: the next run trains
    assert os.path.exists(os.path.join(workdir, "summary.json"))


def test_rounds_where_no_client_reports_are_skipped_and_logged(tmp_path, capsys):
    summary = train.run(smoke_config(**{"fl.dropout": 1.0, "fl.rounds": 2}), str(tmp_path))
    records = read_metrics(os.path.join(tmp_path, "metrics.jsonl"))
    assert [(r["round"], r["clients"], r["loss"], r["dropped"]) for r in records] == [
        (1, 0, None, 3),
        (2, 0, None, 3),
    ]
    assert "round 1: no client reported (3 dropped); skipped" in capsys.readouterr().out
    for rows in summary["tasks"].values():  # the model never moved from its initial weights
        assert rows["model"] == rows["random_init"]


@pytest.mark.parametrize("setup", ["median", "trimmed_mean", "krum"])
def test_robust_rules_train_through_the_config(setup, tmp_path):
    """A robust rule from configs/aggregators.py (its cohort buffer sized from fl) trains
    under an attack config: finite losses, and the encoder moved from its initial weights.
    (What each rule computes is tested in test_aggregators.py.)"""
    from configs import aggregators
    from fassl_jax.encoders_io import load_encoder

    c = smoke_config(**{"fl.rounds": 2, "fl.attack": "sign_flip", "fl.attack_fraction": 0.3,
                        "fl.attack_scale": 5.0, "eval.probe": False})  # fmt: skip
    aggregators.apply(c, setup)
    train.run(c, str(tmp_path))
    records = read_metrics(os.path.join(tmp_path, "metrics.jsonl"))
    assert all(np.isfinite(r["loss"]) for r in records)
    loaded = load_encoder(str(tmp_path))
    moved = [np.abs(np.asarray(a) - np.asarray(b)).max()
             for a, b in zip(jax.tree.leaves(loaded.variables), jax.tree.leaves(loaded.initial),
                             strict=True)]  # fmt: skip
    assert max(moved) > 1e-4


def read_tensorboard_scalars(folder: str) -> dict[str, dict[int, float]]:
    """tag -> {step: value}, read straight from the TFRecord event files."""
    import glob
    import struct

    from tensorboardX.proto import event_pb2

    out = {}
    for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for v in event.summary.value:
                out.setdefault(v.tag, {})[event.step] = v.simple_value
    return out


def test_tensorboard_scalars_match_the_metrics_log(runs):
    workdir, _ = runs["a"]
    scalars = read_tensorboard_scalars(os.path.join(workdir, "tensorboard"))
    for r in read_metrics(os.path.join(workdir, "metrics.jsonl")):
        assert scalars["loss"][r["round"]] == pytest.approx(r["loss"], rel=1e-6)
        assert scalars["test/pattern/recall_at_1"][r["round"]] == pytest.approx(
            r["pattern/recall@1"]
        )
        assert scalars["select/pattern/recall_at_1"][r["round"]] == pytest.approx(
            r["select/pattern/recall@1"]
        )


def test_dp_fedavg_for_a_target_epsilon_reports_its_spending(tmp_path):
    """aggregator dp_fedavg with dp.target_epsilon: the noise multiplier is calibrated for
    the run, epsilon is logged every round (growing) and ends at the target."""
    from configs import aggregators
    from fassl_jax.federated import privacy

    c = smoke_config(**{"fl.rounds": 3, "eval.probe": False})
    aggregators.apply(c, "dp_fedavg")
    c.dp.target_epsilon = 8.0
    summary = train.run(c, str(tmp_path))
    records = read_metrics(os.path.join(tmp_path, "metrics.jsonl"))
    spent = [r["epsilon"] for r in records]
    assert spent == sorted(spent) and spent[0] > 0
    p = summary["privacy"]
    assert p["epsilon"] == pytest.approx(8.0, rel=0.02) and spent[-1] == p["epsilon"]
    assert p["sampling_rate"] == 3 / 4  # 3 of the smoke run's 4 source clients a round
    assert p["epsilon"] == pytest.approx(privacy.epsilon(0.75, p["noise_multiplier"], 3, 1e-5))


def test_recall_at_above_a_gallery_fails_before_training(tmp_path):
    from fassl_jax.errors import ConfigError

    with pytest.raises(ConfigError, match="recall_at holds 5000, but task .* has a gallery of"):
        train.run(smoke_config(**{"eval.recall_at": (1, 5000)}), str(tmp_path))
    assert not os.path.exists(os.path.join(tmp_path, "checkpoints"))  # nothing trained


def test_a_run_from_before_an_option_existed_matches_that_options_default(tmp_path):
    """config.json of a run that predates an option (here BYOL-A's ssl.filter_db, and a
    base option) reads as holding its default: a resume sees no difference; another value
    is a difference."""
    from configs import byol_a

    config = byol_a.get_config()
    config.ssl.filter_db = 0.0
    written = json.loads(config.to_json())
    del written["ssl"]["filter_db"], written["eval"]["probe"]
    with open(tmp_path / "config.json", "w") as f:
        json.dump(written, f)
    assert train.config_differences(str(tmp_path), config) == []
    config.ssl.filter_db = 6.0
    assert train.config_differences(str(tmp_path), config) == ["ssl.filter_db"]
    config.ssl.filter_db, config.data.domains = 0.0, "instruments"  # another pretraining pool
    assert train.config_differences(str(tmp_path), config) == ["data.domains"]
