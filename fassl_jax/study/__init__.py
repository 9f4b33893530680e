r"""A study: a grid of runs (SSL method x aggregation x partition x federated/centralized) with
one command, and its tables and plots.

  python -m fassl_jax.study --grid=configs/studies/paper.py --workdir=runs/paper

Each cell runs once per seed (3 by default) into WORKDIR/<cell>-s<seed>; a run whose
summary.json exists is skipped and an interrupted one resumes from its checkpoint, so
rerunning the command finishes the study. Then WORKDIR gets results.csv (one row per run
and task), results.md (per task, mean and standard deviation over seeds; the claims pooled;
paired comparisons: each difference taken within a seed, then its mean, standard deviation
and 95% t-interval over seeds), claims.csv, comparisons.csv, and PNG plots (test Recall@1
per task against rounds; the grid as bars with the seeds' spread).

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
    # For the claims' summaries (claims()): tasks by kind, e.g. (("semantic", ("word",)),),
    # and the methods that are predictive (the rest: feature matching).
    task_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    predictive: tuple[str, ...] = ()


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


def rows(grid: Grid, summaries: dict[Cell, dict], workdir: str = "") -> list[dict]:
    """One row per run (cell and seed) and task; with the workdir, also the best test score
    over the run's scored rounds (what a pick that knew the test split would get)."""
    out = []
    for cell, s in summaries.items():
        records = []
        if workdir and s["tasks"]:
            records = read_metrics(os.path.join(workdir, cell.name, "metrics.jsonl"))
        for task, t in s["tasks"].items():
            scored = [r[f"{task}/{METRIC}"] for r in records if f"{task}/{METRIC}" in r]
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
                    ORACLE: max(scored) if scored else float("nan"),
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
ORACLE = f"oracle_test_{METRIC}"  # the best test score over the scored rounds
BASELINES = {"random init": f"random_init_{METRIC}", "log-mel": f"logmel_{METRIC}"}


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (nan for one value)."""
    v = np.asarray(values, np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan")


def fmt(values) -> str:
    mean, sd = mean_sd(values)
    return f"{mean:.3f}" if np.isnan(sd) else f"{mean:.3f} ± {sd:.3f}"


def interval(mean: float, sd: float, n: int) -> tuple[float, float]:
    """The 95% t-interval of a mean over n seeds (nan for one seed)."""
    if n < 2 or np.isnan(sd):
        return float("nan"), float("nan")
    from scipy import stats

    half = float(stats.t.ppf(0.975, n - 1)) * sd / np.sqrt(n)
    return mean - half, mean + half


def verdict(mean: float, sd: float, n: int) -> str:
    """A difference counts only when its 95% t-interval over the seeds excludes zero (one
    standard deviation would flag about one null difference in five at 3 seeds)."""
    if n < 2 or np.isnan(sd):
        return "one seed"
    low, high = interval(mean, sd, n)
    if low > 0:
        return "higher"
    if high < 0:
        return "lower"
    return "within interval"


def _summary(diffs) -> dict:
    mean, sd = mean_sd(diffs)
    low, high = interval(mean, sd, len(diffs))
    return {"seeds": len(diffs), "mean_difference": mean, "sd": sd, "ci_low": low,
            "ci_high": high, "verdict": verdict(mean, sd, len(diffs))}  # fmt: skip


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
    return {"claim": claim, "task": task, "a": a_name, "b": b_name, **_summary(diffs)}


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


def claims(grid: Grid, table: list[dict]) -> list[dict]:
    """The paper's claims, each pooled within a seed, then summarised over the seeds where
    every setting it pools has finished:
    - federated - centralized, per method and task: the mean over the method's federated
      settings (aggregation x partition) of FASSL's pick minus the centralized cell's;
    - predictive - feature matching, per group of tasks (grid.task_groups) and mode: each
      setting's gain of FASSL's pick over its own random init (scored as that method is
      scored), averaged over the group's tasks; the predictive methods' mean minus the
      feature-matching methods', within each federated setting, then over them;
    - FASSL pick - last round, and best round - FASSL pick (the best test score over the
      scored rounds), per federated setting (and centralized) and task: the mean over
      methods."""
    by = {(r["setting"], r["task"], r["seed"]): r for r in table}
    seeds = sorted({r["seed"] for r in table})
    tasks = sorted({r["task"] for r in table})
    out = []

    class Missing(Exception):
        """A run the pooled difference needs has not finished (or has no such score)."""

    def pooled(claim, subject, task, value):
        """value(seed) -> the seed's pooled difference; seeds missing a run are left out."""
        diffs = []
        for seed in seeds:
            try:
                diffs.append(float(value(seed)))
            except Missing:
                continue
        if diffs:
            out.append({"claim": claim, "subject": subject, "task": task, **_summary(diffs)})

    def score(setting, task, seed, key=BEST):
        if (setting, task, seed) not in by or np.isnan(by[setting, task, seed][key]):
            raise Missing
        return by[setting, task, seed][key]

    fed_settings = [(a, p) for a in grid.aggregators for p in grid.partitions]
    modes = {m: [] for m in grid.modes}
    if "federated" in modes:
        modes["federated"] = [f"-{a}-{p}" for a, p in fed_settings]
    if "centralized" in modes:
        modes["centralized"] = ["-centralized"]
    if "federated" in modes and "centralized" in modes:
        for method in grid.methods:
            for task in tasks:
                pooled("federated - centralized", f"{method} (mean over federated settings)", task,
                       lambda s, m=method, t=task: np.mean(
                           [score(m + suffix, t, s) - score(f"{m}-centralized", t, s)
                            for suffix in modes["federated"]]))  # fmt: skip
    feature_matching = [m for m in grid.methods if m not in grid.predictive]
    if grid.predictive and feature_matching:

        def gain(method, suffix, group_tasks, seed):
            return np.mean([score(method + suffix, t, seed) - score(method + suffix, t, seed,
                            f"random_init_{METRIC}") for t in group_tasks])  # fmt: skip

        for group, group_tasks in grid.task_groups:
            # A group's tasks that this study has none of (a corpus built without FSDD):
            # the claim is pooled over the rest, and says so.
            absent = [t for t in group_tasks if t not in tasks]
            group_tasks = tuple(t for t in group_tasks if t in tasks)
            if not group_tasks:
                continue
            if absent:
                group = f"{group} (without {', '.join(absent)})"
            for mode, suffixes in modes.items():
                pooled("predictive - feature matching (gain over random init)",
                       f"{mode} ({', '.join(grid.predictive)} vs {', '.join(feature_matching)})",
                       group, lambda s, sx=suffixes, g=group_tasks: np.mean(
                           [np.mean([gain(m, x, g, s) for m in grid.predictive])
                            - np.mean([gain(m, x, g, s) for m in feature_matching])
                            for x in sx]))  # fmt: skip
    for suffixes in modes.values():
        for suffix in suffixes:
            subject = suffix.strip("-") + " (mean over methods)"
            for task in tasks:
                for claim, a, b in (("FASSL pick - last round", BEST, LAST),
                                    ("best round - FASSL pick", ORACLE, BEST)):  # fmt: skip
                    pooled(
                        claim,
                        subject,
                        task,
                        lambda s, x=suffix, t=task, a=a, b=b: np.mean(
                            [score(m + x, t, s, a) - score(m + x, t, s, b) for m in grid.methods]
                        ),
                    )
    return out


def _difference(c: dict) -> tuple[str, str, str]:
    """(a - b with its sd, the 95% interval, the verdict) as table cells."""
    sd = "" if np.isnan(c["sd"]) else f" ± {c['sd']:.3f}"
    ci = "" if np.isnan(c["ci_low"]) else f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]"
    v = c["verdict"]
    return f"{c['mean_difference']:+.3f}{sd}", ci, f"**{v}**" if v in ("higher", "lower") else v


def markdown(
    grid: Grid,
    table: list[dict],
    compared: list[dict],
    claimed: list[dict] = (),
    overrides: dict | None = None,
) -> str:
    """Per setting and task: test Recall@1 of FASSL's pick and of the last round, mean ±
    standard deviation over seeds; the claims pooled (claims()); the paired comparisons."""
    tasks = sorted({r["task"] for r in table})
    by = _by_setting(table)
    seeds = sorted({r["seed"] for r in table})
    head = "| setting | " + " | ".join(f"{t}: FASSL pick | {t}: last" for t in tasks)
    settings_line = ", ".join(f"{k}={v}" for k, v in (overrides or {}).items())
    lines = [
        f"# {grid.title}",
        "",
        f"Test Recall@1, mean ± standard deviation over seeds {seeds}, of the model FASSL "
        "selected per task (by selection-split Recall@1) and of the last round's model. "
        f"Command: `{grid.command}`" + (f", with {settings_line}" if settings_line else ""),
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
        # A baseline is scored as each method scores its encoder (ACOP: on windows): one
        # row when every method's agree, else a row per method.
        per_method = {}
        for r in table:
            per_method.setdefault(r["method"], {})[r["task"], r["seed"]] = r[key]
        shared = set.intersection(*(set(v) for v in per_method.values())) if table else set()
        agree = all(
            np.allclose(
                [v[k] for k in sorted(shared)], [w[k] for k in sorted(shared)], equal_nan=True
            )  # fmt: skip
            for v in per_method.values()
            for w in per_method.values()
        )

        def by_task(values):
            out = {}
            for (task, seed), v in values.items():
                out.setdefault(task, {})[seed] = v
            return out

        groups = [(label, by_task({k: v for m in per_method.values() for k, v in m.items()}))]
        if not agree:
            groups = [(f"{label} ({m})", by_task(v)) for m, v in per_method.items()]
        for row_label, per_task in groups:
            cols = []
            for t in tasks:
                cols += [fmt(list(per_task.get(t, {}).values()) or [float("nan")])] * 2
            lines.append(f"| {row_label} | " + " | ".join(cols) + " | - |")
    rule = ("Each difference is taken within a seed (a - b, or the pooled difference the claim "
            "names), then averaged over seeds; 95% CI: the t-interval of that mean; "
            "**higher** / **lower**: the interval excludes zero.")  # fmt: skip
    if claimed:
        lines += ["", "## The claims, pooled", "", rule, "",
                  "| claim | over | task | seeds | difference | 95% CI | verdict |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for c in claimed:
            diff, ci, v = _difference(c)
            lines.append(f"| {c['claim']} | {c['subject']} | {c['task']} | {c['seeds']} | "
                         f"{diff} | {ci} | {v} |")  # fmt: skip
    lines += [
        "",
        "## Paired comparisons",
        "",
        rule,
        "",
        "| claim | task | a | b | seeds | a - b | 95% CI | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in compared:
        diff, ci, v = _difference(c)
        lines.append(
            f"| {c['claim']} | {c['task']} | {c['a']} | {c['b']} | {c['seeds']} | "
            f"{diff} | {ci} | {v} |"
        )
    return "\n".join(lines) + "\n"


def plot(grid: Grid, workdir: str, summaries: dict[Cell, dict], table: list[dict]) -> list[str]:
    """recall_<task>.png: test Recall@1 against rounds, a line per setting (mean over seeds,
    band: min to max); grid.png: FASSL's pick and the last round per setting, bars at the
    mean with the seeds' standard deviation, each setting's random init dashed."""
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
        # Each setting's own random init (scored as its method scores: ACOP on windows).
        inits = [np.mean([r[BASELINES["random init"]] for r in by[n][task].values()])
                 for n in names]  # fmt: skip
        ax.hlines(inits, x - 0.45, x + 0.45, colors="k", linestyles="--", label="random init")
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
    table = rows(grid, summaries, workdir)
    compared, claimed = comparisons(grid, table), claims(grid, table)
    write_csv(os.path.join(workdir, "results.csv"), table)
    if compared:
        write_csv(os.path.join(workdir, "comparisons.csv"), compared)
    if claimed:
        write_csv(os.path.join(workdir, "claims.csv"), claimed)
    text = markdown(grid, table, compared, claimed, overrides)
    write_atomically(os.path.join(workdir, "results.md"), text)
    plot(grid, workdir, summaries, table)
    return table
