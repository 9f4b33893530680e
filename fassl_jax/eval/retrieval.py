"""Retrieval evaluation of a frozen encoder: cosine kNN, Recall@k (as in VCOP and FedVSSL).

A query is a hit at k when any of its k nearest gallery items shares its label.
"""

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


def cosine_similarity(queries: jax.Array, gallery: jax.Array) -> jax.Array:
    """[Q, D], [G, D] -> [Q, G]."""
    q = queries / jnp.linalg.norm(queries, axis=-1, keepdims=True).clip(1e-12)
    g = gallery / jnp.linalg.norm(gallery, axis=-1, keepdims=True).clip(1e-12)
    return q @ g.T


def recall_at_k(
    sim: np.ndarray,
    query_labels: np.ndarray,
    gallery_labels: np.ndarray,
    ks: Sequence[int],
    exclude_self: bool = False,
) -> dict[str, float]:
    """Recall@k for each k from a [Q, G] similarity matrix, with ties broken at random in
    expectation: when several gallery items share the k-th similarity, a query scores the
    probability that a uniformly random order of the tied items puts a same-label one in its
    top k. (A fixed tie order would favour whichever label comes first: a collapsed encoder,
    all similarities equal, would score 1 on that label and 0 on the rest.)

    exclude_self: queries are the gallery (leave-one-out), so item i never retrieves itself.
    """
    sim = np.array(sim, dtype=np.float64)
    sim[~np.isfinite(sim)] = -np.inf  # a broken (NaN) embedding is as far as can be
    if exclude_self:
        np.fill_diagonal(sim, -np.inf)
    num_items = sim.shape[1] - int(exclude_self)
    same = gallery_labels[None, :] == query_labels[:, None]  # [Q, G]
    descending = -np.sort(-sim, axis=1)
    out = {}
    for name in ks:
        k = min(name, num_items)
        kth = descending[:, k - 1 : k]  # [Q, 1]: the k-th similarity
        above, tied = sim > kth, sim == kth
        if exclude_self:
            np.fill_diagonal(tied, False)  # -inf ties only when k reaches past the gallery
        hit_above = (above & same).any(axis=1)
        slots = k - above.sum(axis=1)  # >= 1: drawn from the tied items
        num_tied, tied_hits = tied.sum(axis=1), (tied & same).sum(axis=1)
        # P(no hit among `slots` of num_tied drawn without replacement) = C(m - h, r) / C(m, r)
        miss = np.ones(len(sim))
        for i in range(int(slots.max(initial=0))):
            active = i < slots
            factor = (num_tied - tied_hits - i) / np.maximum(num_tied - i, 1)
            miss = np.where(active, miss * np.clip(factor, 0.0, 1.0), miss)
        out[f"recall@{name}"] = float(np.where(hit_above, 1.0, 1.0 - miss).mean())
    return out


def embed_in_batches(embed_fn, variables, clips: np.ndarray, batch_size: int) -> np.ndarray:
    """embed_fn over fixed-size batches (the last one zero-padded): one compilation."""
    out = []
    for start in range(0, len(clips), batch_size):
        chunk = np.asarray(clips[start : start + batch_size], np.float32)
        padded = np.pad(chunk, [(0, batch_size - len(chunk))] + [(0, 0)] * (chunk.ndim - 1))
        out.append(np.asarray(embed_fn(variables, padded))[: len(chunk)])
    return np.concatenate(out)


class RetrievalData(NamedTuple):
    """Queries and gallery, labelled once per task. gallery None: leave-one-out on queries."""

    queries: np.ndarray  # [Q, T, F]
    query_labels: dict[str, np.ndarray]
    gallery: np.ndarray | None  # [G, T, F]
    gallery_labels: dict[str, np.ndarray] | None


class Evaluator:
    """Embeds queries and gallery once per call, then scores every task.

    embed_fn(variables, clips [B, T, F]) -> [B, D]; it is jitted for one batch size.
    """

    def __init__(
        self,
        embed_fn: Callable[[Any, jax.Array], jax.Array],
        data: RetrievalData,
        ks: Sequence[int] = (1, 5, 10, 20, 50),
        batch_size: int = 256,
    ):
        self.embed_fn = jax.jit(embed_fn)
        self.data = data
        self.ks = tuple(ks)
        self.batch_size = batch_size

    def embed(self, variables, clips: np.ndarray) -> np.ndarray:
        return embed_in_batches(self.embed_fn, variables, clips, self.batch_size)

    def run(self, variables) -> dict[str, dict[str, float]]:
        d = self.data
        queries = self.embed(variables, d.queries)
        loo = d.gallery is None
        gallery = queries if loo else self.embed(variables, d.gallery)
        gallery_labels = d.query_labels if loo else d.gallery_labels
        return self._score(queries, d.query_labels, gallery, gallery_labels, loo)

    def _score(self, queries, query_labels, gallery, gallery_labels, loo=False):
        sim = np.asarray(cosine_similarity(queries, gallery))
        return {
            task: recall_at_k(sim, labels, gallery_labels[task], self.ks, exclude_self=loo)
            for task, labels in query_labels.items()
        }


class TaskEvaluator:
    """Tasks with their own galleries and query splits over one array of clips (see
    fassl_jax.data.datasets): each clip a call needs is embedded once, however many tasks
    share it, then each task's queries are ranked against its own gallery.

    run(variables) -> {split: {task: {"recall@k": ...}}}
    """

    def __init__(
        self, embed_fn, clips: np.ndarray, tasks: dict, ks=(1, 5, 10, 20, 50), batch_size=256
    ):
        self.embed_fn = jax.jit(embed_fn)
        self.clips, self.tasks = clips, tasks
        self.ks, self.batch_size = tuple(ks), batch_size

    def _embeddings(self, variables, splits, tasks):
        """Each clip the tasks' galleries and these splits' queries need, embedded once:
        (embeddings, row of each clip index in them)."""
        if not tasks:  # unlabelled audio: nothing to embed
            return None, None
        parts = [self.tasks[t].gallery for t in tasks]
        parts += [self.tasks[t].queries[s][0] for t in tasks for s in splits]
        needed = np.unique(np.concatenate(parts))
        row = np.zeros(len(self.clips), np.int64)
        row[needed] = np.arange(len(needed))
        emb = embed_in_batches(self.embed_fn, variables, self.clips[needed], self.batch_size)
        return emb, row

    def run(self, variables, splits: Sequence[str] = ("select", "test"), tasks=None):
        """Recall@k per split and task (tasks: a subset, default all)."""
        tasks = list(self.tasks) if tasks is None else list(tasks)
        emb, row = self._embeddings(variables, splits, tasks)
        out = {split: {} for split in splits}
        for name in tasks:
            task = self.tasks[name]
            gallery = emb[row[task.gallery]]
            for split in splits:
                ids, labels = task.queries[split]
                sim = np.asarray(cosine_similarity(emb[row[ids]], gallery))
                out[split][name] = recall_at_k(sim, labels, task.gallery_labels, self.ks)
        return out

    def probe(self, variables, splits: Sequence[str] = ("select", "test"), tasks=None):
        """Linear-probe accuracy per split and task (eval/probe.py): fit on the gallery."""
        from fassl_jax.eval.probe import linear_probe

        tasks = list(self.tasks) if tasks is None else list(tasks)
        emb, row = self._embeddings(variables, splits, tasks)
        out = {split: {} for split in splits}
        for name in tasks:
            task = self.tasks[name]
            tests = {s: (emb[row[task.queries[s][0]]], task.queries[s][1]) for s in splits}
            accuracy = linear_probe(emb[row[task.gallery]], task.gallery_labels, tests)
            for split in splits:
                out[split][name] = accuracy[split]
        return out


def windowed(embed_fn, window: int, hop: int):
    """embed_fn on every `window`-frame stretch of a clip (starting every `hop` frames),
    averaged: scores an encoder on clips of the length it trained on (ACOP's sub-clips)."""

    def embed(variables, clips):  # [B, T, F]
        b, t, f = clips.shape
        if window > t:
            raise ValueError(f"eval.window_frames={window} exceeds the clips' {t} frames")
        starts = np.arange(0, t - window + 1, hop)
        frames = starts[:, None] + np.arange(window)  # [W, window], static
        windows = clips[:, frames].reshape(b * len(starts), window, f)
        return embed_fn(variables, windows).reshape(b, len(starts), -1).mean(axis=1)

    return embed


def mean_log_mel(mean: float, std: float) -> Callable[[Any, jax.Array], jax.Array]:
    """The log-mel baseline: standardised log-mel averaged over time. Ignores variables."""

    def embed(variables, clips):
        del variables
        return ((clips - mean) / std).mean(axis=1)

    return embed
