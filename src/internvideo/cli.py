"""The ``internvideo`` command. The CLI owns the terminal; library code only logs.

Exit codes: 0 success, 1 a runtime failure (bad file, bad checkpoint, failed check), 2 a usage error.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import InternVideoError, JobInterrupted

log = logging.getLogger("internvideo")


def printable(text: str) -> str:
    """``text`` with control characters written as escapes (``\\n``, ``\\t``, ``\\x1b``...): a file name
    holding a newline must not break a table, nor one holding an escape sequence drive the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    cells = [list(map(str, header))] + [[printable(str(c)) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- models
def cmd_models(args: argparse.Namespace) -> int:
    from .models.registry import _REGISTRY, get_pretrained_cfg, list_models

    names = list_models(args.pattern, pretrained=args.pretrained)
    if args.json:
        print(json.dumps(names, indent=1))
        return 0
    if args.pretrained:
        rows = []
        for n in names:
            c = get_pretrained_cfg(n)
            rows.append(
                (
                    n,
                    c.num_frames,
                    c.num_classes or "-",
                    "yes" if c.loadable and c.filename else "manual",
                    c.hub_id,
                )
            )
        print(_table(rows, ["model.tag", "frames", "classes", "fetch", "hub id"]))
    else:
        print(_table([(n, _REGISTRY[n].description) for n in names], ["model", "description"]))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import dataclasses

    import torch

    from .models import count_params, create_model
    from .models.registry import get_pretrained_cfg, split_name

    with torch.device("meta"):
        model = create_model(args.model)
    arch, tag = split_name(args.model)
    out: dict[str, object] = {
        "model": arch,
        "class": type(model).__name__,
        "parameters_millions": round(count_params(model) / 1e6, 2),
        "config": dataclasses.asdict(model.cfg),
    }
    if tag:
        out["pretrained"] = dataclasses.asdict(get_pretrained_cfg(args.model))
    print(json.dumps(out, indent=2, default=str))
    return 0


# ---------------------------------------------------------------------------------------------- convert
def cmd_convert(args: argparse.Namespace) -> int:
    from .models import create_model, load_checkpoint, read_state_dict, save_pretrained
    from .models.convert import infer_vision_config

    t0 = time.perf_counter()
    sd = read_state_dict(args.src)
    overrides = {
        k: v for k, v in (("num_frames", args.num_frames), ("img_size", args.img_size)) if v is not None
    }
    if args.model:
        model = create_model(args.model, gelu=args.gelu, **overrides)
        name = args.model
    else:
        cls, cfg = infer_vision_config(sd, img_size=args.img_size or 224, gelu=args.gelu)
        if overrides:
            cfg = cfg.replace(**overrides)
        model, name = cls(cfg), None
        print(
            f"inferred architecture: {cls.__name__} width {cfg.embed_dim}, depth {cfg.depth}, "
            f"{cfg.num_frames} frames, {cfg.num_classes} classes"
        )
    load_checkpoint(model, sd, strict=not args.non_strict, orig_num_frames=args.orig_num_frames)
    save_pretrained(model, args.dst, model_name=name, converted_from=str(Path(args.src).name))
    print(f"wrote {args.dst}/config.json and model.safetensors ({time.perf_counter() - t0:.1f} s)")
    return 0


# ---------------------------------------------------------------------------------------------- probe
def cmd_probe(args: argparse.Namespace) -> int:
    import dataclasses

    from .data.video import probe

    failures = 0
    infos = []
    for p in args.videos:
        try:
            infos.append(dataclasses.asdict(probe(p)))
        except InternVideoError as e:
            failures += 1
            infos.append({"path": str(p), "error": str(e)})
    if args.json:
        print(json.dumps(infos, indent=1, default=str))
    else:
        rows = [
            (
                i["path"],
                i["codec"],
                f"{i['width']}x{i['height']}",
                f"{i['fps']:.3f}",
                i["num_frames"],
                f"{i['duration']:.2f}",
            )
            for i in infos
            if "error" not in i
        ]
        if rows:
            print(_table(rows, ["file", "codec", "size", "fps", "frames", "seconds"]))
        for i in infos:
            if "error" in i:
                print(f"error: {i['error']}", file=sys.stderr)
    return 1 if failures else 0


# ---------------------------------------------------------------------------------------------- synth
def cmd_synth(argv: list[str]) -> int:
    from .data.synth.cli import main as synth_main

    return synth_main(argv)


# ---------------------------------------------------------------------------------------------- train / eval
def cmd_train(argv: list[str]) -> int:
    from .train.__main__ import main as train_main

    return train_main(argv, prog="internvideo train")


def cmd_eval(args: argparse.Namespace) -> int:
    from .data.datasets import VideoTextDataset
    from .data.transforms import build_eval_transform
    from .models import create_model, from_pretrained
    from .train.video_text import evaluate_video_text, synth_class_prompts, synth_match_key

    model = (
        from_pretrained(args.model)
        if Path(args.model).is_dir()
        else create_model(args.model, pretrained=True)
    )
    model.eval()
    vcfg = model.cfg.vision
    ds = VideoTextDataset(
        args.manifest,
        num_frames=vcfg.num_frames,
        sampling="middle",
        transform=build_eval_transform(vcfg.img_size, mode="squash"),
        limit=args.limit,
    )
    synthetic = all("objects" in r and r.get("label") is not None for r in ds.rows)
    fields = [f for f in ("captions", "captions_heldout") if all(f in r for r in ds.rows)] or ["caption"]
    metrics = evaluate_video_text(
        model,
        ds,
        caption_fields=fields,
        match_key=synth_match_key if synthetic else None,
        class_prompts=synth_class_prompts() if synthetic else None,
    )
    if args.json:
        print(json.dumps(metrics, indent=1))
    else:
        rows = [(k, f"{v:.2f}") for k, v in metrics.items() if isinstance(v, float)]
        print(_table(rows, ["metric", "value"]))
    return 0


# ---------------------------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(media_dir=args.media, out_dir=Path(args.out), model=args.model)


# ---------------------------------------------------------------------------------------------- delegated
# Commands implemented next to their feature: "module:function", the function takes (argv, prog) -> exit code.
DELEGATED_COMMANDS: dict[str, tuple[str, str]] = {
    "index": ("internvideo.index.cli:index_main", "embed a video collection into a searchable index"),
    "search": ("internvideo.index.cli:search_main", "natural-language search of an index"),
    "similar": ("internvideo.index.cli:similar_main", "videos of an index nearest to a video"),
    "classify": ("internvideo.index.cli:classify_main", "zero-shot labels for videos"),
    "embed": ("internvideo.index.cli:embed_main", "one embedding per video (or per window)"),
    "extract-features": (
        "internvideo.index.cli:extract_features_main",
        "encoder features per window for downstream heads",
    ),
    "curate": ("internvideo.curation.cli:main", "raw videos -> clips -> captions -> scores -> shards"),
}


def _run_delegated(command: str, argv: list[str]) -> int:
    import importlib

    target = DELEGATED_COMMANDS[command][0]
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)(argv, prog=f"internvideo {command}")


# ---------------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="internvideo", description="InternVideo2 video foundation models.")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("models", help="list registered models (or those with released weights)")
    s.add_argument("pattern", nargs="?", default="*", help="glob, e.g. '*1b*'")
    s.add_argument("--pretrained", action="store_true", help="list model.tag names that have weights")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_models)

    s = sub.add_parser("info", help="configuration, parameter count and pretrained record of a model")
    s.add_argument("model", help="model name, optionally with .tag")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("convert", help="convert an upstream InternVideo2 checkpoint into our format")
    s.add_argument("src", help="upstream .pt/.pth/.bin/.safetensors file")
    s.add_argument("dst", help="output folder (config.json + model.safetensors)")
    s.add_argument("--model", help="registered model name (default: inferred from the checkpoint)")
    s.add_argument("--num-frames", type=int, help="frames of the converted model (position tables resized)")
    s.add_argument("--img-size", type=int, help="input size of the converted model (default 224)")
    s.add_argument("--orig-num-frames", type=int, help="frames the checkpoint's position table holds")
    s.add_argument(
        "--gelu",
        choices=["tanh", "none"],
        default="tanh",
        help="MLP activation: tanh (released checkpoints) or exact erf",
    )
    s.add_argument("--non-strict", action="store_true", help="load the overlapping keys only (logged)")
    s.set_defaults(func=cmd_convert)

    s = sub.add_parser("probe", help="print duration, fps, frame count and size of videos")
    s.add_argument("videos", nargs="+")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_probe)

    sub.add_parser(
        "synth", help="generate the synthetic video-text world (see 'internvideo synth -h')", add_help=False
    )
    sub.add_parser(
        "train", help="run a training recipe: internvideo train RECIPE [key=value ...]", add_help=False
    )

    for name, (_, help_text) in DELEGATED_COMMANDS.items():
        sub.add_parser(name, help=f"{help_text} (see 'internvideo {name} -h')", add_help=False)

    s = sub.add_parser("eval", help="retrieval (and zero-shot, on the synthetic world) metrics of a model")
    s.add_argument("manifest", help="JSONL manifest with video + caption(s)")
    s.add_argument("--model", required=True, help="registered name (with .tag) or save_pretrained folder")
    s.add_argument("--limit", type=int, help="evaluate the first N entries only")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("demo", help="index, search and classify a small collection with the default model")
    s.add_argument(
        "--media", default=None, help="folder of real videos to include (default: ../shared/media if present)"
    )
    s.add_argument("--out", default="demo_out", help="working folder")
    s.add_argument("--model", default=None, help="model to run the demo with (default: the embedded default)")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from .runtime import tune_malloc, tune_openmp

    # the command owns its process (see internvideo.runtime): OpenMP threads that do not hold cores
    # after the model stops (before anything loads torch), and tensor memory kept for reuse
    tune_openmp()
    tune_malloc()
    argv = list(sys.argv[1:] if argv is None else argv)
    # subcommands with their own parser receive the rest of the line untouched
    delegated: dict[str, Callable[[list[str]], int]] = {"synth": cmd_synth, "train": cmd_train}
    for i, a in enumerate(argv):
        if not a.startswith("-"):
            _setup_logging(argv[:i].count("-v") + argv[:i].count("--verbose"))
            if a in delegated:
                return _guard(functools.partial(delegated[a], argv[i + 1 :]))
            if a in DELEGATED_COMMANDS:
                return _guard(functools.partial(_run_delegated, a, argv[i + 1 :]))
            break
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    return _guard(lambda: args.func(args))


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _guard(fn: Callable[[], int]) -> int:
    try:
        return fn()
    except InternVideoError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except JobInterrupted as e:
        print(f"interrupted: {printable(str(e))}; run the same command again to continue", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
