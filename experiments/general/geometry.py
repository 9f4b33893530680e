r"""Is it the embedding's geometry that ranks the trained encoder's family neighbours below
the random encoder's? Select split only: Recall@1 with raw cosine (the project's protocol),
after centring on the gallery mean, and after standardising each dimension by the gallery;
and how anisotropic each gallery is (mean pairwise cosine of 500 gallery clips, the share
of the gallery's variance along its first principal direction).

  python experiments/general/geometry.py --data_dir=data/general \
      --workdir=runs/general/federated_s0
"""

import argparse

import encoders as encoders_lib  # experiments/general/encoders.py, beside this script
import numpy as np

TASKS = ("family", "pitch", "word", "voice")


def recall_at_1(queries, gallery, query_labels, gallery_labels) -> float:
    def unit(z):
        return z / np.linalg.norm(z, axis=1, keepdims=True)

    nearest = (unit(queries) @ unit(gallery).T).argmax(axis=1)
    return float((gallery_labels[nearest] == query_labels).mean())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data_dir", required=True)
    p.add_argument("--workdir", required=True, help="a run of configs/general.py")
    args = p.parse_args()
    from fassl_jax.eval import retrieval

    data, embed, encoders = encoders_lib.load(
        "full", args.data_dir, args.workdir, "trained (latest)"
    )
    print("| task | encoder | raw cosine | centred | standardised | mean cosine | first PC |")
    print("|---|---|---|---|---|---|---|")
    for task in TASKS:
        t = data.tasks[task]
        ids, labels = t.queries["select"]
        for name, variables in encoders.items():
            g = np.asarray(
                retrieval.embed_in_batches(embed, variables, data.eval_clips[t.gallery], 256)
            )
            q = np.asarray(retrieval.embed_in_batches(embed, variables, data.eval_clips[ids], 256))
            mean, sd = g.mean(0), g.std(0) + 1e-6
            unit = g[:500] / np.linalg.norm(g[:500], axis=1, keepdims=True)
            s = np.linalg.svd(g - mean, compute_uv=False) ** 2
            scores = [
                recall_at_1(q, g, labels, t.gallery_labels),
                recall_at_1(q - mean, g - mean, labels, t.gallery_labels),
                recall_at_1((q - mean) / sd, (g - mean) / sd, labels, t.gallery_labels),
            ]
            print(f"| {task} | {name} | " + " | ".join(f"{x:.3f}" for x in scores)
                  + f" | {float((unit @ unit.T).mean()):.3f} | {s[0] / s.sum():.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
