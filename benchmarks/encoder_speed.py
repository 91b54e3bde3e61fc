"""Our InternVideo2-B encoder against Hugging Face transformers' VideoMAE-B on the same number of tokens.

VideoMAE-B (patch 16, tubelet 2) on 16 frames at 224 px sees 8 x 14 x 14 = 1568 tokens; InternVideo2-B
(patch 14, tubelet 1) on 8 frames at 196 px sees 8 x 14 x 14 = 1568 patch tokens (+ CLS). Both are 12-layer,
768-wide ViTs with SDPA attention. Batch 1, CPU, fp32 and bf16 (autocast). Prints seconds per clip
(min / median of several runs) and the speed ratio peer/ours (> 1 means ours is faster).

The process is set up as the ``internvideo`` command sets up its own (:func:`internvideo.runtime.tune_malloc`,
for both models alike); ``--default-malloc`` leaves glibc's defaults.

    python benchmarks/encoder_speed.py [--repeats 7] [--threads 2]

Needs ``transformers`` (``pip install transformers``; no torchvision needed).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def _time(fn, repeats: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--default-malloc", action="store_true", help="do not tune malloc as the CLI does")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from internvideo.runtime import tune_malloc

    tuned = False if args.default_malloc else tune_malloc()

    from transformers import VideoMAEConfig, VideoMAEForVideoClassification

    from internvideo import create_model

    torch.manual_seed(0)
    ours = create_model("internvideo2_base_patch14_224", img_size=196, num_frames=8, num_classes=400).eval()
    peer = VideoMAEForVideoClassification(VideoMAEConfig(num_labels=400, attn_implementation="sdpa")).eval()
    x_ours = torch.randn(1, 3, 8, 196, 196)  # (B, C, T, H, W)
    x_peer = torch.randn(1, 16, 3, 224, 224)  # (B, T, C, H, W)
    n_ours = 8 * (196 // 14) ** 2
    n_peer = (16 // 2) * (224 // 16) ** 2
    print(f"tokens: ours {n_ours} (+CLS), VideoMAE-B {n_peer}; threads {torch.get_num_threads()}")
    print(f"malloc: {'tuned as by the internvideo command' if tuned else 'glibc defaults'}")
    print(f"{'dtype':6} {'model':14} {'min s':>8} {'median s':>9}")
    for name in args.dtypes.split(","):
        dtype = {"fp32": None, "bf16": torch.bfloat16}[name]

        def run(model, x, dtype=dtype):
            with (
                torch.inference_mode(),
                torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None),
            ):
                if model is peer:
                    model(pixel_values=x)
                else:
                    model(x)

        # interleave the two models so drifts of the machine hit both alike
        t_ours, t_peer = [], []
        for _ in range(args.repeats):
            t_ours += _time(lambda: run(ours, x_ours), 1, warmup=1 if not t_ours else 0)
            t_peer += _time(lambda: run(peer, x_peer), 1, warmup=1 if not t_peer else 0)
        for label, ts in (("InternVideo2-B", t_ours), ("VideoMAE-B", t_peer)):
            print(f"{name:6} {label:14} {min(ts):8.3f} {statistics.median(ts):9.3f}")
        ratio_med = statistics.median(t_peer) / statistics.median(t_ours)
        ratio_min = min(t_peer) / min(t_ours)
        print(f"{name:6} speed ratio VideoMAE/ours: median {ratio_med:.3f}, min {ratio_min:.3f}")


if __name__ == "__main__":
    main()
