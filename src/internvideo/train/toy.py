"""Tiny synthetic datasets and models for smoke runs, docs and tests of the training engine.

They need no files and train in seconds on a CPU; the real models and data live in
``internvideo.models`` and ``internvideo.data``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset


class BlobsDataset(Dataset):
    """``n`` points from ``num_classes`` Gaussian blobs in ``dim`` dimensions (fixed by ``seed``).

    Items are ``{"video": (dim,) float tensor, "label": int}``. With ``noise > 0`` each access adds
    fresh Gaussian noise from the global torch RNG (a stand-in for random augmentation).
    """

    def __init__(
        self, n: int = 64, dim: int = 8, num_classes: int = 4, seed: int = 0, noise: float = 0.0
    ) -> None:
        g = torch.Generator().manual_seed(seed)
        centers = torch.randn(num_classes, dim, generator=g) * 2.0
        self.labels = torch.randint(0, num_classes, (n,), generator=g)
        self.points = centers[self.labels] + 0.5 * torch.randn(n, dim, generator=g)
        self.noise = noise

    def __len__(self) -> int:
        return self.points.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x = self.points[i]
        if self.noise > 0:
            x = x + self.noise * torch.randn_like(x)
        return {"video": x, "label": self.labels[i]}


class PairsDataset(Dataset):
    """Paired "video" / "text" vectors that share a latent per ``video_id`` (several captions per video)."""

    def __init__(
        self, n: int = 64, video_dim: int = 12, text_dim: int = 10, clips_per_video: int = 2, seed: int = 0
    ) -> None:
        g = torch.Generator().manual_seed(seed)
        num_videos = math.ceil(n / clips_per_video)
        latent = torch.randn(num_videos, 6, generator=g)
        self.video_ids = torch.arange(n) // clips_per_video
        to_video = torch.randn(6, video_dim, generator=g)
        to_text = torch.randn(6, text_dim, generator=g)
        z = latent[self.video_ids]
        self.video = z @ to_video + 0.1 * torch.randn(n, video_dim, generator=g)
        self.text = z @ to_text + 0.1 * torch.randn(n, text_dim, generator=g)

    def __len__(self) -> int:
        return self.video.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"video": self.video[i], "text": self.text[i], "video_id": self.video_ids[i]}


class TinyClassifier(nn.Module):
    """A two-layer MLP with ViT-style parameter names (``patch_embed``, ``blocks.{i}``, ``head``)."""

    def __init__(
        self, dim: int = 8, hidden: int = 16, num_classes: int = 4, depth: int = 2, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.patch_embed = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout))
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, num_classes)

    def get_num_layers(self) -> int:
        return len(self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for blk in self.blocks:
            x = x + blk(x)
        return self.head(self.norm(x))


class TinyDualEncoder(nn.Module):
    """Linear video and text encoders with a learnable CLIP-style ``logit_scale``."""

    def __init__(
        self, video_dim: int = 12, text_dim: int = 10, embed_dim: int = 8, temperature: float = 0.1
    ) -> None:
        super().__init__()
        self.video_proj = nn.Linear(video_dim, embed_dim)
        self.text_proj = nn.Linear(text_dim, embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    def encode_video(self, x: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        v = self.video_proj(x)
        return F.normalize(v, dim=-1) if normalize else v

    def encode_text(self, x: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        t = self.text_proj(x)
        return F.normalize(t, dim=-1) if normalize else t

    def forward(self, video: torch.Tensor, text: torch.Tensor) -> dict[str, torch.Tensor]:
        v = self.encode_video(video, normalize=True)
        t = self.encode_text(text, normalize=True)
        logits = self.logit_scale.exp() * v @ t.t()
        return {
            "logits_per_video": logits,
            "logits_per_text": logits.t(),
            "video_embeds": v,
            "text_embeds": t,
        }
