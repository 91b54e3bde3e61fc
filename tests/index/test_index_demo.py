"""The demo's mechanics with a random model (it must notice the misses), and its choice of queries."""

from __future__ import annotations

from pathlib import Path

from internvideo.cli import main
from internvideo.demo import pick_queries


def _row(i: int, shape: str, colour: str, label: int) -> dict:
    return {
        "video_path": f"/c/{i}.mp4",
        "objects": [{"shape": shape, "colour": colour}],
        "label": label,
        "captions": [f"caption {i}", f"reworded {i}"],
        "captions_heldout": [f"paraphrase {i}"],
    }


def test_pick_queries_has_unambiguous_ground_truth() -> None:
    rows = [
        _row(0, "circle", "red", 0),  # shares (shape, colour) with row 3: skipped
        _row(1, "star", "blue", 1),  # the long video's target: skipped
        _row(2, "cross", "green", 2),
        _row(3, "circle", "red", 4),
        _row(4, "square", "pink", 2),  # same action as row 2: skipped
        _row(5, "diamond", "white", 5),
    ]
    q = pick_queries(rows, avoid={("star", "blue")}, n=5)
    assert [x["clip"]["video_path"] for x in q] == ["/c/2.mp4", "/c/5.mp4"]
    assert [x["text"] for x in q] == ["reworded 2", "caption 5"] and [x["paraphrase"] for x in q] == [
        True,
        False,
    ]
    assert [x["heldout"] for x in q] == ["paraphrase 2", "paraphrase 5"]
    assert [x["truth"] for x in q] == [{"/c/2.mp4"}, {"/c/5.mp4"}]


def test_demo_runs_and_fails_on_misses(model_dir: Path, tmp_path: Path, capsys) -> None:
    rc = main(
        [
            "demo",
            "--model",
            str(model_dir),
            "--out",
            str(tmp_path / "demo"),
            "--media",
            str(tmp_path / "none"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 1  # a random model does not find the ground truth; the demo says so with its exit code
    assert "FAILED:" in out and "queries missed their ground truth" in out
    assert out.count("query ") >= 5 and "(paraphrase)" in out and "(caption)" in out
    assert "(held-out vocabulary, shown but not checked)" in out
    assert "moment search" in out and "zero-shot classification over the 17 synthetic classes" in out
    assert "timings:" in out and "index:" in out and "re-run: 0 embedded" in out
    assert (tmp_path / "demo" / "index" / "index.json").exists()
