"""``internvideo demo``: a short tour of what is installed, with timings.

It probes and samples real videos (the shared media folder when present, otherwise a generated clip),
embeds them with a small InternVideo2 encoder and, when the official parity fixtures are available,
shows that an official checkpoint loads strictly and reproduces the official outputs.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ._paths import shared_dir


def _say(msg: str) -> None:
    print(msg, flush=True)


def _videos(media_dir: str | None, out_dir: Path) -> list[Path]:
    folder = Path(media_dir) if media_dir else (shared_dir() / "media" if shared_dir() else None)
    found = sorted(p for p in folder.glob("*.mp4")) if folder and folder.is_dir() else []
    if found:
        return found
    _say("no media folder found; generating a small synthetic clip instead")
    from .data.synth import WorldConfig, make_clip  # a generated, really encoded H.264 clip

    out_dir.mkdir(parents=True, exist_ok=True)
    record = make_clip(WorldConfig(), "test", 0, out_dir)
    return [out_dir / record["video"]]


def run_demo(media_dir: str | None = None, out_dir: Path = Path("demo_out")) -> int:
    from .data import build_eval_transform, load_video, probe
    from .models import create_model

    torch.manual_seed(0)
    t_all = time.perf_counter()
    videos = _videos(media_dir, out_dir)
    model = create_model("internvideo2_tiny_patch14_56", num_frames=8, num_classes=0).eval()
    transform = build_eval_transform(size=56, mode="squash")
    _say(
        f"encoder: internvideo2_tiny_patch14_56 (8 frames, 56 px), {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params"
    )
    for path in videos:
        t0 = time.perf_counter()
        info = probe(path)
        t1 = time.perf_counter()
        frames = load_video(path, num_frames=8, sampling="middle")
        t2 = time.perf_counter()
        x = transform(frames).unsqueeze(0)
        with torch.inference_mode():
            emb = model(x)
        t3 = time.perf_counter()
        _say(
            f"{path.name}: {info.codec} {info.width}x{info.height} {info.fps:.2f} fps, {info.num_frames} frames, "
            f"{info.duration:.2f} s | probe {1e3 * (t1 - t0):.0f} ms, sample 8 frames {1e3 * (t2 - t1):.0f} ms, "
            f"encode {1e3 * (t3 - t2):.0f} ms -> embedding {tuple(emb.shape)} norm {emb.norm():.3f}"
        )
    fixtures = shared_dir() / "fixtures" / "internvideo2" / "classifier" if shared_dir() else None
    if fixtures and fixtures.is_dir():
        from safetensors.torch import load_file

        from .models import load_checkpoint

        io = load_file(fixtures / "io.safetensors")
        ref = create_model("internvideo2_tiny_patch14_56", gelu="tanh").eval()
        load_checkpoint(ref, fixtures / "model.safetensors")
        with torch.inference_mode():
            diff = (ref(io["video"]) - io["logits_gelu_tanh"]).abs().max().item()
        _say(f"official checkpoint (strict load) reproduces the official logits: max abs diff {diff:.2e}")
        if diff > 1e-5:
            _say("parity check FAILED")
            return 1
    _say(f"done in {time.perf_counter() - t_all:.1f} s")
    return 0
