"""The whole pipeline: bad inputs, kill-and-resume determinism, captioning and scoring, training on shards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import pytest
import torch
from curation_helpers import CAPTIONS, write_bad_inputs

from internvideo._paths import shared_dir
from internvideo.curation import CaptionConfig, CurationConfig, read_manifest, run_pipeline
from internvideo.data.shards import iter_shard
from internvideo.data.video import VideoReader, load_video


def _inputs(tmp: Path, cut_videos) -> tuple[Path, dict[str, str]]:
    d = tmp / "inputs"
    d.mkdir()
    for p, _, _ in cut_videos:
        shutil.copy(p, d / p.name)
    media = shared_dir()
    expected = write_bad_inputs(d, media / "media" if media else None, cut_videos[0][0])
    return d, expected


def _frames_from_bytes(data: bytes, idx: list[int]) -> torch.Tensor:
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(data)
        f.flush()
        with VideoReader(f.name, backend="pyav") as r:
            return r.get_frames(idx).float()


def test_pipeline_drops_bad_inputs_and_cuts_on_true_shots(tmp_path: Path, cut_videos) -> None:
    inputs, expected = _inputs(tmp_path, cut_videos)
    res = run_pipeline([inputs], tmp_path / "out", progress=False)
    dropped = [json.loads(line) for line in res.dropped.read_text().splitlines()]
    by_file = {Path(d["source_path"]).name: d for d in dropped if d["stage"] == "probe"}
    for name, reason in expected.items():
        if reason:
            assert by_file[name]["reason"] == reason, by_file.get(name)
            assert by_file[name]["detail"]
        else:
            assert name not in by_file
    rows = read_manifest(res.manifest)
    assert rows and [r["index"] for r in rows] == list(range(len(rows)))
    assert any(
        Path(r["source_path"]).name == "motion_jpeg.mp4" for r in rows
    )  # an unusual codec goes through
    # every clip of a synthetic video spans one true shot (+-2 frames) and starts on its frame
    truth = {p.name: (cuts, n) for p, cuts, n in cut_videos}
    shards = {}
    for s in res.shards:
        shards.update(dict(iter_shard(s)))
    checked = 0
    for r in rows:
        name = Path(r["source_path"]).name
        if name not in truth:
            continue
        cuts, n = truth[name]
        bounds = [0, *cuts, n]
        assert min(abs(r["start_frame"] - b) for b in bounds) <= 2
        assert min(abs(r["end_frame"] - b) for b in bounds) <= 2
        members = shards[r["clip_id"]]
        meta = json.loads(members["json"])
        assert meta == r
        k = r["num_frames"]
        assert k == r["end_frame"] - r["start_frame"]
        got = _frames_from_bytes(members["mp4"], [0, k - 1])
        with VideoReader(r["source_path"], backend="pyav") as src:
            want = src.get_frames([r["start_frame"], r["end_frame"] - 1]).float()
        assert (got - want).abs().mean() < 3.0
        checked += 1
    assert checked >= 20
    # every clip of the stage counts is accounted for: kept + dropped after extraction
    c = res.stage_counts
    assert c["inputs"]["out"] == len(expected) + len(cut_videos)
    assert c["probe"]["out"] == len(cut_videos) + sum(1 for r in expected.values() if not r)
    assert c["extract"]["out"] == c["filter"]["out"] + c["filter"]["dropped"]
    assert c["write"]["out"] == len(rows)
    report = json.loads((res.out_dir / "report.json").read_text())
    png = (res.out_dir / report["histograms"]["duration"]["file"]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    idat = png[png.index(b"IDAT") + 4 : png.index(b"IEND") - 8]
    assert len(zlib.decompress(idat)) == h * (1 + 3 * w)


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_killed_run_resumes_to_identical_outputs(tmp_path: Path, cut_videos) -> None:
    inputs, _ = _inputs(tmp_path, cut_videos)
    ref = run_pipeline([inputs], tmp_path / "ref", workers=2, progress=False)  # process pool, uninterrupted

    out = tmp_path / "resumed"
    cmd = [
        sys.executable,
        "-m",
        "internvideo",
        "curate",
        "run",
        str(inputs),
        "--out",
        str(out),
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    marker = out / "work" / "stages" / "quality"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if marker.is_dir() and any(marker.glob("*.json")):
            break
        time.sleep(0.02)
    assert proc.poll() is None, (
        f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    )
    proc.kill()
    proc.wait()
    assert not (out / "manifest.parquet").exists()
    done_before = len(list(marker.glob("*.json")))
    assert done_before < len(list(inputs.iterdir()))  # it really stopped midway

    again = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (out / "manifest.parquet").read_bytes() == ref.manifest.read_bytes()
    names = sorted(p.name for p in (out / "shards").iterdir())
    assert names == sorted(p.name for p in ref.shards)
    for name in names:
        assert (out / "shards" / name).read_bytes() == (ref.out_dir / "shards" / name).read_bytes()
    assert (out / "dropped.jsonl").read_bytes() == ref.dropped.read_bytes()
    # a different configuration is refused in the same work dir
    bad = subprocess.run([*cmd, "--shard-size", "3"], env=_env(), capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "another configuration" in bad.stderr


def test_retrieval_captions_scores_and_a_training_step(
    tmp_path: Path, cut_videos, tiny_model_dir, caption_bank
) -> None:
    from torch.utils.data import DataLoader

    from internvideo.data.datasets import collate_video_text
    from internvideo.data.shards import ShardDataset
    from internvideo.data.transforms import build_eval_transform, build_train_transform
    from internvideo.models import from_pretrained
    from internvideo.train.video_text import Stage2Task

    cfg = CurationConfig(
        caption=CaptionConfig(
            captioner="retrieval", caption_bank=str(caption_bank), model=str(tiny_model_dir)
        ),
        shard_size=4,
    )
    res = run_pipeline([cut_videos[1][0]], tmp_path / "out", cfg, progress=False)
    rows = read_manifest(res.manifest)
    assert len(rows) >= 8 and len(res.shards) == (len(rows) + 3) // 4

    model = from_pretrained(tiny_model_dir).eval()
    transform = build_eval_transform(56, mode="squash")
    samples = {k: m for s in res.shards for k, m in iter_shard(s)}
    with torch.inference_mode():
        t = model.encode_text(CAPTIONS)
        for r in rows:
            with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
                f.write(samples[r["clip_id"]]["mp4"])
                f.flush()
                x = transform(load_video(f.name, num_frames=4, sampling="middle", backend="pyav"))
            v = model.encode_video(x[None])[0]
            sims = t @ v
            assert r["caption"] == CAPTIONS[int(sims.argmax())]
            assert r["caption_source"] == "retrieved" and r["caption_model"] == str(tiny_model_dir)
            assert r["caption_score"] == pytest.approx(float(sims.max()), abs=1e-4)
            assert r["vt_score"] == pytest.approx(float(sims.max()), abs=1e-4)
            assert r["vt_model"] == str(tiny_model_dir)

    # the shards feed the training code: a stage-2 step on a batch read from them
    ds = ShardDataset(
        res.out_dir / "shards", num_frames=4, sampling="rand", transform=build_train_transform(56)
    )
    loader = DataLoader(ds, batch_size=4, collate_fn=collate_video_text(model.tokenize))
    batch = next(iter(loader))
    assert batch["video"].shape == (4, 3, 4, 56, 56)
    assert batch["video_id"].tolist() == [0, 1, 2, 3]
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    before = model.vision_proj.weight.detach().clone()
    out = Stage2Task(vtc=1.0, vtm=1.0, mlm=1.0).training_step(model, batch)
    assert torch.isfinite(out["loss"]) and out["vtc"] > 0
    out["loss"].backward()
    opt.step()
    assert not torch.equal(before, model.vision_proj.weight)


def test_cli_annotations_command(tmp_path: Path, capsys) -> None:
    from internvideo.cli import main

    p = tmp_path / "a.jsonl"
    p.write_text(
        '{"YoutubeID": "abcdefghijk", "Start_timestamp": "00:00:01.000", "End_timestamp": "00:00:03.500", '
        '"Caption": "a dog runs", "UMT_Score": 0.41}\n'
    )
    assert main(["curate", "annotations", str(p), "--out", str(tmp_path / "m.parquet")]) == 0
    assert "wrote 1 rows" in capsys.readouterr().out
    rows = read_manifest(tmp_path / "m.parquet")
    assert rows[0]["duration"] == pytest.approx(2.5) and rows[0]["vt_score"] == pytest.approx(0.41)
    assert main(["curate", "run", str(tmp_path / "nothing_here"), "--out", str(tmp_path / "o")]) == 1
