"""Classification metrics against plain-Python references (ties included)."""

from __future__ import annotations

import random

import pytest
import torch

from internvideo.eval import classification_metrics, confusion_matrix, mean_class_accuracy, topk_accuracy


def ref_topk(logits: list[list[float]], targets: list[int], k: int, pessimistic: bool = True) -> float:
    correct = 0
    for row, y in zip(logits, targets):
        ahead = sum(1 for c, s in enumerate(row) if c != y and (s > row[y] or (pessimistic and s == row[y])))
        correct += ahead < k
    return 100.0 * correct / len(targets)


def ref_argmax(row: list[float]) -> int:
    best = 0
    for c, s in enumerate(row):
        if s > row[best]:
            best = c
    return best


@pytest.mark.parametrize("seed", range(5))
def test_against_bruteforce(seed: int) -> None:
    rng = random.Random(seed)
    n, c = 40, 7
    logits = torch.tensor([[float(rng.randrange(4)) for _ in range(c)] for _ in range(n)])
    targets = torch.tensor([rng.randrange(c - 1) for _ in range(n)])  # class c-1 never occurs
    rows, ys = logits.tolist(), targets.tolist()
    for ties in ("pessimistic", "optimistic"):
        got = topk_accuracy(logits, targets, ks=(1, 2, 5), ties=ties)
        for k in (1, 2, 5):
            assert got[f"top{k}"] == pytest.approx(ref_topk(rows, ys, k, ties == "pessimistic"))
    cm = confusion_matrix(logits, targets, c)
    ref_cm = [[0] * c for _ in range(c)]
    for row, y in zip(rows, ys):
        ref_cm[y][ref_argmax(row)] += 1
    assert cm.tolist() == ref_cm
    per_class = [ref_cm[y][y] / sum(ref_cm[y]) for y in range(c) if sum(ref_cm[y])]
    assert mean_class_accuracy(logits, targets, c) == pytest.approx(100 * sum(per_class) / len(per_class))
    assert classification_metrics(logits, targets)["mean_class_acc"] == pytest.approx(
        mean_class_accuracy(logits, targets, c)
    )


def test_simple_cases_and_errors() -> None:
    logits = torch.tensor([[0.0, 0.0, 0.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    targets = torch.tensor([0, 0, 0])
    acc = topk_accuracy(logits, targets, ks=(1, 3))
    assert acc["top1"] == pytest.approx(100 / 3)  # all-equal logits never count (pessimistic)
    assert acc["top3"] == 100.0
    assert topk_accuracy(logits, targets, ks=(1,), ties="optimistic")["top1"] == pytest.approx(200 / 3)
    assert confusion_matrix(torch.tensor([0, 2, 2]), torch.tensor([0, 1, 2]), 3).tolist() == [
        [1, 0, 0],
        [0, 0, 1],
        [0, 0, 1],
    ]
    with pytest.raises(ValueError):
        topk_accuracy(logits, torch.tensor([0, 1, 5]))
    with pytest.raises(ValueError):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 1, 2]), 3)
