r"""A study: a grid of runs (SSL method x aggregation x partition x federated/centralized) with
one command, and its tables and plots.

  python -m fassl_jax.study --grid=configs/studies/paper.py --workdir=runs/paper

Each cell runs once per seed (3 by default) into WORKDIR/<cell>-s<seed>; a run whose
summary.json exists is skipped and an interrupted one resumes from its checkpoint, so
rerunning the command finishes the study. Then WORKDIR gets results.csv (one row per run
and task), results.md (per task, mean and standard deviation over seeds, and paired
comparisons: each difference taken within a seed, then its mean and standard deviation over
seeds), comparisons.csv, and PNG plots (test Recall@1 per task against rounds; the grid as
bars with the seeds' spread).

A grid file defines get_grid() -> Grid; see configs/studies/paper.py. The command line is
__main__.py.
"""

import ast
import csv
import itertools
import json
import os
import runpy
import time
from collections.abc import Callable
from typing import NamedTuple

import ml_collections
import numpy as np

from fassl_jax import launch
from fassl_jax.errors import UserError
from fassl_jax.run_log import read_metrics, write_atomically

CENTRALIZED = "-"  # a centralized cell has no aggregation and no partition
METRIC = "recall@1"


class Cell(NamedTuple):
    method: str
    aggregator: str
    partition: str
    mode: str
    seed: int = 0

    @property
    def setting(self) -> str:
        """The cell without its seed: what the tables average over seeds."""
        if self.mode == "centralized":
            return f"{self.method}-centralized"
        return f"{self.method}-{self.aggregator}-{self.partition}"

    @property
    def name(self) -> str:
        return f"{self.setting}-s{self.seed}"


class Grid(NamedTuple):
    title: str
    methods: tuple[str, ...]
    aggregators: tuple[str, ...]
    partitions: tuple[str, ...]
    modes: tuple[str, ...]  # "federated" and/or "centralized"
    make_config: Callable[[Cell], ml_collections.ConfigDict]  # sets everything but the seed
    command: str = ""  # how the committed results were made, for results.md
    seeds: tuple[int, ...] = (0, 1, 2)
    held_equal: str = ""  # what federated and centralized cells share, for results.md


def cells(grid: Grid) -> list[Cell]:
    """Seed-major: a study stopped early has every setting at its first seeds."""
    out = []
    for seed in grid.seeds:
        for method in grid.methods:
            if "federated" in grid.modes:
                for agg, part in itertools.product(grid.aggregators, grid.partitions):
                    out.append(Cell(method, agg, part, "federated", seed))
            if "centralized" in grid.modes:
                out.append(Cell(method, CENTRALIZED, CENTRALIZED, "centralized", seed))
    return out


def load_grid(spec: str) -> Grid:
    """spec: a grid file, optionally with its argument (configs/studies/paper.py:full)."""
    path, _, arg = spec.partition(":")
    path = launch.project_path(path)  # the shipped grids from any directory
    if not os.path.exists(path):
        raise UserError(f"grid file {path} does not exist; see configs/studies/paper.py")
    try:
        grid = runpy.run_path(path)["get_grid"](*([arg] if arg else []))
    except ValueError as e:
        raise UserError(f"--grid={spec}: {e}") from None
    unknown = set(grid.modes) - {"federated", "centralized"}
    if unknown:
        raise UserError(f"{path}: unknown modes {sorted(unknown)}; use federated, centralized")
    return grid


def cell_config(grid: Grid, cell: Cell, overrides: dict | None = None):
    """The cell's config: the grid's, its seed, then the study's overrides (dotted keys)."""
    config = grid.make_config(cell)
    config.seed = cell.seed
    for dotted, value in (overrides or {}).items():
        node = config
        *path, leaf = dotted.split(".")
        try:
            for part in path:
                node = node[part]
            old = node[leaf]
        except (KeyError, AttributeError):
            raise UserError(f"override {dotted}: the cells' configs have no such key") from None
        try:
            node[leaf] = _as_type_of(old, value)
        except (TypeError, ValueError, SyntaxError) as e:
            raise UserError(f"override {dotted}={value!r}: {e}") from None
    return config


def _as_type_of(old, value):
    """A command-line string read as the type of the value it replaces (as ml_collections
    reads fassl_jax.main's --config.* flags); other values as they are."""
    if not isinstance(value, str) or old is None or isinstance(old, str):
        return value
    if isinstance(old, bool):
        lowered = value.lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ValueError(f"expected true or false, got {value!r}")
        return lowered in ("true", "1")
    parsed = ast.literal_eval(value)
    return float(parsed) if isinstance(old, float) and isinstance(parsed, int) else parsed


def run_cell(grid: Grid, cell: Cell, workdir: str, overrides: dict | None = None) -> dict:
    """Trains one cell unless it finished; returns its summary. A finished cell made with
    another config (the grid file or the overrides changed since) is an error, not reused."""
    from fassl_jax import train  # heavy (JAX); the CLI's --help stays fast

    out = os.path.join(workdir, cell.name)
    path = os.path.join(out, "summary.json")
    config = cell_config(grid, cell, overrides)
    if os.path.exists(path):
        diffs = train.config_differences(out, config)
        with open(os.path.join(out, "config.json")) as f:
            ran = json.load(f)
        if ran["eval"]["every"] != config.eval.every:  # FASSL's pick depends on it
            diffs.append("eval.every")
        with open(path) as f:
            rounds = json.load(f)["rounds"]
        if rounds > config.fl.rounds:
            diffs.append(f"fl.rounds ({rounds} run, {config.fl.rounds} asked)")
        if diffs:
            raise UserError(
                f"{out} finished with another config (differs in {', '.join(diffs)}); the grid "
                "or its overrides changed: use a new --workdir, or delete that cell to rerun it"
            )
        if rounds < config.fl.rounds:  # more rounds asked: the run resumes and extends
            train.run(config, out)
    else:
        train.run(config, out)
    with open(path) as f:
        return json.load(f)


def rows(grid: Grid, summaries: dict[Cell, dict]) -> list[dict]:
    """One row per run (cell and seed) and task."""
    out = []
    for cell, s in summaries.items():
        for task, t in s["tasks"].items():
            out.append(
                {
                    **cell._asdict(),
                    "setting": cell.setting,
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
    tmp = f"{path}.tmp"  # written whole, then moved: a reader never sees half a table
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    os.replace(tmp, path)


BEST, LAST = f"best_test_{METRIC}", f"last_test_{METRIC}"
BASELINES = {"random init": f"random_init_{METRIC}", "log-mel": f"logmel_{METRIC}"}


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (nan for one value)."""
    v = np.asarray(values, np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan")


def fmt(values) -> str:
    mean, sd = mean_sd(values)
    return f"{mean:.3f}" if np.isnan(sd) else f"{mean:.3f} ± {sd:.3f}"


def verdict(mean: float, sd: float) -> str:
    """A difference counts only outside the seeds' spread."""
    if np.isnan(sd):
        return "one seed"
    if mean > sd and mean > 0:
        return "higher"
    if mean < -sd and mean < 0:
        return "lower"
    return "within spread"


def _by_setting(table: list[dict]) -> dict[str, dict[str, dict[int, dict]]]:
    """setting -> task -> seed -> row."""
    out = {}
    for r in table:
        out.setdefault(r["setting"], {}).setdefault(r["task"], {})[r["seed"]] = r
    return out


def _paired(claim, task, a_name, a, b_name, b, a_key=BEST, b_key=BEST) -> dict | None:
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    diffs = [a[s][a_key] - b[s][b_key] for s in seeds]
    mean, sd = mean_sd(diffs)
    return {
        "claim": claim,
        "task": task,
        "a": a_name,
        "b": b_name,
        "seeds": len(seeds),
        "mean_difference": mean,
        "sd": sd,
        "verdict": verdict(mean, sd),
    }


def comparisons(grid: Grid, table: list[dict]) -> list[dict]:
    """Paired over seeds (same seed: same initial model, same cohorts where the settings
    share them), on the test Recall@1 of FASSL's per-task pick unless said otherwise:
    federated against centralized (same method); each pair of methods under the same
    aggregation and partition (and centralized); FASSL's pick against the last round; each
    setting against the random-init and log-mel encoders."""
    by = _by_setting(table)
    settings = list(by)
    meta = {r["setting"]: r for r in table}
    out = []

    def add(row):
        if row is not None:
            out.append(row)

    for task in sorted({r["task"] for r in table}):
        for name in settings:
            m = meta[name]
            if m["mode"] == "federated":
                central = f"{m['method']}-centralized"
                if central in by:
                    add(_paired("federated - centralized", task, name, by[name][task], central,
                                by[central][task]))  # fmt: skip
        for i, a in enumerate(grid.methods):
            for b in grid.methods[i + 1 :]:
                for name in settings:
                    m = meta[name]
                    if m["method"] != a:
                        continue
                    other = name.replace(f"{a}-", f"{b}-", 1)
                    if other in by:
                        add(_paired(f"{a} - {b}", task, name, by[name][task], other,
                                    by[other][task]))  # fmt: skip
        for name in settings:
            runs = by[name][task]
            add(_paired("FASSL pick - last round", task, name, runs, name, runs, BEST, LAST))
            for label, key in BASELINES.items():
                add(_paired(f"minus {label}", task, name, runs, label, runs, BEST, key))
    return out


def markdown(grid: Grid, table: list[dict], compared: list[dict]) -> str:
    """Per setting and task: test Recall@1 of FASSL's pick and of the last round, mean ±
    standard deviation over seeds; then the paired comparisons."""
    tasks = sorted({r["task"] for r in table})
    by = _by_setting(table)
    seeds = sorted({r["seed"] for r in table})
    head = "| setting | " + " | ".join(f"{t}: FASSL pick | {t}: last" for t in tasks)
    lines = [
        f"# {grid.title}",
        "",
        f"Test Recall@1, mean ± standard deviation over seeds {seeds}, of the model FASSL "
        "selected per task (by selection-split Recall@1) and of the last round's model. "
        f"Command: `{grid.command}`",
        "",
        *(
            [f"Held equal between federated and centralized cells: {grid.held_equal}", ""]
            if grid.held_equal
            else []
        ),  # fmt: skip
        head + " | train / eval min (mean) |",
        "|---|" + "---|---|" * len(tasks) + "---|",
    ]
    for name, per_task in by.items():
        cols = []
        for t in tasks:
            runs = per_task[t].values()
            cols += [fmt([r[BEST] for r in runs]), fmt([r[LAST] for r in runs])]
        runs = list(next(iter(per_task.values())).values())
        train = np.mean([r["train_seconds"] for r in runs]) / 60
        evals = np.mean([r["eval_seconds"] for r in runs]) / 60
        lines.append(f"| {name} | " + " | ".join(cols) + f" | {train:.1f} / {evals:.1f} |")
    for label, key in BASELINES.items():
        cols = []
        for t in tasks:
            per_seed = {r["seed"]: r[key] for r in table if r["task"] == t}
            cols += [fmt(list(per_seed.values()))] * 2
        lines.append(f"| {label} | " + " | ".join(cols) + " | - |")
    lines += [
        "",
        "## Paired comparisons",
        "",
        "Each difference is taken within a seed (a - b), then averaged over seeds; "
        "**higher** / **lower**: the mean is beyond one standard deviation of the "
        "differences, else within their spread.",
        "",
        "| claim | task | a | b | seeds | a - b | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in compared:
        sd = "" if np.isnan(c["sd"]) else f" ± {c['sd']:.3f}"
        v = c["verdict"]
        v = f"**{v}**" if v in ("higher", "lower") else v
        lines.append(
            f"| {c['claim']} | {c['task']} | {c['a']} | {c['b']} | {c['seeds']} | "
            f"{c['mean_difference']:+.3f}{sd} | {v} |"
        )
    return "\n".join(lines) + "\n"


def plot(grid: Grid, workdir: str, summaries: dict[Cell, dict], table: list[dict]) -> list[str]:
    """recall_<task>.png: test Recall@1 against rounds, a line per setting (mean over seeds,
    band: min to max); grid.png: FASSL's pick and the last round per setting, bars at the
    mean with the seeds' standard deviation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in table})
    by = _by_setting(table)
    paths = []
    for task in tasks:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name in by:
            curves = {}
            for cell in summaries:
                if cell.setting != name:
                    continue
                records = read_metrics(os.path.join(workdir, cell.name, "metrics.jsonl"))
                for r in records:
                    if f"{task}/{METRIC}" in r:
                        curves.setdefault(r["round"], []).append(r[f"{task}/{METRIC}"])
            x = sorted(curves)
            ax.plot(x, [np.mean(curves[k]) for k in x], marker="o", label=name)
            ax.fill_between(x, [min(curves[k]) for k in x], [max(curves[k]) for k in x], alpha=0.15)
        ax.set(xlabel="round", ylabel=f"test {METRIC}", title=f"{grid.title}: {task}")
        ax.legend(fontsize=7)
        paths.append(_save(fig, os.path.join(workdir, f"recall_{task}.png")))
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.5), squeeze=False)
    names = list(by)
    for ax, task in zip(axes[0], tasks, strict=True):
        x = np.arange(len(names))
        for offset, key, label in ((-0.2, BEST, "FASSL pick"), (0.2, LAST, "last round")):
            stats = [mean_sd([r[key] for r in by[n][task].values()]) for n in names]
            ax.bar(x + offset, [m for m, _ in stats], 0.4, label=label,
                   yerr=[0 if np.isnan(sd) else sd for _, sd in stats], capsize=2)  # fmt: skip
        random_init = np.mean([r[BASELINES["random init"]] for r in table if r["task"] == task])
        ax.axhline(random_init, ls="--", c="gray", label="random init (mean)")
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


def run(
    grid: Grid, workdir: str, log=print, only: str = "", overrides: dict | None = None
) -> list[dict]:
    """only: train (and tabulate) just the cells whose name contains this text."""
    os.makedirs(workdir, exist_ok=True)
    summaries = {}
    todo = [c for c in cells(grid) if only in c.name]
    if not todo:
        raise UserError(f"no cell name contains {only!r}; e.g. {cells(grid)[0].name}")
    for i, cell in enumerate(todo):
        t0 = time.perf_counter()
        summaries[cell] = run_cell(grid, cell, workdir, overrides)
        log(f"[{i + 1}/{len(todo)}] {cell.name}: {time.perf_counter() - t0:.0f} s")
    table = rows(grid, summaries)
    compared = comparisons(grid, table)
    write_csv(os.path.join(workdir, "results.csv"), table)
    if compared:
        write_csv(os.path.join(workdir, "comparisons.csv"), compared)
    write_atomically(os.path.join(workdir, "results.md"), markdown(grid, table, compared))
    plot(grid, workdir, summaries, table)
    return table
