"""The released InternVideo2 vision checkpoints (``reference/internvideo2_architecture.md`` §5).

Each record says where the file is, which registered architecture it fits, how many frames and classes it
has and how inputs must be prepared. File names the public model cards do not state are left empty; for
those, download the file yourself and pass ``pretrained=<path>`` (``create_model`` says so).
"""

from __future__ import annotations

from .registry import PretrainedCfg, add_pretrained

_K = {"k710": 710, "k400": 400, "k600": 600, "k700": 700, "ssv1": 174, "ssv2": 174, "mit": 339}
_SINGLE = "single-modality fine-tuning protocol: segment sampling, short side 224, 3 crops x 4 clips"


def _ft(hub_id: str, filename: str, frames: int, label_set: str, description: str) -> PretrainedCfg:
    return PretrainedCfg(
        hub_id=hub_id,
        filename=filename,
        num_frames=frames,
        num_classes=_K[label_set],
        ckpt_num_frames=frames,
        sampling="segment",
        resize="short_side",
        test_views=(2, 3) if label_set.startswith("ss") else (4, 3),
        label_set=label_set,
        description=f"{description}; {_SINGLE}",
    )


def _register() -> None:
    # ---- InternVideo2-1B (single modality) ------------------------------------------------------
    add_pretrained(
        "internvideo2_pretrain_1b_patch14_224",
        "stage1_f8",
        PretrainedCfg(
            hub_id="OpenGVLab/InternVideo2-Stage1-1B-224p-f8",
            filename="pretrain.pth",
            num_frames=8,
            ckpt_num_frames=8,
            description="stage-1 student after masked distillation on K-Mash (no classifier)",
        ),
    )
    one_b = "internvideo2_1b_patch14_224"
    rows = [
        ("k710_f8", "OpenGVLab/InternVideo2-Stage1-1B-224p-f8-k710", "1B_ft_k710_f8.pth", 8, "k710"),
        (
            "k710_ft_k400_f8",
            "OpenGVLab/InternVideo2-Stage1-1B-224p-f8-K400",
            "1B_ft_k710_ft_k400_f8.pth",
            8,
            "k400",
        ),
        (
            "k710_ft_k400_f16",
            "OpenGVLab/InternVideo2-Stage1-1B-224p-f8-K400",
            "1B_ft_k710_ft_k400_f16.pth",
            16,
            "k400",
        ),
        (
            "k710_ft_k600_f16",
            "OpenGVLab/InternVideo2-Stage1-1B-224p-f8-K600",
            "1B_ft_k710_ft_k600_f16.pth",
            16,
            "k600",
        ),
        (
            "k710_ft_k700_f8",
            "OpenGVLab/InternVideo2-Stage1-1B-224p-K700",
            "1B_ft_k710_ft_k700_f8.pth",
            8,
            "k700",
        ),
        (
            "k710_ft_k700_f16",
            "OpenGVLab/InternVideo2-Stage1-1B-224p-K700",
            "1B_ft_k710_ft_k700_f16.pth",
            16,
            "k700",
        ),
        ("mit_f8", "OpenGVLab/InternVideo2-Stage1-1B-224p-f8-MiT", "", 8, "mit"),
        ("ssv1_f8", "OpenGVLab/InternVideo2-Stage1-1B-224p-f8-SthSth", "1B_ft_ssv1_f8.pth", 8, "ssv1"),
        ("ssv2_f8", "OpenGVLab/InternVideo2-Stage1-1B-224p-f8-SthSth", "1B_ft_ssv2_f8.pth", 8, "ssv2"),
    ]
    for tag, hub, fname, frames, labels in rows:
        add_pretrained(
            one_b, tag, _ft(hub, fname, frames, labels, f"InternVideo2-1B fine-tuned on {labels.upper()}")
        )

    # ---- S/B/L distilled from the 1B (single modality) -----------------------------------------
    repo = "OpenGVLab/InternVideo2_distillation_models"
    for size, short in (("small", "S14"), ("base", "B14"), ("large", "L14")):
        add_pretrained(
            f"internvideo2_distill_{size}_patch14_224",
            "dist_1b_stage2_f8",
            PretrainedCfg(
                hub_id=repo,
                filename=f"stage1/{short}/{short}_dist_1B_stage2/pytorch_model.bin",
                num_frames=8,
                ckpt_num_frames=8,
                description=f"InternVideo2-{short} distilled from the 1B stage-2 vision encoder",
            ),
        )
        for tag, labels in (
            ("k710_f8", "k710"),
            ("k710_ft_k400_f8", "k400"),
            ("k710_ft_k600_f8", "k600"),
            ("k710_ft_k700_f8", "k700"),
            ("ssv2_f8", "ssv2"),
        ):
            fname = f"stage1/{short}/{short}_ft_{tag[:-3]}_f8/pytorch_model.bin"
            add_pretrained(
                f"internvideo2_{size}_patch14_224",
                tag,
                _ft(repo, fname, 8, labels, f"InternVideo2-{short} fine-tuned on {labels.upper()}"),
            )

    # ---- Stage-2 multimodal vision backbones (the vision_encoder.* part of the full model) -------
    add_pretrained(
        "internvideo2_stage2_vision_1b_patch14_224",
        "stage2_f4",
        PretrainedCfg(
            hub_id="OpenGVLab/InternVideo2-Stage2_1B-224p-f4",
            filename="InternVideo2-stage2_1b-224p-f4.pt",
            num_frames=4,
            ckpt_num_frames=4,
            sampling="middle",
            resize="squash",
            test_views=(1, 1),
            description="vision tower of the stage-2 1B video-text model (BERT-large text side loads separately)",
            extra={"also_at": "OpenGVLab/InternVideo2 / InternVideo2-stage2_1b-224p-f4.pt"},
        ),
    )
    add_pretrained(
        "internvideo2_stage2_vision_6b_patch14_224",
        "stage2_f4",
        PretrainedCfg(
            hub_id="OpenGVLab/InternVideo2-Stage2_6B-224p-f4",
            filename="",
            num_frames=4,
            ckpt_num_frames=4,
            sampling="middle",
            resize="squash",
            test_views=(1, 1),
            description="vision tower of the stage-2 6B audio-visual model (file name not published)",
            loadable=False,
        ),
    )
    # ---- CLIP variants: vision towers (num_classes=0) loaded from stage-2 / distilled weights ------
    for size, hub, note in (
        (
            "1b",
            "OpenGVLab/InternVideo2-CLIP-1B-224p-f8",
            "trainable part only; vision from the stage-2 1B file",
        ),
        (
            "6b",
            "OpenGVLab/InternVideo2-CLIP-6B-224p-f8",
            "trainable part only; vision from the stage-2 6B file",
        ),
    ):
        add_pretrained(
            f"internvideo2_{size}_patch14_224",
            "clip_f8",
            PretrainedCfg(
                hub_id=hub,
                filename="",
                num_frames=8,
                ckpt_num_frames=4,
                sampling="middle",
                resize="squash",
                test_views=(1, 1),
                description=f"InternVideo2-CLIP vision tower ({note})",
                loadable=False,
            ),
        )
    for size, short in (("small", "S14"), ("base", "B14"), ("large", "L14")):
        add_pretrained(
            f"internvideo2_{size}_patch14_224",
            "clip_f8",
            PretrainedCfg(
                hub_id=repo,
                filename=f"clip/{short}/pytorch_model.bin",
                num_frames=8,
                ckpt_num_frames=8,
                sampling="middle",
                resize="squash",
                test_views=(1, 1),
                description=f"InternVideo2-CLIP-{short} vision tower (+ vision_align; MobileCLIP text side)",
                loadable=False,
            ),
        )

    # ---- the embedded default (weights inside this package) ------------------------------------
    add_pretrained(
        "internvideo2_tiny_synth",
        "synth",
        PretrainedCfg(
            hub_id="embedded",
            filename="internvideo2_tiny_synth",
            format="embedded",
            num_frames=8,
            img_size=112,
            sampling="middle",
            resize="squash",
            test_views=(1, 1),
            license="apache-2.0 (text tower: all-MiniLM-L6-v2, MIT)",
            description="default video-text model trained on the synthetic world (see its MODEL_CARD.md)",
        ),
    )


_register()
