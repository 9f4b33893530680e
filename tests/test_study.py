"""The study command on a tiny grid: every cell runs once, tables and plots come out, and a
rerun skips finished cells."""

import csv
import itertools
import json
import os

import numpy as np
import pytest
from conftest import REPO
from test_cli import assert_one_line_error, run_cli

from fassl_jax import config_check, study, train
from fassl_jax.run_log import read_metrics

# The documented tiny grid (2 rounds of the smoke config; simclr under fedavg and ldawa, and
# centralized; seeds 0 and 1).
GRID = study.load_grid(os.path.join(REPO, "configs", "studies", "tiny.py"))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("study"))
    return workdir, study.run(GRID, workdir, log=lambda _: None)


def test_cells_cover_the_grid_and_centralized_once_per_method_and_seed():
    names = [c.name for c in study.cells(GRID)]
    settings = ["simclr-fedavg-natural", "simclr-ldawa-natural", "simclr-centralized"]
    assert names == [f"{s}-s{seed}" for seed in (0, 1) for s in settings]


def test_each_run_trains_with_its_seed_and_rows_report_its_own_best_round(finished):
    """Rows against each run's own files: its config's seed, and the test score that
    metrics.jsonl holds at the round FASSL picked."""
    workdir, table = finished
    assert len(table) == 3 * 2 * 2  # settings x seeds x tasks (pattern, source)
    for r in table:
        run = os.path.join(workdir, f"{r['setting']}-s{r['seed']}")
        with open(os.path.join(run, "config.json")) as f:
            assert json.load(f)["seed"] == r["seed"]
        records = {m["round"]: m for m in read_metrics(os.path.join(run, "metrics.jsonl"))}
        picked = records[r["best_round"]]
        assert r["best_test_recall@1"] == picked[f"{r['task']}/recall@1"]
        assert r["best_select_recall@1"] == picked[f"select/{r['task']}/recall@1"]
        scored = [m[f"{r['task']}/recall@1"] for m in records.values() if "eval_seconds" in m]
        assert r["oracle_test_recall@1"] == max(scored) >= r["best_test_recall@1"]
    # Two seeds train two different models.
    by_seed = {r["seed"]: r for r in table if r["setting"] == "simclr-fedavg-natural"}
    losses = [
        read_metrics(os.path.join(workdir, f"simclr-fedavg-natural-s{s}", "metrics.jsonl"))[0][
            "loss"
        ]
        for s in by_seed
    ]
    assert losses[0] != losses[1]


def test_paired_comparisons_are_differences_within_a_seed_then_over_seeds(finished):
    workdir, table = finished
    with open(os.path.join(workdir, "comparisons.csv")) as f:
        compared = list(csv.DictReader(f))
    row = next(
        c
        for c in compared
        if c["claim"] == "federated - centralized"
        and c["task"] == "pattern"
        and c["a"] == "simclr-ldawa-natural"
    )
    score = {(r["setting"], r["seed"]): r["best_test_recall@1"] for r in table
             if r["task"] == "pattern"}  # fmt: skip
    diffs = [score["simclr-ldawa-natural", s] - score["simclr-centralized", s] for s in (0, 1)]
    assert float(row["mean_difference"]) == pytest.approx(np.mean(diffs))
    assert float(row["sd"]) == pytest.approx(np.std(diffs, ddof=1))
    assert int(row["seeds"]) == 2
    with open(os.path.join(workdir, "results.md")) as f:
        md = f.read()
    assert "| simclr-ldawa-natural |" in md and "| simclr-centralized |" in md
    assert "## Paired comparisons" in md
    # what the federated and centralized cells hold equal, in the grid's own words
    assert f"Held equal between federated and centralized cells: {GRID.held_equal}" in md
    for png in ("recall_pattern.png", "recall_source.png", "grid.png"):
        with open(os.path.join(workdir, png), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("diffs", "want"),
    [
        ([0.10, 0.12, 0.08], "higher"),
        ([-0.10, -0.12, -0.08], "lower"),
        ([0.10, -0.10, 0.05], "within interval"),
        # Beyond one sd (0.06 > 0.04), inside the 95% t-interval at 3 seeds (+-0.099).
        ([0.10, 0.02, 0.06], "within interval"),
        ([0.02], "one seed"),
    ],
)
def test_a_difference_counts_only_when_its_95_percent_interval_excludes_zero(diffs, want):
    assert study.verdict(*study.mean_sd(diffs), len(diffs)) == want
    low, high = study.interval(*study.mean_sd(diffs), len(diffs))
    if len(diffs) > 1:  # scipy's own t-interval of the mean
        from scipy import stats

        want_low, want_high = stats.t.interval(
            0.95, len(diffs) - 1, np.mean(diffs), stats.sem(diffs)
        )
        assert (low, high) == pytest.approx((want_low, want_high))


def _row(method, aggregator, seed, task, best, last, init, oracle):
    mode = "centralized" if aggregator == "-" else "federated"
    cell = study.Cell(method, aggregator, "-" if aggregator == "-" else "natural", mode, seed)
    return {"setting": cell.setting, "method": method, "aggregator": aggregator, "mode": mode,
            "seed": seed, "task": task, "best_test_recall@1": best, "last_test_recall@1": last,
            "random_init_recall@1": init, "logmel_recall@1": 0.0,
            "oracle_test_recall@1": oracle, "train_seconds": 60.0, "eval_seconds": 6.0}  # fmt: skip


def test_claims_pool_within_a_seed_as_a_plain_loop_does():
    """claims() against the pooled differences written out by hand, on random scores for 2
    methods (one predictive) x 2 aggregations + centralized x 3 seeds x 2 tasks."""
    rng = np.random.default_rng(0)
    grid = study.Grid("t", ("fm", "pred"), ("fedavg", "ldawa"), ("natural",),
                      ("federated", "centralized"), make_config=None,
                      task_groups=(("semantic", ("a",)), ("both", ("a", "b"))),
                      predictive=("pred",))  # fmt: skip
    table, score = [], {}
    for m in grid.methods:
        for agg in (*grid.aggregators, "-"):
            for seed in (0, 1, 2):
                for task in ("a", "b"):
                    v = rng.uniform(size=4)
                    table.append(_row(m, agg, seed, task, *v))
                    score[m, agg, seed, task] = v
    got = {(c["claim"], c["subject"], c["task"]): c for c in study.claims(grid, table)}

    def check(key, per_seed):
        c = got[key]
        assert c["seeds"] == 3
        assert c["mean_difference"] == pytest.approx(np.mean(per_seed))
        assert c["sd"] == pytest.approx(np.std(per_seed, ddof=1))

    for m, task in itertools.product(grid.methods, ("a", "b")):
        per_seed = [np.mean([score[m, a, s, task][0] - score[m, "-", s, task][0]
                             for a in grid.aggregators]) for s in (0, 1, 2)]  # fmt: skip
        check(("federated - centralized", f"{m} (mean over federated settings)", task), per_seed)

    def gain(m, agg, s, tasks):
        return np.mean([score[m, agg, s, t][0] - score[m, agg, s, t][2] for t in tasks])

    for group, tasks in grid.task_groups:
        per_seed = [np.mean([gain("pred", a, s, tasks) - gain("fm", a, s, tasks)
                             for a in grid.aggregators]) for s in (0, 1, 2)]  # fmt: skip
        check(("predictive - feature matching (gain over random init)",
               "federated (pred vs fm)", group), per_seed)  # fmt: skip
        per_seed = [gain("pred", "-", s, tasks) - gain("fm", "-", s, tasks) for s in (0, 1, 2)]
        check(("predictive - feature matching (gain over random init)",
               "centralized (pred vs fm)", group), per_seed)  # fmt: skip
    for a, subject in (("ldawa", "ldawa-natural"), ("-", "centralized")):
        for claim, i, j in (("FASSL pick - last round", 0, 1), ("best round - FASSL pick", 3, 0)):
            per_seed = [np.mean([score[m, a, s, "a"][i] - score[m, a, s, "a"][j]
                                 for m in grid.methods]) for s in (0, 1, 2)]  # fmt: skip
            check((claim, f"{subject} (mean over methods)", "a"), per_seed)
    # A seed with a missing run is left out of every claim that pools it, and only those.
    partial = [r for r in table if not (r["setting"] == "fm-ldawa-natural" and r["seed"] == 2)]
    seeds = {(c["claim"], c["subject"], c["task"]): c["seeds"] for c in study.claims(grid, partial)}
    assert seeds["federated - centralized", "fm (mean over federated settings)", "a"] == 2
    assert seeds["federated - centralized", "pred (mean over federated settings)", "a"] == 3
    predictive = "predictive - feature matching (gain over random init)"
    assert seeds[predictive, "federated (pred vs fm)", "semantic"] == 2
    assert seeds[predictive, "centralized (pred vs fm)", "semantic"] == 3
    assert seeds["FASSL pick - last round", "ldawa-natural (mean over methods)", "a"] == 2
    assert seeds["FASSL pick - last round", "fedavg-natural (mean over methods)", "a"] == 3
    # A grouped task the study does not have (a corpus built without FSDD) is named, and the
    # claim pools the group's other tasks.
    without_b = [r for r in table if r["task"] != "b"]
    groups = {c["task"] for c in study.claims(grid, without_b) if c["claim"] == predictive}
    assert groups == {"semantic", "both (without b)"}


def test_baselines_get_a_row_per_method_when_methods_score_them_differently():
    grid = study.Grid("t", ("fm", "pred"), ("fedavg",), ("natural",), ("federated",), None)
    same = [_row(m, "fedavg", 0, "a", 0.5, 0.5, 0.25, 0.5) for m in grid.methods]
    md = study.markdown(grid, same, [])
    assert "| random init | 0.250 | 0.250 | - |" in md and "random init (fm)" not in md
    # Mid-study, a method with fewer finished seeds but the same baselines: still one row.
    partial = [*same, _row("fm", "fedavg", 1, "a", 0.5, 0.5, 0.3, 0.5)]
    assert "random init (fm)" not in study.markdown(grid, partial, [])
    windowed = [same[0], {**same[1], "random_init_recall@1": 0.75}]
    md = study.markdown(grid, windowed, [])
    assert "| random init (fm) | 0.250 |" in md and "| random init (pred) | 0.750 |" in md


def test_a_finished_cell_made_with_another_config_is_an_error_not_reused(finished):
    from fassl_jax.errors import UserError

    workdir, _ = finished
    with pytest.raises(UserError, match="simclr-fedavg-natural-s0 finished with another config "
                       r"\(differs in fl.batch_size\)"):  # fmt: skip
        study.run(GRID, workdir, log=lambda _: None, overrides={"fl.batch_size": 8})


def test_a_finished_cell_with_more_rounds_than_asked_is_an_error(finished):
    from fassl_jax.errors import UserError

    workdir, _ = finished
    with pytest.raises(UserError, match=r"fl.rounds \(2 run, 1 asked\)"):
        study.run(GRID, workdir, log=lambda _: None, overrides={"fl.rounds": 1})
    with pytest.raises(UserError, match="differs in eval.every"):
        study.run(GRID, workdir, log=lambda _: None, overrides={"eval.every": 2})


def test_a_finished_cell_is_reused_when_only_the_linear_probe_setting_differs(finished):
    """The probe only adds numbers to summary.json after training: it changes no result."""
    workdir, table = finished
    summary = os.path.join(workdir, "simclr-fedavg-natural-s0", "summary.json")
    before = os.stat(summary).st_mtime_ns
    probe = study.cell_config(GRID, study.cells(GRID)[0]).eval.probe
    again = study.run(GRID, workdir, log=lambda _: None, overrides={"eval.probe": not probe})
    assert again == table and os.stat(summary).st_mtime_ns == before


def test_only_and_overrides_pick_cells_and_change_their_configs(tmp_path, monkeypatch):
    from fassl_jax.errors import UserError

    trained = []

    def fake_run_cell(grid, cell, workdir, overrides):
        trained.append((cell.name, study.cell_config(grid, cell, overrides)))
        return {"rounds": 1, "seconds": {"train": 0, "eval": 0}, "tasks": {}}

    monkeypatch.setattr(study, "run_cell", fake_run_cell)
    monkeypatch.setattr(study, "plot", lambda *a: [])
    monkeypatch.setattr(study, "write_csv", lambda *a: None)
    study.run(GRID, str(tmp_path), log=lambda _: None, only="ldawa", overrides={"fl.rounds": 5})
    assert [name for name, _ in trained] == ["simclr-ldawa-natural-s0", "simclr-ldawa-natural-s1"]
    assert all(c.fl.rounds == 5 and c.aggregator.rule == "ldawa" for _, c in trained)
    with pytest.raises(UserError, match="no cell name contains 'moco'"):
        study.run(GRID, str(tmp_path), only="moco")
    with pytest.raises(UserError, match="no such key"):
        study.cell_config(GRID, study.cells(GRID)[0], {"fl.roundz": 5})


def test_rerun_skips_finished_cells_and_finishes_the_rest(finished, monkeypatch):
    workdir, table = finished
    os.remove(os.path.join(workdir, "simclr-ldawa-natural-s1", "summary.json"))  # "interrupted"
    trained = []
    real_run = train.run
    monkeypatch.setattr(train, "run", lambda c, d: trained.append(d) or real_run(c, d))
    again = study.run(GRID, workdir, log=lambda _: None)
    assert [os.path.basename(d) for d in trained] == ["simclr-ldawa-natural-s1"]
    timing = ("train_seconds", "eval_seconds")
    strip = [{k: v for k, v in r.items() if k not in timing} for r in again]
    assert strip == [{k: v for k, v in r.items() if k not in timing} for r in table]


@pytest.mark.parametrize("spec", ["paper.py", "paper.py:full", "paper_fsdd.py", "tiny.py"])
def test_the_paper_grids_load_and_every_cell_config_is_valid(spec):
    grid = study.load_grid(os.path.join(REPO, "configs", "studies", spec))
    todo = study.cells(grid)
    per_seed = len(grid.methods) * (len(grid.aggregators) * len(grid.partitions) + 1)
    assert len(todo) == per_seed * len(grid.seeds)
    if spec != "tiny.py":
        assert len(grid.seeds) == 3  # every cell over 3 seeds
    for cell in todo:
        c = grid.make_config(cell)
        config_check.validate(c)
        assert c.mode == cell.mode and c.ssl.method == cell.method
        # ACOP trains on sub-clips, so it is scored on windows of their length
        want_window = c.ssl.subclip_frames if cell.method == "acop" else 0
        assert c.eval.window_frames == want_window


@pytest.mark.parametrize("spec", ["paper.py", "paper.py:full", "paper_fsdd.py"])
def test_the_paper_grids_centralized_cells_match_federated_ones_in_sample_gradients(spec):
    """Equal compute: each method's centralized cell takes as many sample gradients a round,
    for as many rounds, with the same client optimizer, as its federated cells' cohort."""
    grid = study.load_grid(os.path.join(REPO, "configs", "studies", spec))
    for method in grid.methods:
        central = grid.make_config(study.Cell(method, "-", "-", "centralized"))
        for agg, part in itertools.product(grid.aggregators, grid.partitions):
            fed = grid.make_config(study.Cell(method, agg, part, "federated"))
            cohort = fed.fl.clients_per_round * fed.fl.local_steps * fed.fl.batch_size
            assert cohort == central.fl.local_steps * central.fl.batch_size
            assert fed.fl.rounds == central.fl.rounds
            assert fed.client.to_dict() == central.client.to_dict()
            assert fed.ssl.to_dict() == central.ssl.to_dict()


def test_the_paper_grid_groups_tasks_by_the_corpus_own_kinds():
    from data_prep.corpora import TASKS

    grid = study.load_grid(os.path.join(REPO, "configs", "studies", "paper.py"))
    groups = dict(grid.task_groups)
    assert set(groups) == {"semantic", "non-semantic"}
    for task, spec in TASKS.items():
        assert task in groups[spec.kind]
    assert sum(map(len, groups.values())) == len(TASKS)
    assert grid.predictive == ("acop",)


def test_study_command_reports_bad_input_in_one_line(tmp_path):
    """The grid file imports fassl_jax.study beside the running command; data that is not
    there ends in one line naming the fix."""
    empty = tmp_path / "no_data"
    empty.mkdir()
    result = run_cli(
        "fassl_jax.study",
        "--grid=configs/studies/paper_fsdd.py",
        f"--workdir={tmp_path / 'study'}",
        env={"FASSL_DATA_DIR": str(empty)},
    )
    assert_one_line_error(result, "fsdd")
    result = run_cli("fassl_jax.study", "--grid=configs/studies/nope.py", "--workdir=x")
    assert_one_line_error(result, "nope.py", "does not exist")


def test_the_shipped_grids_load_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    grid = study.load_grid("configs/studies/tiny.py")
    assert grid.methods and os.getcwd() == str(tmp_path)


def test_the_study_cli_takes_config_overrides_and_a_cell_filter(tmp_path):
    """--config.a.b=v and --cells=TEXT reach the study (each checked before any training:
    a key no cell has, a filter no cell matches)."""
    import subprocess
    import sys

    def study_cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "fassl_jax.study", "--grid=configs/studies/tiny.py",
             f"--workdir={tmp_path}", *args],
            cwd=REPO, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    bad_key = study_cli("--config.fl.roundz=5")
    assert (
        bad_key.returncode == 2
        and "override fl.roundz: the cells' configs have no such key" in bad_key.stderr
    )
    no_cell = study_cli("--cells=moco", "--config.fl.rounds=1")
    assert no_cell.returncode == 2 and "no cell name contains 'moco'" in no_cell.stderr
    assert "Traceback" not in bad_key.stderr + no_cell.stderr


def test_command_line_overrides_are_read_as_the_type_of_the_field_they_replace():
    from fassl_jax.errors import UserError
    from fassl_jax.study.__main__ import config_overrides_as_set

    cell = study.cells(GRID)[0]
    raw = {"eval.probe": "false", "fl.rounds": "5", "data.dir": "2024",
           "client.learning_rate": "1", "eval.recall_at": "(1, 5)"}  # fmt: skip
    c = study.cell_config(GRID, cell, raw)
    assert c.eval.probe is False and c.fl.rounds == 5 and c.data.dir == "2024"
    assert c.client.learning_rate == 1.0 and isinstance(c.client.learning_rate, float)
    assert tuple(c.eval.recall_at) == (1, 5)
    with pytest.raises(UserError, match="expected true or false"):
        study.cell_config(GRID, cell, {"eval.probe": "maybe"})
    argv = ["prog", "--config.fl.rounds", "5", "--config.eval.probe=false", "--cells=x"]
    assert config_overrides_as_set(argv) == [
        "prog", "--set=fl.rounds=5", "--set=eval.probe=false", "--cells=x"
    ]  # fmt: skip
