r"""What the family task's misses are made of (select split): for the random-init encoder
and, given a run, its latest checkpoint, the share of queries whose nearest gallery note has
the query's pitch, how many misses are at the query's pitch (a timbre confusion at a fixed
pitch), and family Recall@1 when same-pitch notes are left out of the gallery.

  python experiments/general/family_errors.py --data_dir=data/general \
      [--workdir=runs/general_quick/federated_s0]
"""

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # the repository root

from configs import general  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data_dir", required=True)
    p.add_argument("--workdir", default="", help="a run of configs/general.py (optional)")
    args = p.parse_args()
    import jax

    from fassl_jax import build, train
    from fassl_jax.checkpoints import Checkpointer
    from fassl_jax.eval import retrieval
    from fassl_jax.models.heads import encoder_variables

    c = general.get_config("quick")
    c.data.dir = args.data_dir
    data = train.load_dataset(c)
    method = build.build_method(c, data.input_mean, data.input_std, per_client_kernels=False)
    _, server_tx, aggregator = build.build_optimizers(c)
    state = build.init_state(c, method, server_tx, aggregator)
    encoders = {"random init": encoder_variables({"params": state.params, **state.model_state})}
    if args.workdir:
        restored, _, _ = Checkpointer(args.workdir).restore(state)
        encoders[f"{args.workdir} (latest)"] = encoder_variables(
            {"params": restored.params, **restored.model_state}
        )
    family, pitch = data.tasks["family"], data.tasks["pitch"]
    ids, labels = family.queries["select"]
    assert np.array_equal(family.gallery, pitch.gallery)  # one gallery, two labellings
    assert np.array_equal(ids, pitch.queries["select"][0])
    query_pitch = pitch.queries["select"][1]
    same_pitch = pitch.gallery_labels[None, :] == query_pitch[:, None]  # [Q, G]
    embed = jax.jit(lambda v, x: method.model.encoder.apply(v, x, train=False))
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
