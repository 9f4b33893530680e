"""The study command on a tiny grid: every cell runs once, tables and plots come out, and a
rerun skips finished cells."""

import csv
import os

import pytest
from conftest import REPO
from test_cli import assert_one_line_error, run_cli

from configs import aggregators, smoke
from fassl_jax import config_check, study, train


def tiny_cell_config(cell: study.Cell):
    c = smoke.get_config()
    c.mode = cell.mode
    c.fl.rounds = 2
    if cell.mode == "federated":
        aggregators.apply(c, cell.aggregator)
    return c


GRID = study.Grid(
    title="tiny",
    methods=("simclr",),
    aggregators=("fedavg", "ldawa"),
    partitions=("natural",),
    modes=("federated", "centralized"),
    make_config=tiny_cell_config,
    command="pytest tests/test_study.py",
)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("study"))
    return workdir, study.run(GRID, workdir, log=lambda _: None)


def test_cells_cover_the_grid_and_centralized_once_per_method():
    names = [c.name for c in study.cells(GRID)]
    assert names == ["simclr-fedavg-natural", "simclr-ldawa-natural", "simclr-centralized"]


def test_results_table_csv_and_plots(finished):
    workdir, table = finished
    assert len(table) == 3 * 2  # cells x tasks (pattern, source)
    with open(os.path.join(workdir, "results.csv")) as f:
        on_disk = list(csv.DictReader(f))
    assert [r["aggregator"] for r in on_disk] == [r["aggregator"] for r in table]
    for r in table:
        assert 1 <= r["best_round"] <= 2 and 0 <= r["best_test_recall@1"] <= 1
    with open(os.path.join(workdir, "results.md")) as f:
        md = f.read()
    assert "| simclr | ldawa | natural |" in md and "| simclr | - | - |" in md
    for png in ("recall_pattern.png", "recall_source.png", "grid.png"):
        with open(os.path.join(workdir, png), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_rerun_skips_finished_cells_and_finishes_the_rest(finished, monkeypatch):
    workdir, table = finished
    os.remove(os.path.join(workdir, "simclr-ldawa-natural", "summary.json"))  # "interrupted"
    trained = []
    real_run = train.run
    monkeypatch.setattr(train, "run", lambda c, d: trained.append(d) or real_run(c, d))
    again = study.run(GRID, workdir, log=lambda _: None)
    assert [os.path.basename(d) for d in trained] == ["simclr-ldawa-natural"]
    timing = ("train_seconds", "eval_seconds")
    strip = [{k: v for k, v in r.items() if k not in timing} for r in again]
    assert strip == [{k: v for k, v in r.items() if k not in timing} for r in table]


def test_the_paper_grid_loads_and_every_cell_config_is_valid():
    grid = study.load_grid(os.path.join(REPO, "configs", "studies", "paper.py"))
    todo = study.cells(grid)
    assert len(todo) == len(grid.methods) * (len(grid.aggregators) * len(grid.partitions) + 1)
    for cell in todo:
        c = grid.make_config(cell)
        config_check.validate(c)
        assert c.mode == cell.mode and c.ssl.method == cell.method


def test_study_command_reports_bad_input_in_one_line(tmp_path):
    """The grid file imports fassl_jax.study beside the running command; data that is not
    there ends in one line naming the fix."""
    empty = tmp_path / "no_data"
    empty.mkdir()
    result = run_cli(
        "fassl_jax.study",
        "--grid=configs/studies/paper.py",
        f"--workdir={tmp_path / 'study'}",
        env={"FASSL_DATA_DIR": str(empty)},
    )
    assert_one_line_error(result, "fsdd")
    result = run_cli("fassl_jax.study", "--grid=configs/studies/nope.py", "--workdir=x")
    assert_one_line_error(result, "nope.py", "does not exist")
