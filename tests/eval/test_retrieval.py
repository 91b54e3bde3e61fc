"""Retrieval metrics against plain-Python references, with ties and several ground truths."""

from __future__ import annotations

import random
import statistics

import pytest
import torch

from internvideo.eval import (
    dual_softmax,
    invert_ground_truth,
    itm_rerank,
    rank_metrics,
    retrieval_metrics,
    retrieval_ranks,
    video_text_retrieval_metrics,
)


def ref_rank(row: list[float], gt: set[int], pessimistic: bool = True) -> int:
    best = max(row[j] for j in gt)
    rank = 1
    for j, s in enumerate(row):
        if j in gt:
            continue
        if s > best or (pessimistic and s == best):
            rank += 1
    return rank


def ref_metrics(sim: list[list[float]], gt: list[set[int]], ks=(1, 5, 10), pessimistic=True) -> dict:
    ranks = [ref_rank(row, g, pessimistic) for row, g in zip(sim, gt)]
    out = {f"r@{k}": 100.0 * sum(r <= k for r in ranks) / len(ranks) for k in ks}
    out["r_mean"] = sum(out[f"r@{k}"] for k in ks) / len(ks)
    out["medr"] = float(statistics.median(ranks))
    out["meanr"] = sum(ranks) / len(ranks)
    return out


def random_case(seed: int, q: int, n: int, levels: int) -> tuple[torch.Tensor, list[set[int]]]:
    """Scores quantised to ``levels`` values so that ties are frequent."""
    rng = random.Random(seed)
    sim = torch.tensor([[rng.randrange(levels) / levels for _ in range(n)] for _ in range(q)])
    gt = [set(rng.sample(range(n), rng.randint(1, 3))) for _ in range(q)]
    return sim, gt


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", ["pessimistic", "optimistic"])
def test_matches_bruteforce(seed: int, ties: str) -> None:
    sim, gt = random_case(seed, q=17 + seed, n=23, levels=5 + 3 * seed)
    ranks = retrieval_ranks(sim, gt, ties=ties)
    ref = [ref_rank(row, g, ties == "pessimistic") for row, g in zip(sim.tolist(), gt)]
    assert ranks.tolist() == ref
    got = rank_metrics(ranks, ks=(1, 3, 5, 10))
    want = ref_metrics(sim.tolist(), gt, ks=(1, 3, 5, 10), pessimistic=ties == "pessimistic")
    assert got == pytest.approx(want)


def test_tie_rule_explicit() -> None:
    sim = torch.tensor([[0.5, 0.5, 0.5, 0.1], [0.9, 0.5, 0.5, 0.5]])
    gt = [{1}, {2, 3}]
    assert retrieval_ranks(sim, gt).tolist() == [3, 3]  # tied items count as ranked before
    assert retrieval_ranks(sim, gt, ties="optimistic").tolist() == [1, 2]
    with pytest.raises(ValueError):
        retrieval_ranks(torch.tensor([[float("nan"), 0.0]]), [{0}])
    with pytest.raises(ValueError, match="no ground-truth"):
        retrieval_ranks(sim, [{1}, set()])
    with pytest.raises(ValueError, match="outside"):
        retrieval_ranks(sim, [{1}, {7}])


def test_both_directions_bruteforce() -> None:
    sim, gt = random_case(11, q=20, n=12, levels=7)
    gt[0] |= set(range(12))  # every video has at least one caption
    out = retrieval_metrics(sim, gt)
    inv = invert_ground_truth(gt, 12)
    want_t2v = ref_metrics(sim.tolist(), gt)
    want_v2t = ref_metrics(sim.T.tolist(), inv)
    for k, v in want_t2v.items():
        assert out[f"t2v/{k}"] == pytest.approx(v)
    for k, v in want_v2t.items():
        assert out[f"v2t/{k}"] == pytest.approx(v)
    assert out["r_mean"] == pytest.approx((want_t2v["r_mean"] + want_v2t["r_mean"]) / 2)


def test_video_text_several_captions() -> None:
    torch.manual_seed(0)
    text_to_video = [0, 0, 1, 2, 2, 2, 3]
    sim = torch.randn(7, 4)
    out = video_text_retrieval_metrics(sim, text_to_video)
    t2v_ranks = [ref_rank(row, {v}) for row, v in zip(sim.tolist(), text_to_video)]
    v2t_gt = [{t for t, v in enumerate(text_to_video) if v == j} for j in range(4)]
    v2t_ranks = [ref_rank(row, g) for row, g in zip(sim.T.tolist(), v2t_gt)]
    assert out["t2v/meanr"] == pytest.approx(sum(t2v_ranks) / 7)
    assert out["v2t/meanr"] == pytest.approx(sum(v2t_ranks) / 4)
    assert out["v2t/r@1"] == pytest.approx(100 * sum(r == 1 for r in v2t_ranks) / 4)
    # Perfect scores give perfect metrics.
    perfect = torch.zeros(7, 4)
    perfect[torch.arange(7), torch.tensor(text_to_video)] = 1.0
    best = video_text_retrieval_metrics(perfect, text_to_video)
    assert best["t2v/r@1"] == best["v2t/r@1"] == 100.0 and best["t2v/medr"] == 1.0
    with pytest.raises(ValueError, match="no matching text"):
        video_text_retrieval_metrics(torch.randn(3, 4), [0, 1, 2])


def test_itm_rerank_and_dual_softmax() -> None:
    torch.manual_seed(0)
    sim = torch.randn(5, 9)
    pair = torch.randn(5, 9)  # the "ITM" score of every pair
    calls = []

    def score_fn(q: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        calls.append(q.tolist())
        return pair[q[:, None], items]

    out = itm_rerank(sim, score_fn, k=3, query_batch_size=2)
    assert calls == [[0, 1], [2, 3], [4]]
    for i in range(5):
        top = set(sim[i].topk(3).indices.tolist())
        for j in range(9):
            assert out[i, j] == (pair[i, j] if j in top else -100.0)
    plus = itm_rerank(sim, score_fn, k=3, add_sim=True)
    cand = out != -100
    torch.testing.assert_close(plus[cand], (pair + sim)[cand])
    assert itm_rerank(sim, score_fn, k=50).ne(-100).all()  # k larger than the gallery

    d = dual_softmax(sim)
    torch.testing.assert_close(d, sim * torch.softmax(sim, dim=0))
    torch.testing.assert_close(
        dual_softmax(sim, dim=1, temperature=0.5), sim * torch.softmax(sim / 0.5, dim=1)
    )
