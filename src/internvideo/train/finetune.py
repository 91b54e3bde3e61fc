"""Supervised fine-tuning of InternVideo2 classifiers, linear / attentive probing, multi-view testing.

* :class:`FinetuneTask` — cross-entropy with label smoothing, or soft-target cross-entropy on
  Mixup / CutMix batches (:mod:`internvideo.train.mix`).
* :func:`build_classifier` — an :class:`~internvideo.models.vision.InternVideo2` classifier, initialised
  from any checkpoint of ours (a stage-1 / distillation student, an exported encoder or another
  classifier; decoders are dropped, the head is new unless shapes match), with drop path and a head type.
* :func:`set_probing` — ``full`` fine-tuning, ``linear`` probing (only ``fc_norm`` + ``head`` learn) or
  ``attentive`` probing (the attention-pooling projector learns too).
* :func:`transfer_head` — keep the head rows of another label set (the K710 -> K400 index lists).
* :func:`run_finetune` — a recipe end to end: train with layer-wise lr decay, then the multi-view test
  (top-1/5, per-class accuracy, confusion matrix PNG, training curves PNG).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, ConfigError
from ..models.vision import InternVideo2
from .config import OptimConfig, ScheduleConfig, TrainConfig
from .mix import MixConfig, Mixup, smooth_one_hot, soft_target_cross_entropy
from .stage1 import ClipData, EncoderSpec, clip_dataset

logger = logging.getLogger(__name__)

ProbeMode = Literal["full", "linear", "attentive"]

__all__ = [
    "AugmentConfig",
    "FinetuneRecipe",
    "FinetuneTask",
    "build_classifier",
    "evaluate_classifier",
    "finetune_published_b14_k400",
    "finetune_tiny_synth",
    "load_label_map",
    "run_finetune",
    "set_probing",
    "transfer_head",
]


class FinetuneTask:
    """Classification loss for fine-tuning: label smoothing, or Mixup / CutMix soft targets.

    ``mix`` (enabled) replaces the hard labels with mixed soft targets (label smoothing folded in);
    otherwise the loss is cross-entropy with ``label_smoothing``. ``acc`` is logged on unmixed batches.
    """

    def __init__(
        self,
        num_classes: int,
        label_smoothing: float = 0.1,
        mix: MixConfig | None = None,
        mix_seed: int | None = None,
    ) -> None:
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.mixup = Mixup(mix, num_classes, seed=mix_seed) if mix is not None and mix.enabled else None

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch["video"], batch["label"]
        if self.mixup is not None:
            x, targets = self.mixup(x, y)
            logits = model(x).float()
            return {"loss": soft_target_cross_entropy(logits, targets)}
        logits = model(x).float()
        loss = soft_target_cross_entropy(logits, smooth_one_hot(y, self.num_classes, self.label_smoothing))
        with torch.no_grad():
            acc = (logits.argmax(-1) == y).float().mean()
        return {"loss": loss, "acc": acc}

    @torch.no_grad()
    def eval_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = model(batch["video"]).float()
        y = batch["label"]
        return {"loss": F.cross_entropy(logits, y), "acc": (logits.argmax(-1) == y).float().mean() * 100}


# ------------------------------------------------------------------------------------------- models
def build_classifier(
    spec: EncoderSpec | None,
    num_classes: int,
    init: str | Path | None = None,
    head_type: str = "linear",
    drop_path_rate: float | None = None,
    fc_drop_rate: float = 0.0,
) -> InternVideo2:
    """A classifier of ``spec``'s geometry (or of ``init``'s saved config when ``spec`` is None).

    ``init``: a ``save_pretrained`` folder of ours; its trunk and pooling weights are loaded strictly
    (decoders of other stages are dropped with a log line; the head and ``fc_norm`` start fresh unless the
    checkpoint has a head of the same shape).
    """
    from ..models.convert import load_checkpoint
    from ..models.hub import from_pretrained

    src = None
    if init is not None:
        init = Path(init)
        if not init.is_dir():
            raise CheckpointError(
                f"{str(init)!r} is not a save_pretrained folder (config.json + model.safetensors)"
            )
        src = from_pretrained(init)
    if spec is None and src is None:
        raise ConfigError("build_classifier needs an encoder spec or an init checkpoint")
    base = spec.vision_config() if spec is not None else src.cfg  # type: ignore[union-attr]
    cfg = base.replace(
        num_classes=num_classes,
        head_type=head_type,
        fc_drop_rate=fc_drop_rate,
        drop_path_rate=base.drop_path_rate if drop_path_rate is None else drop_path_rate,
        clip_decoder="none",
        clip_teacher_embed_dim=0,
        clip_teacher_final_dim=0,
        clip_return_layer=0,
        mae_teacher_embed_dim=0,
        mae_return_layer=0,
    )
    model = InternVideo2(cfg)
    if src is not None:
        sd = src.state_dict()
        target = model.state_dict()
        head = ("head.", "fc_norm.", "extra_mlp.")
        sd = {
            k: v
            for k, v in sd.items()
            if not (k.startswith(head) and (k not in target or v.shape != target[k].shape))
        }
        load_checkpoint(model, sd, strict=True, allow_missing=head, source=str(init))
        logger.info("classifier initialised from %s", init)
    return model


def set_probing(model: InternVideo2, mode: ProbeMode) -> InternVideo2:
    """Freeze for probing: ``linear`` trains ``fc_norm`` + ``head`` (+ ``extra_mlp``); ``attentive`` also
    the attention-pooling ``clip_projector``; ``full`` trains everything."""
    if mode not in ("full", "linear", "attentive"):
        raise ConfigError(f"mode must be full, linear or attentive, got {mode!r}")
    trainable = {
        "full": ("",),
        "linear": ("fc_norm.", "head.", "extra_mlp."),
        "attentive": ("fc_norm.", "head.", "extra_mlp.", "clip_projector."),
    }[mode]
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(trainable))
    return model


def load_label_map(path: str | Path) -> list[int]:
    """A JSON list of source-class indices, one per target class (``label_mixto600.json`` style), or an
    object ``{target_index: source_index}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot read label map {str(path)!r}: {e}") from e
    if isinstance(data, dict):
        data = [data[k] for k in sorted(data, key=int)]
    if not isinstance(data, list) or not all(isinstance(i, int) for i in data):
        raise ConfigError(f"{str(path)!r}: a label map is a list of integer class indices")
    return data


def transfer_head(model: InternVideo2, index: Sequence[int] | int) -> InternVideo2:
    """Keep the head rows ``index`` (target class ``i`` <- source class ``index[i]``), in place.

    An int ``n`` keeps the first ``n`` rows (K710 -> K400). The rest of the model is untouched.
    """
    if not isinstance(model.head, nn.Linear):
        raise ConfigError("transfer_head needs a classifier with a linear head")
    idx = list(range(index)) if isinstance(index, int) else list(index)
    n_src = model.head.out_features
    bad = [i for i in idx if not 0 <= i < n_src]
    if bad:
        raise ConfigError(f"label map refers to classes {bad[:5]} outside the head's {n_src} classes")
    sel = torch.tensor(idx, device=model.head.weight.device)
    new = nn.Linear(model.head.in_features, len(idx)).to(model.head.weight.device, model.head.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(model.head.weight[sel])
        new.bias.copy_(model.head.bias[sel])
    model.head = new
    model.num_classes = len(idx)
    model.cfg = model.cfg.replace(num_classes=len(idx))
    return model


# ------------------------------------------------------------------------------------------- recipes
@dataclass(frozen=True)
class AugmentConfig:
    """Fine-tuning augmentation (see :func:`internvideo.train.augment.build_finetune_transform`)."""

    scale: tuple[float, float] = (0.08, 1.0)
    hflip: float = 0.0  # flips swap direction-sensitive classes: keep 0 for SSv2 / the synthetic world
    rand_aug_n: int = 4  # 0 turns RandAugment off
    rand_aug_m: float = 7.0
    erase_prob: float = 0.25


@dataclass(frozen=True)
class FinetuneRecipe:
    """A fine-tuning run: encoder (or an init checkpoint), data, augmentation, mixing, mode, evaluation."""

    encoder: EncoderSpec = field(default_factory=lambda: EncoderSpec(drop_path_rate=0.1))
    init: str = ""  # save_pretrained folder (e.g. a stage-1 run's encoder/); empty: random initialisation
    num_classes: int = 17
    mode: ProbeMode = "full"
    head_type: Literal["linear", "attentive"] = "linear"
    data: ClipData = field(default_factory=ClipData)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    label_smoothing: float = 0.1
    mix: MixConfig = field(default_factory=lambda: MixConfig(0.8, 1.0, label_smoothing=0.1))
    test_clips: int = 2
    test_crops: int = 3
    test_limit: int | None = None
    label_map: str = ""  # JSON index list applied to an initialising classifier's head
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=600,
            batch_size=32,
            optim=OptimConfig(lr=1e-3, weight_decay=0.05, layer_decay=0.75),
            schedule=ScheduleConfig(warmup_steps=50, min_lr_ratio=0.01),
            clip_grad_norm=5.0,
            log_every=20,
            ckpt_every=200,
            keep_last=1,
            out_dir="runs/finetune_tiny_synth",
        )
    )


def finetune_tiny_synth() -> FinetuneRecipe:
    """Fine-tune a tiny encoder on the synthetic world (17 classes); set ``init=`` to a stage-1 encoder.

    Lighter than the published recipe (no RandAugment, erasing or mixing, crops of 70-100 %): a model this
    small trained on a few hundred clips underfits under the full augmentation (measured: chance-level loss
    after 140 steps). Frames are sampled at a fixed stride (``data.sampling="stride"``). The published
    settings are one override away (``augment.rand_aug_n=4 mix.prob=1``).
    """
    r = FinetuneRecipe()
    return dataclasses.replace(
        r,
        # equal gaps between frames: the world's speed classes (speeds_up / slows_down) depend on them
        data=dataclasses.replace(r.data, sampling="stride"),
        augment=AugmentConfig(scale=(0.7, 1.0), rand_aug_n=0, erase_prob=0.0),
        mix=dataclasses.replace(r.mix, prob=0.0),
        train=dataclasses.replace(r.train, optim=OptimConfig(lr=2e-3, weight_decay=0.05, layer_decay=0.85)),
    )


def finetune_published_b14_k400() -> FinetuneRecipe:
    """The published B/14 K400 fine-tuning setting (documented, not run here): 8 frames, 224 px,
    lr 2e-5 x 1024/256, layer decay 0.75, drop path 0.1, 5 epochs (1 warm-up), mixup 0.8 / cutmix 1.0,
    label smoothing 0.1, RandAugment m7-n4, random erasing 0.25, 4 clips x 3 crops at test."""
    return FinetuneRecipe(
        encoder=EncoderSpec.published(768, 12, 12, drop_path_rate=0.1),
        init="runs/distill_b14/encoder",
        num_classes=400,
        data=ClipData(
            train="data/k400/train.csv", test="data/k400/val.csv", cache=False, workers=8, synth_train_clips=0
        ),
        augment=AugmentConfig(scale=(0.08, 1.0), hflip=0.5),
        test_clips=4,
        train=TrainConfig(
            epochs=5,
            batch_size=32,
            optim=OptimConfig(lr=8e-5, weight_decay=0.05, layer_decay=0.75),
            schedule=ScheduleConfig(warmup_steps=1200, min_lr_ratio=0.0),
            precision="bf16",
            num_workers=8,
            log_every=50,
            ckpt_every=1000,
            out_dir="runs/b14_k400",
        ),
    )


def _transforms(recipe: FinetuneRecipe):
    from ..data.transforms import build_eval_transform
    from .augment import build_finetune_transform

    a = recipe.augment
    size = recipe.encoder.img_size
    train_tf = build_finetune_transform(
        size,
        scale=a.scale,
        hflip=a.hflip,
        rand_aug=(a.rand_aug_n, a.rand_aug_m) if a.rand_aug_n > 0 else None,
        erase_prob=a.erase_prob,
    )
    test_tf = build_eval_transform(size, mode="three_crop" if recipe.test_crops == 3 else "center")
    return train_tf, test_tf


def evaluate_classifier(
    model: InternVideo2,
    recipe: FinetuneRecipe,
    frame_order: str = "natural",
    out_dir: str | Path | None = None,
    class_names: Sequence[str] | None = None,
    subsets: dict[str, Sequence[int]] | None = None,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Multi-view test of ``model`` on ``recipe.data.test`` (``test_clips`` x ``test_crops`` views).

    With ``out_dir`` the confusion matrix is saved as ``confusion_<frame_order>.png`` and the metrics as
    ``test_<frame_order>.json``.
    """
    from ..data.labelled import LabelledVideoDataset, read_labelled
    from ..eval.multiview import multiview_metrics, predict_views, save_confusion_matrix

    if recipe.test_crops not in (1, 3):
        raise ConfigError(f"test_crops must be 1 or 3, got {recipe.test_crops}")
    _, test_tf = _transforms(recipe)
    rows = read_labelled(recipe.data.test)
    if recipe.test_limit is not None:
        rows = rows[: recipe.test_limit]
    ds = LabelledVideoDataset(
        rows,
        num_frames=recipe.encoder.num_frames,
        transform=test_tf,
        sampling=recipe.data.sampling,
        test_views=(recipe.test_clips, recipe.test_crops),
        frame_order=frame_order,  # type: ignore[arg-type]
        cache=recipe.data.cache,
        num_classes=recipe.num_classes,
    )
    logits, labels = predict_views(model, ds, batch_size=batch_size, precision=recipe.train.precision)
    m = multiview_metrics(logits, labels, recipe.num_classes, subsets=subsets)
    if out_dir is not None:
        out_dir = Path(out_dir)
        from .._io import atomic_write_text

        save_confusion_matrix(
            m["confusion"],
            out_dir / f"confusion_{frame_order}.png",
            class_names,
            title=f"test ({frame_order} frames), top-1 {m['top1']:.1f} %",
        )
        record = {k: v for k, v in m.items() if k != "confusion"}
        record["confusion"] = m["confusion"].tolist()
        record["skipped"] = ds.skipped
        atomic_write_text(out_dir / f"test_{frame_order}.json", json.dumps(record, indent=1) + "\n")
    return m


def run_finetune(recipe: FinetuneRecipe, resume: bool = True, hooks=(), evaluate: bool = True):
    """Train ``recipe``, save ``out_dir/final`` (``save_pretrained``), test on multiple views and plot the
    curves. Returns ``(model, test metrics or {})``."""
    from ..data.labelled import collate_labelled
    from ..models.hub import save_pretrained
    from .distributed import get_rank
    from .loop import Trainer
    from .sampling import seed_everything

    train_tf, _ = _transforms(recipe)
    data = clip_dataset(
        recipe.data,
        train_tf,
        recipe.encoder.num_frames,
        seed=recipe.train.seed,
        num_classes=recipe.num_classes,
    )
    seed_everything(recipe.train.seed)
    init = recipe.init or None
    model = build_classifier(
        recipe.encoder if init is None else None,
        recipe.num_classes if not recipe.label_map else _init_classes(init),
        init=init,
        head_type=recipe.head_type,
        drop_path_rate=recipe.encoder.drop_path_rate,
    )
    if recipe.label_map:
        transfer_head(model, load_label_map(recipe.label_map))
    set_probing(model, recipe.mode)
    task = FinetuneTask(recipe.num_classes, recipe.label_smoothing, recipe.mix)
    trainer = Trainer(
        model, task, data, recipe.train, collate_fn=collate_labelled, hooks=hooks, run_config=recipe
    )
    trainer.fit(resume=resume)
    out = Path(recipe.train.out_dir)
    metrics: dict[str, Any] = {}
    if get_rank() == 0:
        model.eval()
        save_pretrained(model, out / "final", model_name="internvideo2_tiny_patch14_56")
        try:
            from .plots import plot_training_curves

            plot_training_curves(out / "metrics.jsonl", out / "curves.png")
        except ImportError as e:
            logger.warning("training curves not drawn: %s", e)
        if evaluate and recipe.data.test:
            metrics = evaluate_classifier(model, recipe, out_dir=out)
            logger.info("test: top-1 %.2f top-5 %.2f", metrics["top1"], metrics["top5"])
    return model, metrics


def _init_classes(init: str) -> int:
    from ..models.hub import CONFIG_NAME

    cfg = json.loads((Path(init) / CONFIG_NAME).read_text())["config"]
    return int(cfg["num_classes"])
