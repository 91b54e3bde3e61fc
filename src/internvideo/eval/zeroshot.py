"""Zero-shot video classification with a video–text model: prompt templates and prompt ensembling.

Every class gets one or more prompts (class name × templates, or prompts given directly); their
normalised text embeddings are averaged and re-normalised into the class weight (prompt ensembling, as
in CLIP). A video's logits are ``logit_scale.exp() * video_embed @ class_weights.T``.

The model only needs ``encode_text(list[str], normalize=True)``, ``encode_video(x, normalize=True)`` and
``logit_scale`` — the dual-encoder verbs of :mod:`internvideo.models.multimodal`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

#: Default prompt templates for video classes (``{}`` is the class name, underscores become spaces).
VIDEO_TEMPLATES: tuple[str, ...] = (
    "{}",
    "a video of {}",
    "a clip of {}",
    "in the video, {}",
    "a video showing {}",
)


def class_prompts(class_names: Sequence[str], templates: Sequence[str] = VIDEO_TEMPLATES) -> list[list[str]]:
    """Prompts per class: every template filled with the class name (``_`` → space)."""
    if not class_names:
        raise ValueError("zero-shot classification needs at least one class name")
    if not templates or any("{}" not in t for t in templates):
        raise ValueError("every prompt template must contain '{}' for the class name")
    return [[t.format(n.replace("_", " ").strip()) for t in templates] for n in class_names]


@torch.inference_mode()
def zero_shot_weights(
    model, prompts: Sequence[Sequence[str]] | Mapping[int, Sequence[str]], batch_size: int = 256
) -> Tensor:
    """Class weights ``(num_classes, D)``: the mean of each class's normalised prompt embeddings, normalised.

    ``prompts`` is a list (class ``i`` → its prompts) or a mapping with keys ``0..C-1``.
    """
    if isinstance(prompts, Mapping):
        if sorted(prompts) != list(range(len(prompts))):
            raise ValueError("prompt mapping keys must be the class indices 0..C-1")
        prompts = [prompts[i] for i in range(len(prompts))]
    if any(len(p) == 0 for p in prompts):
        raise ValueError("every class needs at least one prompt")
    flat = [p for ps in prompts for p in ps]
    emb = torch.cat([model.encode_text(flat[s : s + batch_size]) for s in range(0, len(flat), batch_size)])
    return ensemble_prompts(emb, [len(p) for p in prompts])


def ensemble_prompts(embeddings: Tensor, counts: Sequence[int]) -> Tensor:
    """Class weights from prompt embeddings ``(sum(counts), D)`` listed class by class (``counts[i]``
    prompts of class ``i``): each class's normalised embeddings averaged, normalised again. Differentiable.
    """
    emb = F.normalize(embeddings.float(), dim=-1)
    owner = torch.repeat_interleave(
        torch.arange(len(counts), device=emb.device), torch.as_tensor(counts, device=emb.device)
    )
    weights = emb.new_zeros(len(counts), emb.shape[1]).index_add(0, owner, emb)
    return F.normalize(weights, dim=-1)


def zero_shot_logits(model, video_embeds: Tensor, weights: Tensor) -> Tensor:
    """Scaled cosine logits ``(B, C)`` of normalised video embeddings against class weights."""
    v = F.normalize(video_embeds.float(), dim=-1)
    return model.logit_scale.exp().float() * v @ weights.float().t()


@torch.inference_mode()
def zero_shot_classify(
    model,
    video: Tensor,
    class_names: Sequence[str] | None = None,
    templates: Sequence[str] = VIDEO_TEMPLATES,
    weights: Tensor | None = None,
) -> Tensor:
    """Class probabilities ``(B, C)`` for encoder-ready videos ``(B, C, T, H, W)``.

    Pass ``class_names`` (and optionally ``templates``), or precomputed ``weights`` from
    :func:`zero_shot_weights` to classify many batches against the same classes.
    """
    if weights is None:
        if class_names is None:
            raise ValueError("pass class_names or weights")
        weights = zero_shot_weights(model, class_prompts(class_names, templates))
    return zero_shot_logits(model, model.encode_video(video), weights).softmax(-1)


__all__ = [
    "VIDEO_TEMPLATES",
    "class_prompts",
    "ensemble_prompts",
    "zero_shot_classify",
    "zero_shot_logits",
    "zero_shot_weights",
]
