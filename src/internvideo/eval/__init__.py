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
from internvideo.eval.zeroshot import (
    VIDEO_TEMPLATES,
    class_prompts,
    zero_shot_classify,
    zero_shot_logits,
    zero_shot_weights,
)

__all__ = [
    "VIDEO_TEMPLATES",
    "class_prompts",
    "zero_shot_classify",
    "zero_shot_logits",
    "zero_shot_weights",
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
