"""A procedurally generated video-text(-audio) world with known ground truth.

Real encoded mp4 files of shapes that move, grow, turn, fade, bounce and change colour on varied
backgrounds, with captions (and held-out paraphrases), multiple-choice QA, long videos for temporal
localisation, moment queries and an optional synchronised sound track. See docs/synthetic_world.md.

>>> from internvideo.data.synth import generate_world
>>> manifests = generate_world("/tmp/world", num_clips={"train": 100, "test": 20}, workers=2)
"""

from __future__ import annotations

from .audio import audio_events, describe_audio, render_audio
from .captions import captions, moment_queries, qa_pairs
from .generate import clip_record, encode_mp4, generate_world, make_clip, read_manifest, video_encoder
from .render import render_clip, render_frames
from .spec import ClipSpec, ObjectTrack, action_for_index, sample_clip_spec, sample_long_spec
from .world import (
    BACKGROUNDS,
    CLASS_INDEX,
    CLASSES,
    COLOURS,
    DIRECTION_PAIRS,
    SHAPES,
    SPLITS,
    TEMPORAL_PAIRS,
    TEXTURES,
    WorldConfig,
    is_compositional_holdout,
)

__all__ = [
    "BACKGROUNDS",
    "CLASSES",
    "CLASS_INDEX",
    "COLOURS",
    "DIRECTION_PAIRS",
    "SHAPES",
    "SPLITS",
    "TEMPORAL_PAIRS",
    "TEXTURES",
    "ClipSpec",
    "ObjectTrack",
    "WorldConfig",
    "action_for_index",
    "audio_events",
    "captions",
    "clip_record",
    "describe_audio",
    "encode_mp4",
    "generate_world",
    "is_compositional_holdout",
    "make_clip",
    "moment_queries",
    "qa_pairs",
    "read_manifest",
    "render_audio",
    "render_clip",
    "render_frames",
    "sample_clip_spec",
    "sample_long_spec",
    "video_encoder",
]
