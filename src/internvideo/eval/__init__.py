"""Evaluation metrics: retrieval (R@K, ranks, ITM re-ranking) and classification (top-k, confusion)."""

from __future__ import annotations

from internvideo.eval.classification import (
    classification_metrics,
    confusion_matrix,
    mean_class_accuracy,
    topk_accuracy,
)
from internvideo.eval.retrieval import (
    dual_softmax,
    gt_from_labels,
    invert_ground_truth,
    itm_rerank,
    rank_metrics,
    retrieval_metrics,
    retrieval_ranks,
    video_text_retrieval_metrics,
)

__all__ = [
    "classification_metrics",
    "confusion_matrix",
    "dual_softmax",
    "gt_from_labels",
    "invert_ground_truth",
    "itm_rerank",
    "mean_class_accuracy",
    "rank_metrics",
    "retrieval_metrics",
    "retrieval_ranks",
    "topk_accuracy",
    "video_text_retrieval_metrics",
]
