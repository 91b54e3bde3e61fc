"""The Ray Data engine gives the same outputs as the local engine (a local Ray instance on 2 CPUs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from internvideo.curation import CaptionConfig, CurationConfig, read_manifest, run_pipeline

pytest.importorskip("ray.data", reason="needs Ray Data (pip install 'internvideo[ray]')")


def test_ray_engine_matches_local_engine(tmp_path: Path, cut_videos, tiny_model_dir, caption_bank) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for p, _, _ in cut_videos[:2]:
        shutil.copy(p, inputs / p.name)
    (inputs / "broken.mp4").write_bytes(cut_videos[2][0].read_bytes()[:3000])
    cfg = CurationConfig(
        caption=CaptionConfig(
            captioner="retrieval", caption_bank=str(caption_bank), model=str(tiny_model_dir)
        ),
        shard_size=8,
    )
    local = run_pipeline([inputs], tmp_path / "local", cfg, workers=1, progress=False)
    ray_res = run_pipeline([inputs], tmp_path / "ray", cfg, engine="ray", workers=2, progress=False)

    rows = read_manifest(local.manifest)
    assert len(rows) >= 10 and all(r["vt_score"] is not None for r in rows)
    assert read_manifest(ray_res.manifest) == rows
    assert ray_res.manifest.read_bytes() == local.manifest.read_bytes()
    assert [p.name for p in ray_res.shards] == [p.name for p in local.shards]
    for a, b in zip(ray_res.shards, local.shards):
        assert a.read_bytes() == b.read_bytes()
    assert ray_res.dropped.read_text() == local.dropped.read_text()
    assert '"reason": "truncated"' in local.dropped.read_text()
    assert ray_res.stage_counts == local.stage_counts
