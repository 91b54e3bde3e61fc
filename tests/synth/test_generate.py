"""Generated files and manifests: decoding, probing, schema, determinism, audio, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from synth_helpers import decode_rgb, small_world

from internvideo.data.synth import (
    CLASSES,
    generate_world,
    is_compositional_holdout,
    render_clip,
    sample_clip_spec,
)
from internvideo.data.synth.generate import read_manifest
from internvideo.data.synth.world import WorldConfig

REQUIRED = {
    "id", "split", "kind", "video", "fps", "num_frames", "duration", "width", "height", "has_audio",
    "label", "label_name", "captions", "captions_heldout", "objects", "background", "events", "qa",
    "moment_queries", "audio", "seed", "index",
}  # fmt: skip


def _all_records(manifests: dict[str, Path]) -> list[dict]:
    return [r for p in manifests.values() for r in read_manifest(p)]


def test_manifest_files_and_layout(varied_world):
    assert set(varied_world) == {"train", "val", "test", "comp_test", "long_test"}
    root = varied_world["train"].parent
    meta = json.loads((root / "world.json").read_text())
    assert meta["classes"] == list(CLASSES)
    assert meta["video_encoder"] in ("libx264", "libopenh264", "mpeg4")
    leftovers = [p for p in root.rglob("*") if ".tmp" in p.name]
    assert not leftovers, leftovers
    for rec in _all_records(varied_world):
        assert REQUIRED <= set(rec), REQUIRED - set(rec)
        assert not Path(rec["video"]).is_absolute() and Path(rec["video_path"]).is_file()
        for ev in rec["events"]:
            assert 0 <= ev["start"] <= ev["end"] <= rec["duration"]
            assert CLASSES[ev["label"]] == ev["action"]


def test_short_clip_records(varied_world):
    recs = read_manifest(varied_world["train"])
    assert [r["index"] for r in recs] == list(range(20))
    for r in recs:
        assert r["label_name"] == CLASSES[r["label"]] == CLASSES[r["index"] % len(CLASSES)]
        assert len(r["captions"]) >= 3 and len(r["captions_heldout"]) >= 2
        assert not set(r["captions"]) & set(r["captions_heldout"])
        for q in r["qa"]:
            assert 2 <= len(q["options"]) <= 4 and 0 <= q["answer"] < len(q["options"])
            assert len(set(q["options"])) == len(q["options"])
        assert {q["type"] for q in r["qa"]} >= {"action", "colour", "shape", "count", "audio"}
        assert r["audio"]["events"] and r["audio"]["description"]
        assert r["duration"] == pytest.approx(12 / 10.0)


def test_compositional_split_never_in_train(varied_world):
    frac = WorldConfig().comp_holdout_fraction
    train = {
        (r["objects"][0]["shape"], r["objects"][0]["colour"], r["label_name"])
        for r in read_manifest(varied_world["train"])
    }
    comp = {
        (r["objects"][0]["shape"], r["objects"][0]["colour"], r["label_name"])
        for r in read_manifest(varied_world["comp_test"])
    }
    assert all(is_compositional_holdout(*t, frac) for t in comp)
    assert not any(is_compositional_holdout(*t, frac) for t in train)
    assert not train & comp


def test_compositional_rule_over_whole_vocabulary():
    cfg = WorldConfig()
    for i in range(3 * len(CLASSES)):
        spec = sample_clip_spec(cfg, "train", i)
        assert not is_compositional_holdout(spec.target.shape, spec.target.colour[0], spec.label_name)
        spec = sample_clip_spec(cfg, "comp_test", i)
        assert is_compositional_holdout(spec.target.shape, spec.target.colour[0], spec.label_name)


def test_every_file_decodes_and_probe_matches(varied_world):
    """Every file decodes with the project's reader when it exists (PyAV otherwise)."""
    try:
        from internvideo.data.video import VideoReader, probe
    except ImportError:
        probe = VideoReader = None
    import av

    for rec in _all_records(varied_world):
        path = rec["video_path"]
        if probe is not None:
            info = probe(path)
            assert info.num_frames == rec["num_frames"]
            assert info.fps == pytest.approx(rec["fps"], rel=1e-3)
            assert (info.width, info.height) == (rec["width"], rec["height"])
            assert info.has_audio == rec["has_audio"]
            frames = VideoReader(path).get_frames(list(range(rec["num_frames"])))
            assert tuple(frames.shape) == (rec["num_frames"], 3, rec["height"], rec["width"])
            assert np.array_equal(frames.permute(0, 2, 3, 1).numpy(), decode_rgb(path))
        with av.open(path) as c:
            vs = c.streams.video[0]
            assert vs.frames == rec["num_frames"]
            assert float(vs.average_rate) == pytest.approx(rec["fps"], rel=1e-3)
            assert (vs.codec_context.width, vs.codec_context.height) == (rec["width"], rec["height"])
            assert len(c.streams.audio) == (1 if rec["has_audio"] else 0)
        assert decode_rgb(path).shape == (rec["num_frames"], rec["height"], rec["width"], 3)


def test_audio_track_is_synchronised(varied_world):
    import av

    from internvideo.data.synth import render_audio, sample_clip_spec

    rec = next(r for r in read_manifest(varied_world["train"]) if r["label_name"] == "bounces")
    with av.open(rec["video_path"]) as c:
        a = c.streams.audio[0]
        assert a.codec_context.name == "aac" and a.sample_rate == 16000
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    assert len(pcm) >= 0.9 * rec["duration"] * 16000
    cfg = WorldConfig(height=64, width=64, fps=10.0, num_frames=12, with_audio=True, camera_jitter=0.7)
    ref = render_audio(sample_clip_spec(cfg, "train", rec["index"]))
    (click,) = [e for e in rec["audio"]["events"] if e["type"] == "click"]
    assert click["start"] == pytest.approx(rec["events"][0]["bounce_times"][0], abs=1e-3)
    # the loudest 10 ms window of the reference track is the click
    win = 160
    energy = np.convolve(ref**2, np.ones(win), "valid")
    assert abs(np.argmax(energy) / 16000 - click["start"]) < 0.02
    assert np.abs(pcm).max() > 0.3  # the click survives AAC


def test_determinism_and_order_independence(varied_world, tmp_path):
    again = small_world(tmp_path / "again", seed=0, workers=1)
    for name, path in varied_world.items():
        assert path.read_bytes() == again[name].read_bytes(), name
        for r1, r2 in zip(read_manifest(path), read_manifest(again[name])):
            assert np.array_equal(decode_rgb(r1["video_path"]), decode_rgb(r2["video_path"])), r1["id"]
            assert Path(r1["video_path"]).read_bytes() == Path(r2["video_path"]).read_bytes(), r1["id"]
    other = generate_world(
        tmp_path / "other",
        num_clips={"train": 3},
        size=64,
        fps=10.0,
        num_frames=12,
        seed=1,
        workers=1,
        with_audio=True,
        camera_jitter=0.7,
        progress=False,
    )
    a, b = read_manifest(varied_world["train"])[:3], read_manifest(other["train"])
    assert [r["captions"] for r in a] != [r["captions"] for r in b]
    for r1, r2 in zip(a, b):
        assert not np.array_equal(decode_rgb(r1["video_path"]), decode_rgb(r2["video_path"]))


def test_encoded_frames_match_rendered(varied_world):
    cfg = WorldConfig(height=64, width=64, fps=10.0, num_frames=12, with_audio=True, camera_jitter=0.7)
    rec = read_manifest(varied_world["test"])[0]
    ref = render_clip(sample_clip_spec(cfg, "test", rec["index"])).astype(np.float32)
    dec = decode_rgb(rec["video_path"]).astype(np.float32)
    assert np.abs(ref - dec).mean() < 4.0  # lossy but faithful


def test_cli(tmp_path, capsys):
    from internvideo.data.synth.cli import main

    assert main(["--list-classes", str(tmp_path)]) == 0
    assert "moves_left" in capsys.readouterr().out
    out = tmp_path / "cli"
    rc = main([str(out), "--train", "3", "--val", "0", "--test", "2", "--comp-test", "0", "--size", "48",
               "--frames", "8", "--workers", "1", "--quiet", "--backgrounds", "plain,noise"])  # fmt: skip
    assert rc == 0
    assert len(read_manifest(out / "train.jsonl")) == 3 and len(read_manifest(out / "test.jsonl")) == 2
    assert main([str(out), "--size", "33", "--quiet"]) == 2  # odd size: a readable error, no traceback


def test_falls_back_to_mpeg4_with_a_warning(monkeypatch, caplog, tmp_path):
    import av

    from internvideo.data.synth import encode_mp4, video_encoder

    real = av.codec.Codec

    def no_h264(name, mode="r"):
        if name in ("libx264", "libopenh264"):
            raise ValueError(f"no encoder {name}")
        return real(name, mode)

    video_encoder.cache_clear()
    monkeypatch.setattr(av.codec, "Codec", no_h264)
    try:
        with caplog.at_level("WARNING"):
            assert video_encoder("h264") == "mpeg4"
        assert "mpeg4" in caplog.text
    finally:
        video_encoder.cache_clear()
        monkeypatch.undo()
    frames = render_clip(sample_clip_spec(WorldConfig(height=48, width=64, num_frames=10), "val", 2))
    encode_mp4(tmp_path / "a.mp4", [frames], 12.5, 64, 48, codec="mpeg4", audio=np.zeros(8000, np.float32))
    with av.open(str(tmp_path / "a.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "mpeg4" and c.streams.video[0].frames == 10
    assert np.abs(decode_rgb(tmp_path / "a.mp4").astype(np.float32) - frames).mean() < 6
    assert video_encoder("h264") in ("libx264", "libopenh264")
