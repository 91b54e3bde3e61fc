"""Retrieval metrics (R@K, median / mean rank) and the InternVideo2 ITM re-ranking protocol.

Conventions
-----------
* ``sim`` is ``(num_queries, num_items)``; larger is better.
* Ground truth is one collection of item indices per query (several are allowed: a video with
  several captions). A query's **rank** is the 1-based rank of its best-ranked ground-truth item.
* **Ties are pessimistic** (default): every non-ground-truth item whose score equals or beats the
  best ground-truth score counts as ranked before it, so
  ``rank = 1 + #{j not in gt : sim[j] >= max(sim[gt])}``. ``ties="optimistic"`` counts only
  strictly better items. Either way the result does not depend on sort order, so it is
  deterministic. (The official code uses ``argsort``, whose tie order is arbitrary.)
* Recalls are percentages (``100 * fraction``), as reported in papers; ``medr`` / ``meanr`` are ranks.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Literal

import torch
from torch import Tensor

Ties = Literal["pessimistic", "optimistic"]
GroundTruth = Sequence[Collection[int]] | Sequence[int] | Tensor

__all__ = [
    "dual_softmax",
    "gt_from_labels",
    "invert_ground_truth",
    "itm_rerank",
    "rank_metrics",
    "retrieval_metrics",
    "retrieval_ranks",
    "video_text_retrieval_metrics",
]


def _gt_mask(gt: GroundTruth, shape: tuple[int, int], device: torch.device) -> Tensor:
    """Boolean ``(Q, N)`` mask of ground-truth pairs; each query needs at least one valid item."""
    q, n = shape
    if isinstance(gt, Tensor):
        gt = gt.tolist()
    if len(gt) != q:
        raise ValueError(f"ground truth has {len(gt)} entries for {q} queries")
    mask = torch.zeros(q, n, dtype=torch.bool)
    for i, items in enumerate(gt):
        idx = [items] if isinstance(items, int) else list(items)
        if not idx:
            raise ValueError(f"query {i} has no ground-truth item")
        bad = [j for j in idx if not 0 <= int(j) < n]
        if bad:
            raise ValueError(f"query {i}: ground-truth items {bad} are outside [0, {n})")
        mask[i, idx] = True
    return mask.to(device)


def retrieval_ranks(sim: Tensor, gt: GroundTruth, ties: Ties = "pessimistic") -> Tensor:
    """1-based rank of the best-ranked ground-truth item of every query, ``(Q,)`` int64.

    ``gt`` holds one item index or a collection of indices per query.
    """
    if sim.dim() != 2:
        raise ValueError(f"sim must be (num_queries, num_items), got shape {tuple(sim.shape)}")
    if torch.isnan(sim).any():
        raise ValueError("sim contains NaN; ranks would be undefined")
    if ties not in ("pessimistic", "optimistic"):
        raise ValueError(f"ties must be 'pessimistic' or 'optimistic', got {ties!r}")
    sim = sim.detach()
    mask = _gt_mask(gt, tuple(sim.shape), sim.device)
    best = sim.masked_fill(~mask, float("-inf")).amax(dim=1, keepdim=True)
    before = sim >= best if ties == "pessimistic" else sim > best
    return 1 + (before & ~mask).sum(dim=1)


def rank_metrics(ranks: Tensor, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """``r@k`` (percent) for each ``k``, their mean ``r_mean``, ``medr`` and ``meanr`` from ranks."""
    if ranks.numel() == 0:
        raise ValueError("no ranks to summarise")
    r = ranks.double()
    out = {f"r@{k}": float((r <= k).double().mean() * 100) for k in ks}
    out["r_mean"] = sum(out[f"r@{k}"] for k in ks) / len(ks) if ks else float("nan")
    out["medr"] = float(r.quantile(0.5))  # mean of the two middle ranks when even, like numpy
    out["meanr"] = float(r.mean())
    return out


def invert_ground_truth(gt: GroundTruth, num_items: int) -> list[set[int]]:
    """For every item, the set of queries that have it as ground truth (e.g. t2v -> v2t)."""
    if isinstance(gt, Tensor):
        gt = gt.tolist()
    inv: list[set[int]] = [set() for _ in range(num_items)]
    for q, items in enumerate(gt):
        for j in [items] if isinstance(items, int) else items:
            inv[int(j)].add(q)
    return inv


def gt_from_labels(query_labels: Sequence[int] | Tensor) -> list[set[int]]:
    """Ground truth when query ``i`` matches exactly item ``query_labels[i]``."""
    labels = query_labels.tolist() if isinstance(query_labels, Tensor) else list(query_labels)
    return [{int(j)} for j in labels]


def retrieval_metrics(
    sim_t2v: Tensor,
    gt_t2v: GroundTruth,
    sim_v2t: Tensor | None = None,
    gt_v2t: GroundTruth | None = None,
    ks: Sequence[int] = (1, 5, 10),
    ties: Ties = "pessimistic",
) -> dict[str, float]:
    """Metrics in both directions, keys ``t2v/r@1`` ... ``v2t/meanr`` and the overall ``r_mean``.

    ``sim_t2v`` is ``(num_texts, num_videos)``. ``sim_v2t`` defaults to ``sim_t2v.T`` (pass it when
    each direction was re-ranked separately); ``gt_v2t`` defaults to the inverse of ``gt_t2v``.
    """
    if sim_v2t is None:
        sim_v2t = sim_t2v.T
    if tuple(sim_v2t.shape) != tuple(sim_t2v.shape[::-1]):
        raise ValueError(
            f"sim_v2t shape {tuple(sim_v2t.shape)} is not the transpose of {tuple(sim_t2v.shape)}"
        )
    if gt_v2t is None:
        gt_v2t = invert_ground_truth(gt_t2v, sim_t2v.shape[1])
        empty = [v for v, s in enumerate(gt_v2t) if not s]
        if empty:
            raise ValueError(f"videos {empty[:10]} have no matching text; v2t ranks are undefined for them")
    out: dict[str, float] = {}
    for name, sim, gt in (("t2v", sim_t2v, gt_t2v), ("v2t", sim_v2t, gt_v2t)):
        m = rank_metrics(retrieval_ranks(sim, gt, ties), ks)
        out.update({f"{name}/{k}": v for k, v in m.items()})
    out["r_mean"] = (out["t2v/r_mean"] + out["v2t/r_mean"]) / 2
    return out


def video_text_retrieval_metrics(
    sim_t2v: Tensor,
    text_to_video: Sequence[int] | Tensor,
    sim_v2t: Tensor | None = None,
    ks: Sequence[int] = (1, 5, 10),
    ties: Ties = "pessimistic",
) -> dict[str, float]:
    """Video-text retrieval where text ``t`` describes video ``text_to_video[t]``.

    t2v has one ground truth per text; v2t counts a video as found at the rank of its best-ranked
    caption (several captions per video are allowed).
    """
    gt_t2v = gt_from_labels(text_to_video)
    return retrieval_metrics(sim_t2v, gt_t2v, sim_v2t=sim_v2t, ks=ks, ties=ties)


PairScorer = Callable[[Tensor, Tensor], Tensor]


def itm_rerank(
    sim: Tensor,
    score_fn: PairScorer,
    k: int = 128,
    fill_value: float = -100.0,
    query_batch_size: int = 16,
    add_sim: bool = False,
) -> Tensor:
    """Re-rank each query's top-``k`` items with a pair scorer (the official ``_match`` protocol).

    ``score_fn(query_idx (b,), item_idx (b, k)) -> (b, k)`` scores candidate pairs (InternVideo2:
    the ``itm_head`` class-1 logit of the fusion encoder). The result has those scores at the
    candidates and ``fill_value`` (-100) everywhere else; ``add_sim=True`` adds the original
    similarity to the candidate scores (ALBEF style). Candidates are ``torch.topk`` of each row.
    """
    if sim.dim() != 2:
        raise ValueError(f"sim must be (num_queries, num_items), got shape {tuple(sim.shape)}")
    k = min(k, sim.shape[1])
    out = torch.full_like(sim, fill_value)
    for start in range(0, sim.shape[0], query_batch_size):
        rows = sim[start : start + query_batch_size]
        top_sim, top_idx = rows.topk(k, dim=1)
        q_idx = torch.arange(start, start + rows.shape[0], device=sim.device)
        scores = score_fn(q_idx, top_idx).to(out.dtype)
        if scores.shape != top_idx.shape:
            raise ValueError(
                f"score_fn returned shape {tuple(scores.shape)}, expected {tuple(top_idx.shape)}"
            )
        if add_sim:
            scores = scores + top_sim
        out[start : start + rows.shape[0]].scatter_(1, top_idx, scores)
    return out


def dual_softmax(sim: Tensor, dim: int = 0, temperature: float = 1.0) -> Tensor:
    """Dual-softmax re-weighting ``sim * softmax(sim / temperature, dim)`` (the official "dsl").

    With ``sim`` ``(num_queries, num_items)`` and ``dim=0`` each score is weighted by how strongly
    its item prefers this query over the other queries.
    """
    return sim * torch.softmax(sim / temperature, dim=dim)
