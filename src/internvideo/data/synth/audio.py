"""A sound track synchronised with the visual events of a clip.

While the target object is visible a sine tone sounds whose pitch is set by its colour
(:data:`~internvideo.data.synth.world.COLOUR_PITCH_HZ`) and whose loudness follows its opacity (a
fade in is heard as a crescendo); every bounce adds a short click at the moment of impact. The
events are returned alongside the samples so audio-visual and audio-text tasks have ground truth.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .spec import ClipSpec
from .world import COLOUR_PITCH_HZ

TONE_LEVEL = 0.2
CLICK_LEVEL = 0.6
CLICK_SECONDS = 0.02
CLICK_HZ = 2000.0


def render_audio(spec: ClipSpec) -> np.ndarray:
    """Mono float32 samples in [-1, 1] at ``spec.audio_sample_rate``, ``spec.duration`` long."""
    sr = spec.audio_sample_rate
    n = int(round(spec.duration * sr))
    target = spec.target
    pitch = np.array([COLOUR_PITCH_HZ[c] for c in target.colour], np.float64)
    # Frame f covers [f / fps, (f + 1) / fps); pitch and loudness are interpolated between frame centres.
    t = (np.arange(n, dtype=np.float64) + 0.5) / sr
    frame_pos = np.clip(t * spec.fps - 0.5, 0.0, spec.num_frames - 1)
    idx = np.arange(spec.num_frames)
    freq = np.exp(np.interp(frame_pos, idx, np.log(pitch)))
    amp = TONE_LEVEL * np.interp(frame_pos, idx, target.alpha.astype(np.float64))
    phase = 2 * np.pi * np.cumsum(freq) / sr
    out = amp * np.sin(phase)
    click_n = int(CLICK_SECONDS * sr)
    ct = np.arange(click_n) / sr
    click = CLICK_LEVEL * np.exp(-ct / (CLICK_SECONDS / 5)) * np.sin(2 * np.pi * CLICK_HZ * ct)
    for time_s in bounce_times(spec):
        s0 = int(round(time_s * sr))
        s1 = min(n, s0 + click_n)
        if s0 < n:
            out[s0:s1] += click[: s1 - s0]
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def bounce_times(spec: ClipSpec) -> list[float]:
    """Seconds at which the target hits a wall (frame ``f`` is shown at ``f / fps``)."""
    out: list[float] = []
    for ev in spec.events:
        out.extend(f / spec.fps for f in ev.get("bounce_frames", []))
    return sorted(out)


def audio_events(spec: ClipSpec) -> list[dict[str, Any]]:
    """Ground-truth sound events: tone segments (one per colour run while visible) and clicks."""
    events: list[dict[str, Any]] = []
    target = spec.target
    run_start = None
    for f in range(spec.num_frames + 1):
        audible = f < spec.num_frames and target.alpha[f] > 0.05
        same = run_start is not None and audible and target.colour[f] == target.colour[run_start]
        if run_start is not None and not same:
            colour = target.colour[run_start]
            events.append(
                {
                    "type": "tone",
                    "start": round(run_start / spec.fps, 4),
                    "end": round(f / spec.fps, 4),
                    "freq_hz": COLOUR_PITCH_HZ[colour],
                    "colour": colour,
                }
            )
            run_start = None
        if audible and run_start is None:
            run_start = f
    for t in bounce_times(spec):
        events.append({"type": "click", "start": round(t, 4), "end": round(t + CLICK_SECONDS, 4)})
    events.sort(key=lambda e: (e["start"], e["type"]))
    return events


def describe_audio(spec: ClipSpec) -> str:
    """A one-sentence description of the sound track."""
    parts = []
    for ev in audio_events(spec):
        if ev["type"] == "tone":
            parts.append(
                f"a {ev['freq_hz']:.0f} Hz tone (the pitch of {ev['colour']}) from {ev['start']:.2f} s "
                f"to {ev['end']:.2f} s"
            )
        else:
            parts.append(f"a click at {ev['start']:.2f} s as the object bounces")
    alpha = spec.target.alpha
    if not spec.is_long and alpha[-1] - alpha[0] > 0.5:
        parts.append("the tone grows louder as the object fades in")
    elif not spec.is_long and alpha[0] - alpha[-1] > 0.5:
        parts.append("the tone dies away as the object fades out")
    if not parts:
        return "silence"
    return "; ".join(parts)
