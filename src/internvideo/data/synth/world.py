"""Vocabulary and configuration of the synthetic video-text world.

The world is a small set of named things (shapes, colours, textures, backgrounds) and a set of
action classes. Several actions come in *temporal pairs*: the two members differ only by the order
of time (moves left / moves right, grows / shrinks, ...), so their frames, taken one at a time or as
an unordered set, are identically distributed. Only a model that uses time can tell them apart.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from typing import Any

from internvideo.errors import ConfigError

# --------------------------------------------------------------------------------------------------
# Things
# --------------------------------------------------------------------------------------------------

#: Shapes. Every shape fits in a circle of its radius ``r`` (the circumradius).
SHAPES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "pentagon",
    "hexagon",
    "star",
    "cross",
    "diamond",
    "ellipse",
    "rectangle",
)

#: Shapes whose second moments are anisotropic, so their orientation is visible and measurable.
ELONGATED_SHAPES: tuple[str, ...] = ("diamond", "ellipse", "rectangle")

#: Named colours (RGB, 0-255), chosen to be far apart and to contrast with the dark backgrounds.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 30),
    "yellow": (240, 220, 50),
    "green": (50, 185, 70),
    "cyan": (50, 210, 220),
    "blue": (45, 85, 235),
    "purple": (140, 65, 205),
    "pink": (245, 135, 185),
    "white": (240, 240, 240),
    "magenta": (215, 45, 195),
}

#: Pitch (Hz) of the tone that sounds while an object of this colour is visible (a C-major scale).
COLOUR_PITCH_HZ: dict[str, float] = {
    "red": 261.63,
    "orange": 293.66,
    "yellow": 329.63,
    "green": 349.23,
    "cyan": 392.00,
    "blue": 440.00,
    "purple": 493.88,
    "pink": 523.25,
    "white": 587.33,
    "magenta": 659.25,
}

#: Surface textures of objects (they modulate brightness, never hue).
TEXTURES: tuple[str, ...] = ("solid", "striped", "checkered", "dotted")

#: Background kinds.
BACKGROUNDS: tuple[str, ...] = ("plain", "gradient", "noise", "moving_texture")

#: Named sizes, by radius as a fraction of the shorter frame side: (name, upper bound).
SIZE_BINS: tuple[tuple[str, float], ...] = (("small", 0.11), ("medium", 0.16), ("large", 1.0))
#: Radius range (fraction of the shorter frame side) objects are drawn from.
RADIUS_RANGE: tuple[float, float] = (0.07, 0.20)

# --------------------------------------------------------------------------------------------------
# Actions
# --------------------------------------------------------------------------------------------------

#: Action classes; the class index is the position in this tuple.
CLASSES: tuple[str, ...] = (
    "moves_left",
    "moves_right",
    "moves_up",
    "moves_down",
    "grows",
    "shrinks",
    "rotates_clockwise",
    "rotates_counterclockwise",
    "fades_in",
    "fades_out",
    "speeds_up",
    "slows_down",
    "bounces",
    "stays_still",
    "changes_colour",
    "moves_then_changes_colour",
    "changes_colour_then_moves",
)
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}

#: Pairs of classes that differ only by the direction of time (frames identically distributed).
DIRECTION_PAIRS: tuple[tuple[str, str], ...] = (
    ("moves_left", "moves_right"),
    ("moves_up", "moves_down"),
    ("grows", "shrinks"),
    ("rotates_clockwise", "rotates_counterclockwise"),
    ("fades_in", "fades_out"),
    ("speeds_up", "slows_down"),
)
#: All time-reversal pairs: the direction pairs plus the order of a two-step sequence.
TEMPORAL_PAIRS: tuple[tuple[str, str], ...] = DIRECTION_PAIRS + (
    ("moves_then_changes_colour", "changes_colour_then_moves"),
)
PARTNER: dict[str, str] = {a: b for a, b in TEMPORAL_PAIRS} | {b: a for a, b in TEMPORAL_PAIRS}

#: Straight moves, by direction (unit vector in image coordinates: x right, y down).
MOVE_DIRECTIONS: dict[str, tuple[int, int]] = {
    "left": (-1, 0),
    "right": (1, 0),
    "up": (0, -1),
    "down": (0, 1),
}

#: Split names of short clips. ``comp_test`` holds (shape, colour, action) triples absent from train.
SPLITS: tuple[str, ...] = ("train", "val", "test", "comp_test")


def allowed_shapes(action: str, shapes: tuple[str, ...] = SHAPES) -> tuple[str, ...]:
    """Shapes an action may be shown with (rotations need a visible orientation)."""
    if action.startswith("rotates"):
        return tuple(s for s in shapes if s in ELONGATED_SHAPES)
    return shapes


def size_name(radius: float, short_side: int) -> str:
    """Named size of an object of ``radius`` pixels in a frame whose shorter side is ``short_side``."""
    frac = radius / short_side
    for name, upper in SIZE_BINS:
        if frac < upper:
            return name
    return SIZE_BINS[-1][0]


def split_id(split: str) -> int:
    """A stable integer for a split name (part of every clip's random seed)."""
    return zlib.crc32(split.encode("utf-8"))


def _pair_key(action: str) -> str:
    """Both members of a temporal pair share one key, so held-out triples are pair-symmetric."""
    if action in PARTNER:
        return "|".join(sorted((action, PARTNER[action])))
    return action


def is_compositional_holdout(shape: str, colour: str, action: str, fraction: float = 0.15) -> bool:
    """Whether (shape, colour, action) is reserved for the ``comp_test`` split (never seen in train).

    The rule is a fixed hash, the same for every seed, and symmetric within a temporal pair (so a
    held-out triple never makes one member of a pair more likely than the other in train).
    """
    h = zlib.crc32(f"{shape}|{colour}|{_pair_key(action)}".encode())
    return (h % 10_000) < fraction * 10_000


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorldConfig:
    """Every option of the synthetic world. Frozen; build a new one with ``dataclasses.replace``.

    Sizes are in pixels, times in seconds, ``sensor_noise`` in 8-bit levels (standard deviation),
    ``camera_jitter`` in pixels (standard deviation of a per-frame translation of the whole scene).
    """

    height: int = 112
    width: int = 112
    fps: float = 8.0
    num_frames: int = 16
    seed: int = 0
    actions: tuple[str, ...] = CLASSES
    shapes: tuple[str, ...] = SHAPES
    colours: tuple[str, ...] = tuple(COLOURS)
    textures: tuple[str, ...] = TEXTURES
    backgrounds: tuple[str, ...] = BACKGROUNDS
    distractors: tuple[int, int] = (0, 2)
    camera_jitter: float = 0.0
    sensor_noise: float = 2.0
    with_audio: bool = False
    audio_sample_rate: int = 16_000
    long_duration: float = 60.0
    long_fps: float | None = None
    codec: str = "h264"
    crf: int = 18
    gop: int = 16
    captions_per_clip: int = 5
    heldout_captions_per_clip: int = 3
    comp_holdout_fraction: float = 0.15

    def __post_init__(self) -> None:
        if self.height < 32 or self.width < 32 or self.height % 2 or self.width % 2:
            raise ConfigError(
                f"frame size {self.width}x{self.height} is invalid: width and height must be even and >= 32"
            )
        if self.num_frames < 8:
            raise ConfigError(f"num_frames={self.num_frames} is too short: temporal actions need >= 8 frames")
        if self.fps <= 0 or (self.long_fps is not None and self.long_fps <= 0):
            raise ConfigError(f"fps must be positive (got fps={self.fps}, long_fps={self.long_fps})")
        for name, values, vocab in (
            ("actions", self.actions, CLASSES),
            ("shapes", self.shapes, SHAPES),
            ("colours", self.colours, tuple(COLOURS)),
            ("textures", self.textures, TEXTURES),
            ("backgrounds", self.backgrounds, BACKGROUNDS),
        ):
            unknown = [v for v in values if v not in vocab]
            if unknown or not values:
                raise ConfigError(f"{name}={values!r}: unknown or empty; choose from {', '.join(vocab)}")
        if len(self.colours) < 3:
            raise ConfigError("at least 3 colours are needed (colour changes and distractors)")
        for a in self.actions:
            if not allowed_shapes(a, self.shapes):
                raise ConfigError(f"action {a!r} needs one of the shapes {', '.join(ELONGATED_SHAPES)}")
        lo, hi = self.distractors
        if lo < 0 or hi < lo or hi > 6:
            raise ConfigError(f"distractors={self.distractors}: need 0 <= min <= max <= 6")
        if self.camera_jitter < 0 or self.sensor_noise < 0:
            raise ConfigError("camera_jitter and sensor_noise must be >= 0")
        if self.long_duration < 10:
            raise ConfigError(f"long_duration={self.long_duration} s is too short (>= 10 s)")
        if not 0.0 < self.comp_holdout_fraction < 1.0:
            raise ConfigError("comp_holdout_fraction must be in (0, 1)")

    @property
    def effective_long_fps(self) -> float:
        """Frame rate of long videos (``long_fps`` or, when unset, ``fps``)."""
        return float(self.long_fps if self.long_fps is not None else self.fps)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly copy (saved beside the manifests to record what ran)."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
