r"""A study: a grid of runs (SSL method x aggregation x partition x federated/centralized) with
one command, and its tables and plots.

  python -m fassl_jax.study --grid=configs/studies/paper.py --workdir=runs/paper

Each cell trains into WORKDIR/<cell>; a cell whose summary.json exists is skipped and an
interrupted one resumes from its checkpoint, so rerunning the command finishes the study.
Then WORKDIR gets results.csv (one row per cell and task), results.md (the paper-style
table) and PNG plots (test Recall@1 per task against rounds; the grid as bars).

A grid file defines get_grid() -> Grid; see configs/studies/paper.py. The command line is
__main__.py.
"""

import csv
import itertools
import json
import os
import runpy
import time
from collections.abc import Callable
from typing import NamedTuple

import ml_collections

from fassl_jax.errors import UserError
from fassl_jax.run_log import read_metrics

CENTRALIZED = "-"  # a centralized cell has no aggregation and no partition
METRIC = "recall@1"


class Cell(NamedTuple):
    method: str
    aggregator: str
    partition: str
    mode: str

    @property
    def name(self) -> str:
        if self.mode == "centralized":
            return f"{self.method}-centralized"
        return f"{self.method}-{self.aggregator}-{self.partition}"


class Grid(NamedTuple):
    title: str
    methods: tuple[str, ...]
    aggregators: tuple[str, ...]
    partitions: tuple[str, ...]
    modes: tuple[str, ...]  # "federated" and/or "centralized"
    make_config: Callable[[Cell], ml_collections.ConfigDict]
    command: str = ""  # how the committed results were made, for results.md


def cells(grid: Grid) -> list[Cell]:
    out = []
    for method in grid.methods:
        if "federated" in grid.modes:
            for agg, part in itertools.product(grid.aggregators, grid.partitions):
                out.append(Cell(method, agg, part, "federated"))
        if "centralized" in grid.modes:
            out.append(Cell(method, CENTRALIZED, CENTRALIZED, "centralized"))
    return out


def load_grid(path: str) -> Grid:
    if not os.path.exists(path):
        raise UserError(f"grid file {path} does not exist; see configs/studies/paper.py")
    grid = runpy.run_path(path)["get_grid"]()
    unknown = set(grid.modes) - {"federated", "centralized"}
    if unknown:
        raise UserError(f"{path}: unknown modes {sorted(unknown)}; use federated, centralized")
    return grid


def run_cell(grid: Grid, cell: Cell, workdir: str) -> dict:
    """Trains one cell unless it finished; returns its summary."""
    from fassl_jax import train  # heavy (JAX); the CLI's --help stays fast

    out = os.path.join(workdir, cell.name)
    path = os.path.join(out, "summary.json")
    if not os.path.exists(path):
        train.run(grid.make_config(cell), out)
    with open(path) as f:
        return json.load(f)


def rows(grid: Grid, summaries: dict[Cell, dict]) -> list[dict]:
    """One row per cell and task."""
    out = []
    for cell, s in summaries.items():
        for task, t in s["tasks"].items():
            out.append(
                {
                    **cell._asdict(),
                    "task": task,
                    "rounds": s["rounds"],
                    "best_round": t["best_round"],
                    f"best_select_{METRIC}": t[f"best_select_{METRIC}"],
                    f"best_test_{METRIC}": t[f"best_test_{METRIC}"],
                    f"last_test_{METRIC}": t[f"last_test_{METRIC}"],
                    f"random_init_{METRIC}": t["random_init"][METRIC],
                    f"logmel_{METRIC}": t["logmel"][METRIC],
                    "train_seconds": s["seconds"]["train"],
                    "eval_seconds": s["seconds"]["eval"],
                }
            )
    return out


def write_csv(path: str, table: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)


def markdown(grid: Grid, table: list[dict]) -> str:
    """Rows: method x aggregation (and centralized); columns: per task, the test Recall@1 of
    FASSL's selected round (the round) and of the last round."""
    tasks = sorted({r["task"] for r in table})
    by_cell = {}
    for r in table:
        by_cell.setdefault((r["method"], r["aggregator"], r["partition"], r["mode"]), {})[
            r["task"]
        ] = r
    head = "| method | aggregation | partition | " + " | ".join(
        f"{t}: FASSL (round) | {t}: last" for t in tasks
    )
    lines = [
        f"# {grid.title}",
        "",
        f"Test Recall@1 of the model FASSL selected per task (by selection-split Recall@1; "
        f"its round in brackets) and of the last round's model. Command: `{grid.command}`",
        "",
        head + " | train / eval min |",
        "|---|---|---|" + "---|---|" * len(tasks) + "---|",
    ]
    for (method, agg, part, _), per_task in by_cell.items():
        first = next(iter(per_task.values()))
        cols = []
        for t in tasks:
            r = per_task[t]
            cols.append(f"{r[f'best_test_{METRIC}']:.3f} ({r['best_round']})")
            cols.append(f"{r[f'last_test_{METRIC}']:.3f}")
        timing = f"{first['train_seconds'] / 60:.1f} / {first['eval_seconds'] / 60:.1f}"
        lines.append(f"| {method} | {agg} | {part} | " + " | ".join(cols) + f" | {timing} |")
    base = {t: next(r for r in table if r["task"] == t) for t in tasks}
    for name in ("random_init", "logmel"):
        cols = [f"{base[t][f'{name}_{METRIC}']:.3f}" for t in tasks for _ in ("best", "last")]
        lines.append(f"| {name.replace('_', ' ')} | - | - | " + " | ".join(cols) + " | - |")
    return "\n".join(lines) + "\n"


def plot(grid: Grid, workdir: str, summaries: dict[Cell, dict], table: list[dict]) -> list[str]:
    """recall_<task>.png: test Recall@1 against rounds, a line per cell; grid.png: bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in table})
    paths = []
    for task in tasks:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for cell in summaries:
            records = read_metrics(os.path.join(workdir, cell.name, "metrics.jsonl"))
            points = [
                (r["round"], r[f"{task}/{METRIC}"]) for r in records if f"{task}/{METRIC}" in r
            ]
            ax.plot(*zip(*points, strict=True), marker="o", label=cell.name)
        ax.set(xlabel="round", ylabel=f"test {METRIC}", title=f"{grid.title}: {task}")
        ax.legend(fontsize=7)
        paths.append(_save(fig, os.path.join(workdir, f"recall_{task}.png")))
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.5), squeeze=False)
    names = [c.name for c in summaries]
    for ax, task in zip(axes[0], tasks, strict=True):
        rs = {
            (r["method"], r["aggregator"], r["partition"], r["mode"]): r
            for r in table
            if r["task"] == task
        }
        x = range(len(names))
        best = [rs[tuple(c)][f"best_test_{METRIC}"] for c in summaries]
        last = [rs[tuple(c)][f"last_test_{METRIC}"] for c in summaries]
        ax.bar([i - 0.2 for i in x], best, 0.4, label="FASSL selected")
        ax.bar([i + 0.2 for i in x], last, 0.4, label="last round")
        ax.axhline(
            next(iter(rs.values()))[f"random_init_{METRIC}"], ls="--", c="gray", label="random init"
        )
        ax.set_xticks(list(x), names, rotation=60, ha="right", fontsize=7)
        ax.set(title=task, ylabel=f"test {METRIC}")
        ax.legend(fontsize=7)
    paths.append(_save(fig, os.path.join(workdir, "grid.png")))
    return paths


def _save(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def run(grid: Grid, workdir: str, log=print) -> list[dict]:
    os.makedirs(workdir, exist_ok=True)
    summaries = {}
    todo = cells(grid)
    for i, cell in enumerate(todo):
        t0 = time.perf_counter()
        summaries[cell] = run_cell(grid, cell, workdir)
        log(f"[{i + 1}/{len(todo)}] {cell.name}: {time.perf_counter() - t0:.0f} s")
    table = rows(grid, summaries)
    write_csv(os.path.join(workdir, "results.csv"), table)
    with open(os.path.join(workdir, "results.md"), "w") as f:
        f.write(markdown(grid, table))
    plot(grid, workdir, summaries, table)
    return table
