r"""Plots and a markdown summary of a run (or of every run in a study's workdir).

  python -m fassl_jax.report --workdir=runs/quick
  python -m fassl_jax.report --workdir=runs/paper      # a study: one report per run

For a run it writes, into WORKDIR/report/: loss.png (training loss against rounds),
recall.png (test and select Recall@1 per task against rounds, FASSL's pick marked, the
baselines as lines), clients.png (clients per round that reported) and report.md (the
summary's numbers as a table).
"""

import json
import os
import sys

from absl import app, flags, logging

from fassl_jax import launch
from fassl_jax.errors import UserError

_WORKDIR = flags.DEFINE_string("workdir", None, "A run's workdir, or a study's.")

METRIC = "recall@1"


def _plot(path, fig):
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def report_run(workdir: str) -> list[str]:
    """Writes WORKDIR/report/*; returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fassl_jax.run_log import read_metrics

    records = read_metrics(os.path.join(workdir, "metrics.jsonl"))
    if not records:
        raise UserError(f"{workdir}/metrics.jsonl holds no round yet")
    summary_path = os.path.join(workdir, "summary.json")
    summary = None
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
    out = os.path.join(workdir, "report")
    os.makedirs(out, exist_ok=True)
    paths = []

    trained = [r for r in records if r.get("loss") is not None]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["round"] for r in trained], [r["loss"] for r in trained])
    ax.set(xlabel="round", ylabel="training loss (mean over clients)", title=workdir)
    paths.append(_plot(os.path.join(out, "loss.png"), fig))

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot([r["round"] for r in records], [r["clients"] for r in records], drawstyle="steps")
    ax.set(xlabel="round", ylabel="clients that reported", title=workdir)
    paths.append(_plot(os.path.join(out, "clients.png"), fig))

    scored = [r for r in records if "eval_seconds" in r]
    tasks = sorted(k.split("/")[1] for k in scored[0] if k.startswith("select/") and
                   k.endswith(f"/{METRIC}")) if scored else []  # fmt: skip
    if tasks:
        fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.5), squeeze=False)
        for ax, task in zip(axes[0], tasks, strict=True):
            x = [r["round"] for r in scored]
            ax.plot(x, [r[f"{task}/{METRIC}"] for r in scored], marker="o", label="test")
            ax.plot(x, [r[f"select/{task}/{METRIC}"] for r in scored], marker=".", ls=":",
                    label="select")  # fmt: skip
            if summary and task in summary["tasks"]:
                t = summary["tasks"][task]
                ax.plot([t["best_round"]], [t[f"best_test_{METRIC}"]], "r*", ms=12,
                        label="FASSL pick")  # fmt: skip
                for name, style in (("random_init", "--"), ("logmel", "-.")):
                    ax.axhline(t[name][METRIC], ls=style, c="gray", lw=1, label=name)
            ax.set(title=task, xlabel="round", ylabel=METRIC)
            ax.legend(fontsize=6)
        paths.append(_plot(os.path.join(out, "recall.png"), fig))

    lines = [f"# {workdir}", ""]
    if summary:
        lines += [
            f"{summary['rounds']} rounds; training {summary['seconds']['train'] / 60:.1f} min, "
            f"scoring {summary['seconds']['eval'] / 60:.1f} min.",
            "",
            "| task | FASSL pick (round) | last round | random init | log-mel | probe: pick / "
            "last / random / log-mel |",
            "|---|---|---|---|---|---|",
        ]
        if not summary["tasks"]:  # unlabelled audio: no table
            lines[-2:] = ["No labelled tasks (unlabelled audio): nothing was scored."]
        for task, t in summary["tasks"].items():
            probe = t.get("probe")
            probes = (" / ".join(f"{probe[n]['test']:.3f}" for n in
                                 ("selected", "model", "random_init", "logmel"))
                      if probe else "-")  # fmt: skip
            lines.append(
                f"| {task} | {t[f'best_test_{METRIC}']:.3f} ({t['best_round']}) | "
                f"{t[f'last_test_{METRIC}']:.3f} | {t['random_init'][METRIC]:.3f} | "
                f"{t['logmel'][METRIC]:.3f} | {probes} |"
            )
        if summary["tasks"]:
            lines += [
                "",
                "Test Recall@1; probe: linear-probe test accuracy (fassl_jax/eval/probe.py).",
            ]
    else:
        lines.append(f"Unfinished: {records[-1]['round']} rounds so far (no summary.json yet).")
    lines += ["", "![loss](loss.png)", ""]
    lines += ["![recall](recall.png)", ""] if tasks else []
    lines += ["![clients](clients.png)"]
    path = os.path.join(out, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return [*paths, path]


def report(workdir: str) -> list[str]:
    if not os.path.isdir(workdir):
        raise UserError(f"{workdir} does not exist; give a run's or a study's workdir")
    if os.path.exists(os.path.join(workdir, "metrics.jsonl")):
        return report_run(workdir)
    runs = sorted(d for d in os.listdir(workdir)
                  if os.path.exists(os.path.join(workdir, d, "metrics.jsonl")))  # fmt: skip
    if not runs:
        raise UserError(f"{workdir} holds no run (no metrics.jsonl in it or its folders)")
    paths = []
    for run in runs:
        paths += report_run(os.path.join(workdir, run))
    index = os.path.join(workdir, "report.md")
    with open(index, "w") as f:
        f.write("# Runs\n\n" + "\n".join(f"- [{r}]({r}/report/report.md)" for r in runs) + "\n")
    return [*paths, index]


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    if not _WORKDIR.value:
        raise UserError("--workdir is required")
    for path in report(_WORKDIR.value):
        print(path)


def cli():
    """The console script."""
    launch.run_cli(app, main, sys.argv, module="fassl_jax.report")


if __name__ == "__main__":
    cli()
