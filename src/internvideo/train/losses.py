"""Losses shared by tasks. Contrastive losses gather across ranks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from internvideo.train.distributed import all_gather_no_grad, all_gather_with_grad


def multi_positive_targets(ids: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """``targets[i, j] = 1`` when ``ids[i] == ids[j]``, rows normalised to sum to 1 if ``normalize``."""
    ids = ids.reshape(-1, 1)
    mask = (ids == ids.t()).to(torch.float32)
    if normalize:
        mask = mask / mask.sum(dim=1, keepdim=True)
    return mask


def vtc_loss(
    video_feats: torch.Tensor,
    text_feats: torch.Tensor,
    temperature: float | torch.Tensor,
    match_ids: torch.Tensor | None = None,
    *,
    gather: bool = True,
) -> torch.Tensor:
    """Video-text contrastive loss as in InternVideo2 (symmetric InfoNCE with multi-positive targets).

    Projections ``(B, D)`` and ``match_ids`` ``(B,)`` are gathered from all ranks (gradients flow to
    the local shard), L2-normalised, compared by dot product divided by ``temperature``; targets are
    the row-normalised id-equality matrix, so clips sharing a video id are all positives. Returns
    the mean over both directions of ``-sum(log_softmax(sim) * targets)``, averaged over the global
    batch. Without ``match_ids`` every pair ``(i, i)`` is the only positive.
    """
    if video_feats.shape[0] != text_feats.shape[0]:
        raise ValueError(
            f"vtc_loss: video and text batches differ ({video_feats.shape[0]} vs {text_feats.shape[0]})"
        )
    if gather:
        video_feats = all_gather_with_grad(video_feats)
        text_feats = all_gather_with_grad(text_feats)
        if match_ids is not None:
            match_ids = all_gather_no_grad(match_ids.to(video_feats.device))
    v = F.normalize(video_feats.float(), dim=-1)
    t = F.normalize(text_feats.float(), dim=-1)
    # fp32 even under autocast: bf16 resolves cosines near 1 only to ~0.004, which flattens the logits of
    # a freshly initialised (collapsed) model to one value and stalls training at log(batch)
    with torch.autocast(v.device.type, enabled=False):
        sim_v2t = v @ t.t() / temperature
    sim_t2v = sim_v2t.t()
    if match_ids is None:
        targets = torch.eye(v.shape[0], device=v.device, dtype=sim_v2t.dtype)
    else:
        targets = multi_positive_targets(match_ids.to(v.device)).to(sim_v2t.dtype)
    loss_v2t = -(F.log_softmax(sim_v2t, dim=1) * targets).sum(dim=1).mean()
    loss_t2v = -(F.log_softmax(sim_t2v, dim=1) * targets).sum(dim=1).mean()
    return (loss_v2t + loss_t2v) / 2
