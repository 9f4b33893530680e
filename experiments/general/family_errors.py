r"""What the family task's misses are made of (select split): for the random-init encoder
and, given a run, its latest checkpoint, the share of queries whose nearest gallery note has
the query's pitch, how many misses are at the query's pitch (a timbre confusion at a fixed
pitch), and family Recall@1 when same-pitch notes are left out of the gallery.

  python experiments/general/family_errors.py --data_dir=data/general \
      [--workdir=runs/general_quick/federated_s0]
"""

import argparse

import encoders as encoders_lib  # experiments/general/encoders.py, beside this script
import numpy as np


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data_dir", required=True)
    p.add_argument("--workdir", default="", help="a run of configs/general.py (optional)")
    args = p.parse_args()
    from fassl_jax.eval import retrieval

    data, embed, encoders = encoders_lib.load("quick", args.data_dir, args.workdir)
    family, pitch = data.tasks["family"], data.tasks["pitch"]
    ids, labels = family.queries["select"]
    assert np.array_equal(family.gallery, pitch.gallery)  # one gallery, two labellings
    assert np.array_equal(ids, pitch.queries["select"][0])
    query_pitch = pitch.queries["select"][1]
    same_pitch = pitch.gallery_labels[None, :] == query_pitch[:, None]  # [Q, G]
    print("| encoder | family R@1 | nearest has the query's pitch | misses at the query's "
          "pitch | family R@1 without same-pitch notes |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name, variables in encoders.items():
        g = retrieval.embed_in_batches(embed, variables, data.eval_clips[family.gallery], 256)
        q = retrieval.embed_in_batches(embed, variables, data.eval_clips[ids], 256)
        sim = np.asarray(retrieval.cosine_similarity(q, g))
        nearest = sim.argmax(axis=1)
        hit = family.gallery_labels[nearest] == labels
        at_pitch = same_pitch[np.arange(len(ids)), nearest]
        other = np.where(same_pitch, -np.inf, sim).argmax(axis=1)
        print(f"| {name} | {hit.mean():.3f} | {at_pitch.mean():.3f} | "
              f"{int((at_pitch & ~hit).sum())} of {int((~hit).sum())} | "
              f"{(family.gallery_labels[other] == labels).mean():.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
