r"""The ratios table of gpu_check.sh's rows: per compute dtype and cohort, fassl_jax's round
(a) against the centralized reference (b) and the sequential loop (c): the faster (by median)
of the loop of jitted steps and the loop of one jitted scan per client, where both ran.

  python -m benchmarks.gpu_ratios OUT_DIR/gpu_rows.jsonl

A ratio is samples/s over samples/s from the median rounds; its range comes from the
fastest and slowest timed rounds of both sides. A target reads "met" only when the whole
range clears it, "missed" when the whole range falls short, else "within the spread".
"""

import json
import sys

TARGETS = {256: {"centralized": 0.8, "sequential": 10.0}}  # the GPU targets


def rate_range(row: dict) -> tuple[float, float, float]:
    """(samples/s at the slowest, median, fastest timed round)."""
    n = row["samples"]
    return n / row["round_s_max"], n / row["round_s"], n / row["round_s_min"]


def verdict(low: float, high: float, target: float) -> str:
    if low >= target:
        return "met"
    if high < target:
        return "missed"
    return "within the spread"


def table(rows: list[dict]) -> str:
    points: dict[tuple, dict] = {}
    errors = []
    for row in rows:
        if "error" in row:
            errors.append(f"- {row['dtype']}, cohort {row['cohort']}: {row['error']}")
            continue
        point = points.setdefault((row["dtype"], row["cohort"]), {})
        peer = "sequential" if row["peer"] == "sequential_scan" else row["peer"]
        if peer not in point or rate_range(row)[1] > rate_range(point[peer])[1]:
            point[peer] = row  # (c): the faster of the two sequential loops
    lines = [
        "| dtype | cohort | (a) samples/s | vs (b) centralized | vs (c) sequential | "
        "(a) peak device MB | target |",
        "|---|---:|---:|---|---|---:|---|",
    ]
    for (dtype, cohort), peers in points.items():
        ours = peers.get("fassl")
        if ours is None:
            continue
        a_low, a_mid, a_high = rate_range(ours)
        cells, verdicts = [], []
        for peer in ("centralized", "sequential"):
            if peer not in peers:
                cells.append("not measured")
                continue
            p_low, p_mid, p_high = rate_range(peers[peer])
            low, mid, high = a_low / p_high, a_mid / p_mid, a_high / p_low
            scan = " (scan per client)" if peers[peer]["peer"] == "sequential_scan" else ""
            cells.append(f"{mid:.2f}x ({low:.2f}-{high:.2f}){scan}")
            target = TARGETS.get(cohort, {}).get(peer)
            if target is not None:
                verdicts.append(f">= {target:g}x {peer}: {verdict(low, high, target)}")
        peak = ours.get("peak_device_mb")
        lines.append(
            f"| {dtype} | {cohort} | {a_mid:.1f} | {cells[0]} | {cells[1]} | "
            f"{'' if peak is None else peak} | {'; '.join(verdicts)} |"
        )
    return "\n".join(lines + ([""] + errors if errors else []))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
