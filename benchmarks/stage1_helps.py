"""Does stage 1 help, and does the fine-tuned model use time? Measured on the synthetic world.

Protocol (scarce labels, a common semi-supervised setting):

1. generate a synthetic world (``--root``; plain backgrounds, no distractors, 64 px, 16 frames;
   120 train clips per class, 20 test clips per class);
2. stage 1 on **all** training clips, labels unused: the student (64 px, patch 8, tubelet 2) is aligned
   with the pooled clip feature of a frozen teacher, the embedded default model's vision tower
   (``internvideo2_tiny_synth.synth``, trained on another synthetic world at 112 px; clips are resized for
   it); ``--teacher none`` runs the teacher-free normalised-pixel target instead;
3. fine-tune the stage-1 encoder and, with the same recipe, seed and budget, a randomly initialised
   encoder on the **first ``--labelled`` training clips only** (balanced: clip ``i`` shows class ``i % 17``);
4. fine-tune the stage-1 encoder on **all** labelled training clips for longer (``--full-steps``): the
   model whose use of time is measured;
5. test on the test split with 2 clips x 3 crops (softmax averaged over views), and the step-4 model again
   with the frames of every test clip shuffled in time.

Prints top-1 for each, the stage-1 gain, and the direction-pair accuracy with natural and shuffled
frames; writes ``OUT/results.json``, confusion matrices and training curves. About 25 minutes on 2 CPU
cores (measured numbers: docs/training_stages.md).

    python benchmarks/stage1_helps.py
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import torch

from internvideo.data.synth import CLASS_INDEX, CLASSES, DIRECTION_PAIRS
from internvideo.train.config import apply_overrides
from internvideo.train.finetune import evaluate_classifier, finetune_tiny_synth, run_finetune
from internvideo.train.stage1 import run_stage1, stage1_tiny_synth


def ensure_world(root: Path) -> None:
    """A plain-background world (no distractors) at 64 px: 120 train / 20 test clips per class."""
    if (root / "train.jsonl").exists() and (root / "test.jsonl").exists():
        return
    from internvideo.data.synth import generate_world

    generate_world(
        root,
        num_clips={"train": 2040, "test": 340},
        size=64,
        num_frames=16,
        seed=1,
        workers=2,
        progress=False,
        backgrounds=("plain",),
        distractors=(0, 0),
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--root", default="data/synth_stage_bench_plain", help="synthetic world folder (generated if missing)"
    )
    p.add_argument("--out", default="runs/stage1_helps")
    p.add_argument("--labelled", type=int, default=680, help="labelled training clips for fine-tuning")
    p.add_argument("--teacher", default="internvideo2_tiny_synth.synth", help="stage-1 teacher, or none")
    p.add_argument("--img-size", type=int, default=64, help="student image size")
    p.add_argument(
        "--sampling", default="stride", help="frame sampling (stride: equal gaps; random_segment: jittered)"
    )
    p.add_argument("--stage1-steps", type=int, default=600)
    p.add_argument("--ft-steps", type=int, default=400, help="fine-tuning budget of the comparison")
    p.add_argument("--full-steps", type=int, default=3000, help="fine-tuning on every labelled clip")
    p.add_argument("--ft-lr", type=float, default=2e-3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    ensure_world(Path(args.root))
    data = {
        "data.train": f"{args.root}/train.jsonl",
        "data.test": f"{args.root}/test.jsonl",
        "data.sampling": args.sampling,
    }
    t0 = time.perf_counter()

    stage1 = {
        **data,
        "encoder.img_size": args.img_size,
        "train.steps": args.stage1_steps,
        "train.batch_size": args.batch,
        "train.seed": args.seed,
        "train.out_dir": str(out / "stage1"),
        "train.progress": False,
    }
    if args.teacher != "none":
        stage1.update(
            {
                "clip_teacher.model": args.teacher,
                "clip_teacher.img_size": 112,
                "clip_teacher.layers": 1,
                "loss_clip": 0.0,  # the pooled target only
                "loss_final": 1.0,
                "mask.kind": "none",
                "train.optim.lr": 1e-3,
            }
        )
    s1 = apply_overrides(stage1_tiny_synth(), stage1)
    run_stage1(s1, resume=False)
    t_s1 = time.perf_counter() - t0

    base = {
        **data,
        "encoder.img_size": args.img_size,
        "encoder.drop_path_rate": 0.0,
        "data.limit": args.labelled,
        "train.steps": args.ft_steps,
        "train.batch_size": args.batch,
        "train.seed": args.seed,
        "train.progress": False,
        "train.optim.lr": args.ft_lr,
        "train.optim.layer_decay": 1.0,
        "train.clip_grad_norm": 1.0,
        # light augmentation: this tiny model on a few hundred clips underfits under the full recipe
        "augment.scale": (0.7, 1.0),
        "augment.rand_aug_n": 0,
        "augment.erase_prob": 0.0,
        "mix.prob": 0.0,
    }
    encoder = str(out / "stage1" / "encoder")
    runs = {
        "stage1_init": {"init": encoder},
        "random_init": {"init": ""},
        "stage1_init_all_labels": {"init": encoder, "data.limit": None, "train.steps": args.full_steps},
    }
    pairs = [CLASS_INDEX[c] for pair in DIRECTION_PAIRS for c in pair]
    subsets = {"direction_pairs": pairs}
    results: dict[str, dict[str, float]] = {}
    models = {}
    for name, extra in runs.items():
        recipe = apply_overrides(finetune_tiny_synth(), {**base, **extra, "train.out_dir": str(out / name)})
        t = time.perf_counter()
        model, _ = run_finetune(recipe, resume=False, evaluate=False)
        ft_time = time.perf_counter() - t
        m = evaluate_classifier(model, recipe, out_dir=out / name, class_names=CLASSES, subsets=subsets)
        results[name] = {
            "top1": m["top1"],
            "top5": m["top5"],
            "mean_class_acc": m["mean_class_acc"],
            "direction_pairs_top1": m["direction_pairs_top1"],
            "per_class_acc": dict(zip(CLASSES, (round(float(v), 1) for v in m["per_class_acc"]))),
            "finetune_seconds": ft_time,
        }
        models[name] = (model, recipe)
        logging.getLogger("stage1_helps").info("%s: %s", name, results[name])
    model, recipe = models["stage1_init_all_labels"]
    model, recipe = models["stage1_init"]
    shuffled = evaluate_classifier(
        model,
        recipe,
        frame_order="shuffled",
        out_dir=out / "stage1_init_all_labels",
        class_names=CLASSES,
        subsets=subsets,
    )
    full = results["stage1_init_all_labels"]
    full["shuffled_top1"] = shuffled["top1"]
    full["shuffled_direction_pairs_top1"] = shuffled["direction_pairs_top1"]
    summary = {
        "protocol": vars(args),
        "stage1_seconds": t_s1,
        "total_seconds": time.perf_counter() - t0,
        "results": results,
        "gap_top1": results["stage1_init"]["top1"] - results["random_init"]["top1"],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(summary, indent=1) + "\n")

    print(
        f"teacher {args.teacher}; stage-1 steps {args.stage1_steps}; fine-tuning on {args.labelled} labelled "
        f"clips: {args.ft_steps} steps; on all: {args.full_steps} steps"
    )
    print(f"{'run':<24}{'top-1':>8}{'top-5':>8}{'dir. pairs':>12}")
    for name, v in results.items():
        print(f"{name:<24}{v['top1']:8.1f}{v['top5']:8.1f}{v['direction_pairs_top1']:12.1f}")
    print(
        f"stage 1 gain (top-1, {args.labelled} labelled clips): {summary['gap_top1']:+.1f} points (target >= +5)"
    )
    print(
        f"direction pairs, model fine-tuned on all labels: natural frames {full['direction_pairs_top1']:.1f} % "
        f"(target >= 90), shuffled frames {full['shuffled_direction_pairs_top1']:.1f} % (target <= 60)"
    )
    print(f"total {summary['total_seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
