from __future__ import annotations

import math

import pytest
import torch

from internvideo.eval.multiview import (
    average_view_probs,
    multiview_metrics,
    predict_views,
    save_confusion_matrix,
)


def _softmax(row: list[float]) -> list[float]:
    e = [math.exp(v) for v in row]
    return [v / sum(e) for v in e]


def test_view_average_equals_hand_computed_example() -> None:
    # 2 videos x 3 views x 3 classes
    logits = torch.tensor(
        [
            [[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]],
            [[0.0, 0.0, 3.0], [1.0, 1.0, 0.0], [0.0, 2.0, 0.0]],
        ]
    )
    expected = []
    for video in logits.tolist():
        probs = [_softmax(v) for v in video]
        expected.append([sum(p[c] for p in probs) / 3 for c in range(3)])
    got = average_view_probs(logits)
    torch.testing.assert_close(got, torch.tensor(expected), atol=1e-7, rtol=0)
    # by hand for video 0: softmax(2,0,0) = (e2, 1, 1)/(e2+2); softmax(0,1,0) = (1, e, 1)/(e+2); uniform 1/3
    e2, e1 = math.e**2, math.e
    p0 = (e2 / (e2 + 2) + 1 / (e1 + 2) + 1 / 3) / 3
    assert got[0, 0].item() == pytest.approx(p0, abs=1e-7)
    # video 1: view means (0.191, 0.418, 0.390) -> class 1, although the largest single logit is class 2's
    assert got[1].argmax().item() == 1
    m = multiview_metrics(logits, torch.tensor([0, 2]), 3)
    assert m["top1"] == pytest.approx(50.0)
    assert m["confusion"].tolist() == [[1, 0, 0], [0, 0, 0], [0, 1, 0]]
    assert (
        m["per_class_acc"][0] == 100.0 and m["per_class_acc"][2] == 0.0 and math.isnan(m["per_class_acc"][1])
    )
    assert m["mean_class_acc"] == 50.0


def test_probability_average_differs_from_logit_average() -> None:
    # one confident view vs two mild ones: the logit mean picks class 1, the probability mean class 0
    logits = torch.tensor([[[0.0, 6.0], [2.0, 0.0], [2.0, 0.0]]])
    assert logits.mean(1).argmax(1).item() == 1
    assert average_view_probs(logits).argmax(1).item() == 0
    probs = average_view_probs(logits)[0]
    p_view = torch.tensor([_softmax(v) for v in logits[0].tolist()])
    torch.testing.assert_close(probs, p_view.mean(0).float())


def test_metrics_top5_subsets_and_confusion_png(tmp_path) -> None:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(12) % 6
    logits = torch.randn(12, 2, 6, generator=g)
    logits[torch.arange(12), :, labels] += 5.0  # all correct
    logits[0, :, 0] -= 20.0  # sample 0 (class 0) now wrong
    m = multiview_metrics(logits, labels, 6, subsets={"pair": [0, 1]})
    assert m["top1"] == pytest.approx(100 * 11 / 12)
    assert m["pair_top1"] == pytest.approx(100 * 3 / 4)
    assert m["per_class_acc"][0] == pytest.approx(50.0)
    assert m["top5"] >= m["top1"]
    path = save_confusion_matrix(m["confusion"], tmp_path / "cm.png", [f"c{i}" for i in range(6)])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_views_runs_every_view() -> None:
    class Mean(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W) -> 2 logits
            s = x.mean(dim=(1, 2, 3, 4))
            return torch.stack([s, -s], 1) * self.w

    data = [
        {"video": torch.full((4, 3, 2, 2, 2), float(i)) * torch.arange(4).view(4, 1, 1, 1, 1), "label": i % 2}
        for i in range(3)
    ]
    logits, labels = predict_views(Mean(), data, batch_size=2)
    assert logits.shape == (3, 4, 2) and labels.tolist() == [0, 1, 0]
    assert logits[2, 3, 0].item() == pytest.approx(6.0)
