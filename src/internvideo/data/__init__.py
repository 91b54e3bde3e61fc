"""Data layer: video/audio decoding, frame sampling and transforms.

Readers return ``uint8 (T, C, H, W)`` RGB frames; encoders take float ``(B, C, T, H, W)``
(see :func:`internvideo.data.transforms.to_encoder_input`).
"""

from __future__ import annotations

from internvideo.data.audio import kaldi_fbank, load_audio, mel_banks
from internvideo.data.sampling import (
    SAMPLING_POLICIES,
    dense_windows,
    fps_indices,
    middle_indices,
    rand_indices,
    random_segment_indices,
    sample_indices,
    segment_indices,
)
from internvideo.data.transforms import (
    CLIP_MEAN,
    CLIP_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    VideoTransform,
    build_eval_transform,
    build_train_transform,
    center_crop,
    normalize,
    random_horizontal_flip,
    random_resized_crop,
    resize,
    resize_short_side,
    squash_resize,
    three_crop,
    to_encoder_input,
)
from internvideo.data.video import AudioStreamInfo, VideoInfo, VideoReader, load_video, probe

__all__ = [
    "AudioStreamInfo",
    "CLIP_MEAN",
    "CLIP_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SAMPLING_POLICIES",
    "VideoInfo",
    "VideoReader",
    "VideoTransform",
    "build_eval_transform",
    "build_train_transform",
    "center_crop",
    "dense_windows",
    "fps_indices",
    "kaldi_fbank",
    "load_audio",
    "load_video",
    "mel_banks",
    "middle_indices",
    "normalize",
    "probe",
    "rand_indices",
    "random_horizontal_flip",
    "random_resized_crop",
    "random_segment_indices",
    "resize",
    "resize_short_side",
    "sample_indices",
    "segment_indices",
    "squash_resize",
    "three_crop",
    "to_encoder_input",
]
