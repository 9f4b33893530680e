"""Rebuilds RESULTS.md's generated tables from benchmarks/results/*.json.

Each results file fills the block between `<!-- begin NAME -->` and `<!-- end NAME -->`
(appended at the end when RESULTS.md has no such block); the prose around the blocks is
written by hand and kept.

  python -m benchmarks.report
"""

import glob
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_MD = os.path.join(HERE, "RESULTS.md")

PEER_NAMES = {
    "fassl": "(a) fassl_jax round",
    "centralized": "(b) centralized (reference)",
    "sequential": "(c) sequential jitted loop",
    "sequential_scan": "(c') sequential, one jitted scan per client",
    "flower": "(d) Flower simulation",
}


def _used(m: dict) -> str:
    """The cores the run was pinned to, and XLA flags, where the results file records them."""
    out = f" (run on {m['cores_used']})" if "cores_used" in m else ""
    return out + (f", XLA_FLAGS `{m['xla_flags']}`" if m.get("xla_flags") else "")


def _header(run: dict) -> list[str]:
    m = run["machine"]
    return [
        f"`{run['command']}` — {run['date']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores{_used(m)}, {m['memory_gb']} GB, {m['devices']} "
        f"({m['backend']}); Python {m['python']}, jax {m['jax']}, flax {m['flax']}, "
        f"optax {m['optax']}; malloc: {m['malloc']}.",
        "",
    ]


def throughput_table(run: dict) -> list[str]:
    w = run["workload"]
    lines = _header(run) + [
        f"Workload: SimCLR, encoder `{w['encoder']}` (channels {w['channels']}, "
        f"embedding {w['embed_dim']}), 1 s log-mels cropped to {w['crop_frames']} frames, "
        f"{w['local_steps']} local steps of batch {w['batch_size']}, client sizes log-normal "
        f"(mean {w['clips_per_client']:g} clips, sigma {w['size_sigma']:g}). Median of the "
        "timed rounds; the first round (compilation) apart.",
        "",
        "| cohort | peer | samples/round | round s (median) | samples/s | vs (a) | first round s |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    by_cohort = {}
    for row in run["rows"]:
        by_cohort.setdefault(row["cohort"], {})[row["peer"]] = row
    for cohort, rows in by_cohort.items():
        ours = rows.get("fassl")
        for peer, row in rows.items():
            if "error" in row:
                error = row["error"][:160].replace("|", "\\|")
                lines.append(f"| {cohort} | {PEER_NAMES.get(peer, peer)} | failed: {error} "
                             "| | | | |")  # fmt: skip
                continue
            ratio = f"{ours['samples_per_s'] / row['samples_per_s']:.2f}x" if ours else ""
            lines.append(
                f"| {cohort} | {PEER_NAMES.get(peer, peer)} | {row['samples']} | "
                f"{row['round_s']:.4g} | {row['samples_per_s']:.1f} | "
                f"{'' if peer == 'fassl' else ratio} | {row['first_round_s']:.3g} |"
            )
    lines += ["", "`vs (a)`: (a)'s samples/s over this peer's (above 1: fassl_jax is faster)."]
    return lines


def uneven_table(run: dict) -> list[str]:
    w, info = run["workload"], run["info"]
    lines = _header(run) + [
        f"Workload: SimCLR, AudioNTT2020 {w['channels']} ch (embedding {w['embed_dim']}), "
        f"cohort {run['rows'][0]['cohort']} of {info['clients']} clients with {info['sizes']}: "
        f"median {info['size_median']:g} clips, max {info['size_max']}; one local epoch in "
        f"batches of {w['batch_size']}, so {info['steps_median']:g} steps at the median, "
        f"{info['steps_max']} at most. samples/s per timed round (median, min-max), the "
        "first round (compilation) apart.",
        "",
        "| peer | timed rounds | samples/round (mean) | samples/s median | min-max | "
        "(a) median over this | first round s |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    ours = next((r for r in run["rows"] if r["peer"] == "fassl"), None)
    for row in run["rows"]:
        ratio = (
            ""
            if row["peer"] == "fassl" or not ours
            else (f"{ours['samples_per_s'] / row['samples_per_s']:.2f}x")
        )
        lines.append(
            f"| {PEER_NAMES.get(row['peer'], row['peer'])} | {row['rounds']} | "
            f"{row['samples_per_round']:g} | {row['samples_per_s']:.1f} | "
            f"{row['samples_per_s_min']:.1f}-{row['samples_per_s_max']:.1f} | {ratio} | "
            f"{row['first_round_s']:.3g} |"
        )
    return lines


def generic_table(run: dict) -> list[str]:
    rows = run["rows"]
    keys = [k for k in rows[0] if not isinstance(rows[0][k], list) and k != "bench"]
    lines = _header(run) + ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(k, "")) for k in keys) + " |")
    return lines


def block(name: str, run: dict) -> str:
    table = (
        throughput_table
        if name.startswith("throughput")
        else uneven_table
        if name.startswith("uneven")
        else generic_table
    )
    return "\n".join([f"<!-- begin {name} -->", *table(run), f"<!-- end {name} -->"])


def write() -> None:
    text = "# Benchmark results\n"
    if os.path.exists(RESULTS_MD):
        with open(RESULTS_MD) as f:
            text = f.read()
    for path in sorted(glob.glob(os.path.join(HERE, "results", "*.json"))):
        name = os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
            new = block(name, json.load(f))
        pattern = re.compile(
            rf"<!-- begin {re.escape(name)} -->.*?<!-- end {re.escape(name)} -->", re.S
        )
        if pattern.search(text):
            text = pattern.sub(lambda _, new=new: new, text)
        else:
            text = text.rstrip("\n") + f"\n\n### {name}\n\n{new}\n"
    with open(RESULTS_MD, "w") as f:
        f.write(text)


if __name__ == "__main__":
    write()
