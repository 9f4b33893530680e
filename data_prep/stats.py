"""Per-client statistics of a corpus: sizes and label skew, as JSON and a PNG."""

import collections
import math

import numpy as np

from data_prep.rows import Row

SKEW_LABELS = ("word", "voice", "language", "family", "pitch", "category", "grapheme")


def _entropy_bits(counts) -> float:
    total = sum(counts)
    return -sum(c / total * math.log2(c / total) for c in counts if c)


def client_stats(rows: list[Row]) -> dict:
    """{"clients": {id: {size, source, domain, labels: {label: {distinct, top_share,
    entropy_bits}}}}, "summary": {...}} over the pretraining clips."""
    by_client = collections.defaultdict(list)
    for r in rows:
        if r.split == "pretrain":
            by_client[r.client].append(r)
    clients = {}
    for cid, members in sorted(by_client.items()):
        skew = {}
        for label in SKEW_LABELS:
            values = [m.labels[label] for m in members if m.labels.get(label)]
            if values:
                counts = collections.Counter(values).values()
                skew[label] = {
                    "distinct": len(counts),
                    "top_share": round(max(counts) / len(values), 4),
                    "entropy_bits": round(_entropy_bits(counts), 4),
                }
        clients[cid] = {
            "size": len(members),
            "source": members[0].source,
            "domain": members[0].domain,
            "labels": skew,
        }
    sizes = np.array([c["size"] for c in clients.values()])
    per_domain = collections.Counter(c["domain"] for c in clients.values())
    summary = {
        "clients": len(clients),
        "clips": int(sizes.sum()),
        "clients_per_domain": dict(sorted(per_domain.items())),
        "size_min": int(sizes.min()),
        "size_median": float(np.median(sizes)),
        "size_mean": round(float(sizes.mean()), 2),
        "size_max": int(sizes.max()),
        "size_gini": round(_gini(sizes), 4),
    }
    return {"summary": summary, "clients": clients}


def _gini(sizes: np.ndarray) -> float:
    s = np.sort(sizes).astype(np.float64)
    n = len(s)
    return float((2 * np.arange(1, n + 1) - n - 1) @ s / (n * s.sum()))


def plot(stats: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clients = stats["clients"].values()
    domains = sorted({c["domain"] for c in clients})
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    sizes = {d: [c["size"] for c in clients if c["domain"] == d] for d in domains}
    bins = np.logspace(0, np.log10(max(max(v) for v in sizes.values()) + 1), 30)
    ax1.hist(list(sizes.values()), bins=bins, stacked=True, label=domains)
    ax1.set_xscale("log")
    ax1.set(xlabel="clips per client", ylabel="clients", title="Client sizes")
    ax1.legend(fontsize=8)
    for label in SKEW_LABELS:
        top = [c["labels"][label]["top_share"] for c in clients if label in c["labels"]]
        if top:
            ax2.hist(top, bins=20, range=(0, 1), histtype="step", label=f"{label} ({len(top)})")
    ax2.set(xlabel="share of the client's most common value", ylabel="clients",
            title="Label skew per client, by task label")  # fmt: skip
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
