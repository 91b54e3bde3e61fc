"""Vector search (exact, faiss) and the search / similar commands against hand-computed rankings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from internvideo.index import VectorSearch, VideoIndex, build_index, search_text, similar_videos
from internvideo.index.cli import search_main, similar_main
from internvideo.index.search import top_k


def _random_unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_top_k_matches_a_full_sort_and_breaks_ties_by_row() -> None:
    scores = np.array([[0.5, 0.9, 0.5, 0.1, 0.9, 0.5], [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]], np.float32)
    idx, val = top_k(scores, 4)
    assert idx.tolist() == [[1, 4, 0, 2], [3, 0, 1, 2]]
    np.testing.assert_array_equal(val, np.take_along_axis(scores, idx, 1))
    s = _random_unit(50, 8, 1) @ _random_unit(300, 8, 2).T
    idx, _ = top_k(s, 10)
    assert idx.tolist() == np.argsort(-s, axis=1, kind="stable")[:, :10].tolist()
    assert top_k(s, 1000)[0].shape == (50, 300)  # k larger than N: everything, sorted


def test_exact_and_faiss_agree_on_10k_vectors() -> None:
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install 'internvideo[index]')")
    vectors, queries = _random_unit(10_000, 64, 0), _random_unit(20, 64, 1)
    exact, faiss = VectorSearch(vectors, "exact"), VectorSearch(vectors, "faiss")
    assert (exact.backend, faiss.backend) == ("exact", "faiss")
    e, f = exact.search(queries, 10), faiss.search(queries, 10)
    brute = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :10]
    for qe, qf, b in zip(e, f, brute):
        assert [h.row for h in qe] == [h.row for h in qf] == b.tolist()
        np.testing.assert_allclose([h.score for h in qe], [h.score for h in qf], atol=1e-5)


@pytest.fixture(scope="module")
def index_dir(world, model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("search") / "idx"
    build_index([world["test"].parent / "videos"], out, model, window=4.0, stride=2.0, workers=0)
    return out


def test_search_ranks_by_cosine(index_dir: Path, model) -> None:
    idx = VideoIndex.open(index_dir)
    q = ["a red circle moves to the left", "a blue square grows"]
    results = search_text(idx, model, q, k=5)
    with torch.inference_mode():
        t = model.encode_text(q).numpy()
    for res, tq in zip(results, t):
        scores = np.asarray(idx.vectors) @ tq
        order = np.argsort(-scores, kind="stable")[:5]
        assert [r.id for r in res] == [idx.items[i]["id"] for i in order]
        np.testing.assert_allclose([r.score for r in res], scores[order], atol=1e-5)
        assert [r.rank for r in res] == [1, 2, 3, 4, 5]


def test_search_command_json_and_kind(index_dir: Path, model_dir: Path, capsys) -> None:
    rc = search_main(
        [str(index_dir), "a shape fades in", "-k", "3", "--json", "--kind", "segment"],
        prog="internvideo search",
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["query"] == "a shape fades in" and len(out["results"]) == 3
    scores = [r["score"] for r in out["results"]]
    assert scores == sorted(scores, reverse=True)
    for r in out["results"]:
        assert r["kind"] == "segment" and r["end"] - r["start"] == pytest.approx(4.0)
        assert r["id"] == f"{r['path']}@{r['start']:.3f}-{r['end']:.3f}"
    # table output names the columns and shows the segment times
    assert search_main([str(index_dir), "a shape fades in", "-k", "2", "--kind", "segment"], prog="s") == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["rank", "score", "video", "time"] and "0:0" in text


def test_search_refuses_another_model(index_dir: Path, tmp_path: Path) -> None:
    from internvideo.models import save_pretrained
    from internvideo.models.default import TinySynthModelConfig, build_tiny_synth_model

    torch.manual_seed(1)
    other = build_tiny_synth_model(
        TinySynthModelConfig(img_size=56, embed_dim=64, depth=1, num_heads=2, clip_embed_dim=32, joint_dim=32)
    )
    save_pretrained(other, tmp_path / "other", external={"text_encoder.bert.embeddings.": "minilm"})
    from internvideo.cli import main

    assert main(["search", str(index_dir), "anything", "--model", str(tmp_path / "other")]) == 1


def test_similar_excludes_the_query_video(index_dir: Path, model, tmp_path: Path, capsys) -> None:
    idx = VideoIndex.open(index_dir)
    videos = [i for i, it in enumerate(idx.items) if it["kind"] == "video"]
    q = videos[2]
    qpath = idx.items[q]["path"]
    res = similar_videos(idx, qpath, k=4)
    cos = {i: float(np.dot(idx.vectors[i], idx.vectors[q])) for i in videos if i != q}
    expected = sorted(cos, key=lambda i: (-cos[i], i))[:4]
    assert [r.id for r in res] == [idx.items[i]["id"] for i in expected]
    assert all(r.path != qpath and r.kind == "video" for r in res)
    # a file outside the index is embedded with the index's model: a copy of an indexed clip finds it first
    copy = tmp_path / "copy.mp4"
    shutil.copyfile(qpath, copy)
    assert similar_main([str(index_dir), str(copy), "-k", "2", "--json"], prog="s") == 0
    out = json.loads(capsys.readouterr().out)["results"]
    assert len(out) == 2 and out[0]["path"] == qpath and out[0]["score"] == pytest.approx(1.0, abs=1e-5)

    # a long video outside the index is embedded as the index embedded its copy (the mean of its
    # segments, with the index's window and stride), so the copy comes first with a score of 1
    long_row = next(i for i, it in enumerate(idx.items) if it["kind"] == "segment")
    long_path = idx.items[long_row]["path"]
    long_copy = tmp_path / "long_copy.mp4"
    shutil.copyfile(long_path, long_copy)
    res = similar_videos(idx, long_copy, k=1)
    assert res[0].path == long_path and res[0].score == pytest.approx(1.0, abs=1e-5)
    # ``embed`` with the index's settings gives the stored vectors themselves (this random model puts
    # every clip within a cosine of 1e-6 of every other, so compare vectors, not scores)
    from internvideo.index import embed_videos

    rows = idx.rows_of(long_path, kind=None)
    manifest = embed_videos(model, [long_copy], tmp_path / "emb", window=4.0, stride=2.0, workers=0)
    e = np.load(tmp_path / "emb" / manifest[0]["file"])
    assert manifest[0]["kinds"] == [idx.items[r]["kind"] for r in rows]
    np.testing.assert_allclose(e, np.asarray(idx.vectors)[rows], atol=1e-6)
