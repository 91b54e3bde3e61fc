"""classify, embed and extract-features against hand-computed references."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from internvideo.data import VideoReader, build_eval_transform, dense_windows, middle_indices
from internvideo.errors import ConfigError
from internvideo.eval.zeroshot import zero_shot_classify
from internvideo.index.cli import classify_main, embed_main, extract_features_main


def _clip(path: Path | str, frames: list[int], size: int = 56) -> torch.Tensor:
    with VideoReader(path) as r:
        return build_eval_transform(size, mode="squash")(r.get_frames(frames))


@pytest.fixture(scope="module")
def clips(world) -> list[Path]:
    return sorted((world["test"].parent / "videos" / "test").glob("*.mp4"))[:3]


def test_classify_zero_shot(clips, model, model_dir: Path, capsys) -> None:
    labels = ["moves left", "grows", "fades out"]
    rc = classify_main(
        [*map(str, clips), "--labels", ",".join(labels), "--model", str(model_dir), "--json"], prog="c"
    )
    assert rc == 0
    rows = json.loads(capsys.readouterr().out)
    x = torch.stack([_clip(c, middle_indices(8, 16)) for c in clips])
    ref = zero_shot_classify(model, x, labels).numpy()
    for row, c, p in zip(rows, clips, ref):
        assert row["path"] == str(c)
        got = np.array([row["scores"][name] for name in labels])
        np.testing.assert_allclose(got, p, atol=1e-5)
        assert row["label"] == labels[int(p.argmax())] and sum(row["scores"].values()) == pytest.approx(1.0)
    # a table for people, and an unreadable video makes the exit code 1
    bad = clips[0].parent.parent.parent / "bad.mp4"
    bad.write_bytes(b"junk" * 100)
    try:
        assert (
            classify_main([str(clips[0]), str(bad), "--labels", "a,b", "--model", str(model_dir)], prog="c")
            == 1
        )
    finally:
        bad.unlink()
    out = capsys.readouterr()
    assert out.out.splitlines()[0].split()[:2] == ["video", "#1"] and "not_a_video" in out.err


def test_classify_with_a_fine_tuned_classifier(clips, tmp_path: Path, capsys) -> None:
    from internvideo.models import create_model, save_pretrained

    torch.manual_seed(0)
    clf = create_model("internvideo2_tiny_patch14_56", num_frames=8, num_classes=3).eval()
    save_pretrained(clf, tmp_path / "clf")
    rc = classify_main(
        [str(clips[0]), "--labels", "x,y,z", "--model", str(tmp_path / "clf"), "--json"], prog="c"
    )
    assert rc == 0
    row = json.loads(capsys.readouterr().out)[0]
    # classifiers use their own protocol: one "segment" view, short side + centre crop
    from internvideo.data import segment_indices

    with VideoReader(clips[0]) as r:
        x = build_eval_transform(56, mode="center")(r.get_frames(segment_indices(8, 16)))
    with torch.inference_mode():
        ref = clf(x[None]).softmax(-1)[0].numpy()
    np.testing.assert_allclose([row["scores"][k] for k in "xyz"], ref, atol=1e-5)
    with pytest.raises(ConfigError, match="names 2 classes but the classifier has 3"):
        classify_main([str(clips[0]), "--labels", "x,y", "--model", str(tmp_path / "clf")], prog="c")


def test_embed_npy_and_manifest(world, clips, model, model_dir: Path, tmp_path: Path, capsys) -> None:
    long_video = Path(json.loads(world["long_test"].read_text().splitlines()[0])["video"])
    long_video = world["long_test"].parent / long_video
    out = tmp_path / "emb"
    args = [
        str(clips[0]),
        str(long_video),
        "--out",
        str(out),
        "--model",
        str(model_dir),
        "--window",
        "6",
        "--stride",
        "6",
    ]
    assert embed_main([*args, "--json"], prog="e") == 0
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    by_name = {Path(m["video"]).name: m for m in manifest}
    short, long_ = by_name[clips[0].name], by_name[long_video.name]
    assert short["shape"] == [1, 32] and long_["shape"] == [3, 32]  # whole + windows 0-6 s, 6-12 s
    assert long_["kinds"] == ["video", "segment", "segment"] and long_["starts"] == [0.0, 0.0, 6.0]
    e = np.load(out / long_["file"])
    with torch.inference_mode():
        ref = model.encode_video(
            torch.stack(
                [
                    _clip(long_video, middle_indices(8, 48)),
                    _clip(long_video, [48 + i for i in middle_indices(8, 48)]),
                ]
            )
        ).numpy()
    np.testing.assert_allclose(e[1:], ref, atol=1e-5)
    # the whole-video row of a video with windows is the normalised mean of its window rows, as in an index
    mean = ref.mean(0)
    np.testing.assert_allclose(e[0], mean / np.linalg.norm(mean), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)


def test_extract_features_grid_and_layers(world, model, model_dir: Path, tmp_path: Path) -> None:
    long_video = (
        world["long_test"].parent / json.loads(world["long_test"].read_text().splitlines()[0])["video"]
    )
    out = tmp_path / "feat"
    base = [str(long_video), "--out", str(out), "--model", str(model_dir), "--window", "16", "--stride", "8"]
    assert extract_features_main([*base, "--no-progress"], prog="x") == 0
    m = json.loads((out / "manifest.jsonl").read_text())
    windows = dense_windows(96, 16, 8)
    f = np.load(out / m["file"])
    assert f.shape == (len(windows), 32) == tuple(m["shape"]) and m["layer"] == "pooled"
    assert (m["window_frames"], m["stride_frames"], m["fps"]) == (16, 8, 8.0)
    assert m["starts"][:3] == [0.0, 1.0, 2.0] and m["ends"][0] == 2.0
    j = 3
    x = _clip(long_video, [windows[j][i] for i in middle_indices(8, 16)])[None]
    with torch.inference_mode():
        np.testing.assert_allclose(f[j], model.vision_encoder.forward_pooled(x)[0].numpy(), atol=1e-5)
        _, hidden = model.vision_encoder.forward_intermediates(x, indices=[0])
    assert extract_features_main([*base, "--layer", "0", "--format", "safetensors"], prog="x") == 0
    m = json.loads((out / "manifest.jsonl").read_text())
    g = load_file(str(out / m["file"]))["features"]
    assert g.shape == (len(windows), 64) and m["file"].endswith(".safetensors")
    np.testing.assert_allclose(g[j], hidden[0].mean(1)[0].numpy(), atol=1e-5)
    with pytest.raises(ConfigError, match="blocks 0..0"):
        extract_features_main([*base, "--layer", "7"], prog="x")


def _copies(world, folder: Path, n: int) -> list[Path]:
    folder.mkdir()
    out = []
    for f in sorted((world["test"].parent / "videos" / "test").glob("*.mp4"))[:n]:
        (folder / f.name).write_bytes(f.read_bytes())
        out.append(folder / f.name)
    return out


def test_embed_keeps_what_an_interrupted_run_wrote_and_resumes(
    world, model, tmp_path: Path, monkeypatch
) -> None:
    """Arrays are written as videos complete: Ctrl-C keeps them (with a partial manifest, not a stale
    complete one), and a re-run with the same settings computes only the rest; the result equals an
    uninterrupted run's."""
    from internvideo.errors import JobInterrupted
    from internvideo.index import embed_videos

    videos = _copies(world, tmp_path / "v", 4)
    ref = embed_videos(model, videos, tmp_path / "ref", batch_size=2, workers=0)
    out = tmp_path / "emb"
    embed_videos(model, videos, out, window=4.0, batch_size=2, workers=0)  # other settings, complete
    real, calls = model.encode_video, []

    def stopped(x, normalize=False):
        calls.append(len(x))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(x, normalize=normalize)

    monkeypatch.setattr(model, "encode_video", stopped)
    with pytest.raises(JobInterrupted, match=f"^2 of 4 videos written to {out} are kept$") as e:
        embed_videos(model, videos, out, batch_size=2, workers=0)
    monkeypatch.undo()
    assert e.value.kept == 2
    # the earlier complete manifest (window 4 s) no longer describes the folder: only the partial one does
    assert (
        not (out / "manifest.jsonl").exists() and not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))
    )
    partial = [json.loads(line) for line in (out / ".manifest.partial.jsonl").read_text().splitlines()]
    assert sorted(m["video"] for m in partial if m["window"] == 0.0) == sorted(map(str, videos[:2]))

    again = embed_videos(model, videos, out, batch_size=2, workers=0)
    assert again.reused == 2 and [m["video"] for m in again] == list(map(str, videos))
    assert not (out / ".manifest.partial.jsonl").exists()
    assert (out / "manifest.jsonl").read_text().splitlines() == [json.dumps(m) for m in again]
    for a, b in zip(again, ref):
        assert {k: v for k, v in a.items() if k != "video"} == {k: v for k, v in b.items() if k != "video"}
        np.testing.assert_allclose(np.load(out / a["file"]), np.load(tmp_path / "ref" / b["file"]), atol=1e-6)

    # nothing changed: nothing computed; a file changed since: only it is computed again
    monkeypatch.setattr(model, "encode_video", lambda *a, **k: pytest.fail("nothing should be embedded"))
    assert embed_videos(model, videos, out, workers=0).reused == 4
    monkeypatch.undo()
    videos[1].write_bytes(videos[1].read_bytes())  # same content, new modification time
    assert embed_videos(model, videos, out, workers=0).reused == 3


def test_features_cli_says_what_was_kept(world, model_dir: Path, tmp_path: Path, capsys) -> None:
    videos = _copies(world, tmp_path / "v", 2)
    base = [*map(str, videos), "--out", str(tmp_path / "f"), "--model", str(model_dir), "--no-progress"]
    assert extract_features_main(base, prog="x") == 0
    assert "wrote 2 files and" in capsys.readouterr().out
    assert extract_features_main([*base, "--json"], prog="x") == 0
    assert json.loads(capsys.readouterr().out)["reused"] == 2
    assert extract_features_main([*base, "--stride", "8"], prog="x") == 0  # other settings: all again
    assert "wrote 2 files and" in capsys.readouterr().out
