"""Clip specifications: everything needed to render one clip, sampled from (seed, split, index).

A :class:`ClipSpec` holds per-frame object states (position, radius, angle, opacity, colour), the
background, camera jitter, sensor-noise seed and the labelled events. Rendering (``render.py``),
audio (``audio.py``) and text (``captions.py``) are pure functions of a spec, so a clip is fully
determined by ``(config, split, index)`` no matter which process makes it or in which order.

Coordinates are pixels in image convention: ``x`` to the right, ``y`` down, pixel ``(i, j)`` has
centre ``(x=j, y=i)``. Angles are radians measured from +x towards +y, so an increasing angle is a
*clockwise* turn as seen on screen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from internvideo.errors import ConfigError

from .world import (
    CLASS_INDEX,
    COLOURS,
    ELONGATED_SHAPES,
    MOVE_DIRECTIONS,
    RADIUS_RANGE,
    SPLITS,
    WorldConfig,
    allowed_shapes,
    is_compositional_holdout,
    split_id,
)


@dataclass
class ObjectTrack:
    """One object and its state in every frame (arrays of length ``num_frames``)."""

    role: str  # "target" or "distractor"
    shape: str
    texture: str
    texture_freq: float  # texture cycles per radius (the pattern scales with the object)
    x: np.ndarray
    y: np.ndarray
    r: np.ndarray
    angle: np.ndarray
    alpha: np.ndarray
    rgb: np.ndarray  # (T, 3) float32
    colour: list[str]  # colour name per frame (the nearer end during a blend)

    def describe(self, frame: int = 0) -> dict[str, Any]:
        """Static attributes of the object as seen at ``frame`` (for manifests and captions)."""
        return {
            "role": self.role,
            "shape": self.shape,
            "colour": self.colour[frame],
            "texture": self.texture,
            "radius": round(float(self.r[frame]), 2),
        }


@dataclass
class BackgroundSpec:
    """Background kind and the parameters that draw it."""

    kind: str
    base: np.ndarray  # (3,) float32
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClipSpec:
    """A complete, renderable description of one clip (short clip or long video)."""

    split: str
    index: int
    seed: int
    height: int
    width: int
    fps: float
    num_frames: int
    objects: list[ObjectTrack]
    background: BackgroundSpec
    jitter: np.ndarray  # (T, 2) float32 scene translation (dx, dy) per frame
    sensor_noise: float
    noise_seed: int
    events: list[dict[str, Any]]
    label: int | None
    with_audio: bool = False
    audio_sample_rate: int = 16_000
    is_long: bool = False

    @property
    def target(self) -> ObjectTrack:
        """The object the labels and captions are about."""
        return self.objects[0]

    @property
    def duration(self) -> float:
        """Length in seconds (``num_frames / fps``)."""
        return self.num_frames / self.fps

    @property
    def label_name(self) -> str | None:
        """Class name of a short clip (``None`` for long videos)."""
        return None if self.label is None else self.events[0]["action"]


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def clip_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random generator of one clip: a pure function of (seed, split, index)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, split_id(split), int(index)])


def _rgb(rng: np.random.Generator, name: str) -> np.ndarray:
    base = np.asarray(COLOURS[name], dtype=np.float32)
    return np.clip(base + rng.integers(-8, 9, size=3), 0, 255).astype(np.float32)


def _box(r: float, h: int, w: int) -> tuple[float, float, float, float]:
    """Centre range (xlo, xhi, ylo, yhi) keeping an object of radius ``r`` inside the frame."""
    m = r + 2.0
    return m, w - 1.0 - m, m, h - 1.0 - m


def _pair(rng: np.random.Generator, lo: float, hi: float, min_gap: float) -> tuple[float, float]:
    """Two sorted values in [lo, hi] at least ``min_gap`` apart (exchangeable, so symmetric)."""
    for _ in range(1000):
        a, b = rng.uniform(lo, hi, size=2)
        if abs(a - b) >= min_gap:
            return (float(min(a, b)), float(max(a, b)))
    return lo, hi


def _reflect(z: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold an unbounded coordinate into [lo, hi] as a ball bouncing between two walls."""
    span = hi - lo
    w = np.mod(z - lo, 2 * span)
    return lo + np.where(w <= span, w, 2 * span - w)


def _bounce_times(p0: float, vel: float, lo: float, hi: float) -> list[float]:
    """Values of u in (0, 1) where the unfolded path p0 + vel * u hits a wall."""
    span = hi - lo
    out = []
    if vel == 0:
        return out
    k_lo = math.floor((min(p0, p0 + vel) - lo) / span) - 1
    k_hi = math.ceil((max(p0, p0 + vel) - lo) / span) + 1
    for k in range(k_lo, k_hi + 1):
        u = (lo + k * span - p0) / vel
        if 1e-6 < u < 1 - 1e-6:
            out.append(u)
    return sorted(out)


def _wall_name(axis: int, at_high: bool) -> str:
    return ("right" if at_high else "left") if axis == 0 else ("bottom" if at_high else "top")


class _State:
    """Mutable per-frame arrays of one object, filled piece by piece."""

    def __init__(self, n: int, x: float, y: float, r: float, angle: float, alpha: float, colour: str, rgb):
        self.x = np.full(n, x, np.float32)
        self.y = np.full(n, y, np.float32)
        self.r = np.full(n, r, np.float32)
        self.angle = np.full(n, angle, np.float32)
        self.alpha = np.full(n, alpha, np.float32)
        self.rgb = np.tile(np.asarray(rgb, np.float32), (n, 1))
        self.colour = [colour] * n

    def hold_from(self, f: int) -> None:
        """Carry the state of frame ``f`` to every later frame."""
        self.x[f + 1 :] = self.x[f]
        self.y[f + 1 :] = self.y[f]
        self.r[f + 1 :] = self.r[f]
        self.angle[f + 1 :] = self.angle[f]
        self.alpha[f + 1 :] = self.alpha[f]
        self.rgb[f + 1 :] = self.rgb[f]
        for i in range(f + 1, len(self.colour)):
            self.colour[i] = self.colour[f]

    def recolour(self, f0: int, f1: int, name: str, rgb: np.ndarray) -> None:
        """Blend linearly from the colour at ``f0`` to ``rgb`` at ``f1`` and keep it afterwards."""
        old = self.rgb[f0].copy()
        old_name = self.colour[f0]
        n = len(self.colour)
        u = np.clip((np.arange(n) - f0) / max(f1 - f0, 1), 0.0, 1.0)[:, None]
        sl = slice(f0, n)
        self.rgb[sl] = (old * (1 - u) + rgb * u)[sl]
        for i in range(f0, n):
            self.colour[i] = old_name if u[i, 0] < 0.5 else name


# --------------------------------------------------------------------------------------------------
# Actions
# --------------------------------------------------------------------------------------------------


def _apply_action(
    action: str,
    rng: np.random.Generator,
    st: _State,
    f0: int,
    f1: int,
    shape: str,
    colours: tuple[str, ...],
    h: int,
    w: int,
    short: bool,
) -> dict[str, Any] | None:
    """Fill frames ``f0..f1`` of ``st`` with ``action`` starting from the state at ``f0``.

    ``short`` clips draw both ends of the action symmetrically (the start state is redrawn);
    long videos continue from the current state and return ``None`` when the action does not fit.
    Returns the event's parameters (steps, bounce times, colours).
    """
    n_f = f1 - f0 + 1
    u = np.linspace(0.0, 1.0, n_f, dtype=np.float64)
    sl = slice(f0, f1 + 1)
    s = min(h, w)
    x0, y0, r0 = float(st.x[f0]), float(st.y[f0]), float(st.r[f0])
    a0, al0 = float(st.angle[f0]), float(st.alpha[f0])
    info: dict[str, Any] = {}
    if action != "fades_in" and al0 < 0.5 and not short:
        return None

    if action.startswith("moves_") and action in CLASS_INDEX and "then" not in action:
        direction = action.split("_")[1]
        dx, dy = MOVE_DIRECTIONS[direction]
        axis = 0 if dx else 1
        sign = dx + dy
        xlo, xhi, ylo, yhi = _box(r0, h, w)
        lo, hi = (xlo, xhi) if axis == 0 else (ylo, yhi)
        cur = x0 if axis == 0 else y0
        if short:
            p_lo, p_hi = _pair(rng, lo, hi, 0.35 * (hi - lo))
            start, end = (p_lo, p_hi) if sign > 0 else (p_hi, p_lo)
        else:
            room = (hi - cur) if sign > 0 else (cur - lo)
            if room < 0.25 * (hi - lo):
                return None
            start = cur
            end = cur + sign * rng.uniform(0.25 * (hi - lo), room)
        arr = st.x if axis == 0 else st.y
        arr[sl] = start + (end - start) * u
        info["direction"] = direction
    elif action in ("grows", "shrinks"):
        if short:
            r_small = rng.uniform(0.07 * s, 0.2 * s / 1.6)
            r_big = rng.uniform(1.6 * r_small, 0.2 * s)
            xlo, xhi, ylo, yhi = _box(r_big, h, w)
            st.x[f0:] = rng.uniform(xlo, xhi)
            st.y[f0:] = rng.uniform(ylo, yhi)
            start, end = (r_small, r_big) if action == "grows" else (r_big, r_small)
        else:
            room = min(x0, y0, w - 1 - x0, h - 1 - y0) - 2.0
            if action == "grows":
                r_max = min(0.2 * s, room)
                if r_max < 1.5 * r0:
                    return None
                start, end = r0, rng.uniform(1.5 * r0, r_max)
            else:
                if r0 / 1.5 < 0.07 * s:
                    return None
                start, end = r0, rng.uniform(0.07 * s, r0 / 1.5)
        st.r[sl] = start + (end - start) * u
    elif action.startswith("rotates"):
        if shape not in ELONGATED_SHAPES:
            return None
        delta = math.radians(rng.uniform(60.0, 150.0))
        sign = 1.0 if action == "rotates_clockwise" else -1.0
        start = rng.uniform(0, 2 * math.pi) if short else a0
        st.angle[sl] = start + sign * delta * u
        info["degrees"] = round(math.degrees(delta), 1)
    elif action in ("fades_in", "fades_out"):
        lo_a, hi_a = rng.uniform(0.0, 0.15), rng.uniform(0.85, 1.0)
        if not short:
            if (action == "fades_in") != (al0 < 0.5):
                return None
            lo_a, hi_a = (al0, hi_a) if action == "fades_in" else (lo_a, al0)
        start, end = (lo_a, hi_a) if action == "fades_in" else (hi_a, lo_a)
        st.alpha[sl] = start + (end - start) * u
    elif action in ("speeds_up", "slows_down"):
        xlo, xhi, ylo, yhi = _box(r0, h, w)
        min_d = 0.45 * min(xhi - xlo, yhi - ylo)
        for _ in range(1000):
            b = np.array([rng.uniform(xlo, xhi), rng.uniform(ylo, yhi)])
            a = np.array([rng.uniform(xlo, xhi), rng.uniform(ylo, yhi)]) if short else np.array([x0, y0])
            if np.hypot(*(b - a)) >= min_d:
                break
        else:
            return None
        prog = u**2 if action == "speeds_up" else 1.0 - (1.0 - u) ** 2
        st.x[sl] = a[0] + (b[0] - a[0]) * prog
        st.y[sl] = a[1] + (b[1] - a[1]) * prog
    elif action == "bounces":
        axis = int(rng.integers(2))
        xlo, xhi, ylo, yhi = _box(r0, h, w)
        lo, hi = (xlo, xhi) if axis == 0 else (ylo, yhi)
        span = hi - lo
        sign = 1.0 if rng.random() < 0.5 else -1.0
        if short:
            tb = rng.uniform(0.3, 0.7)
            dist = rng.uniform(0.45 * span * tb, min(span, span * tb / (1 - tb)) * 0.95)
            p0 = hi - dist if sign > 0 else lo + dist
            travel = dist / tb
        else:
            p0 = x0 if axis == 0 else y0
            dist = (hi - p0) if sign > 0 else (p0 - lo)
            travel = dist + rng.uniform(0.3, 1.2) * span
        vel = sign * travel
        arr = st.x if axis == 0 else st.y
        arr[sl] = _reflect(p0 + vel * u, lo, hi)
        times = _bounce_times(p0, vel, lo, hi)
        info["bounce_frames"] = [f0 + t * (n_f - 1) for t in times]
        info["walls"] = [_wall_name(axis, _at_high(p0 + vel * t, lo, span)) for t in times]
    elif action == "stays_still":
        pass
    elif action == "changes_colour":
        from_colour = st.colour[f0]
        new = _other_colour(rng, colours, from_colour)
        if short:
            k = int(rng.integers(round(0.3 * (f1 - f0)), round(0.7 * (f1 - f0)))) + f0
            st.recolour(k, k + 1, new, _rgb(rng, new))
            info["change_frames"] = [k, k + 1]
        else:
            st.recolour(f0, f1, new, _rgb(rng, new))
            info["change_frames"] = [f0, f1]
        info["from_colour"], info["to_colour"] = from_colour, new
    elif action in ("moves_then_changes_colour", "changes_colour_then_moves"):
        direction = list(MOVE_DIRECTIONS)[int(rng.integers(4))]
        move_first = action == "moves_then_changes_colour"
        n = f1 - f0
        if short:
            m = int(rng.integers(round(0.45 * n), round(0.65 * n) + 1))
            if move_first:
                move, change = (f0, f0 + m), (f0 + m, f0 + m + 1)
            else:
                move, change = (f1 - m, f1), (f1 - m - 1, f1 - m)
        else:
            m = int(round(0.6 * n))
            if move_first:
                move, change = (f0, f0 + m), (f0 + m, f1)
            else:
                move, change = (f1 - m, f1), (f0, f1 - m)
        from_colour = st.colour[f0]
        new = _other_colour(rng, colours, from_colour)
        if move_first:
            ok = _apply_action(f"moves_{direction}", rng, st, move[0], move[1], shape, colours, h, w, short)
            st.hold_from(move[1])
            st.recolour(change[0], change[1], new, _rgb(rng, new))
        else:
            st.recolour(change[0], change[1], new, _rgb(rng, new))
            ok = _apply_action(f"moves_{direction}", rng, st, move[0], move[1], shape, colours, h, w, short)
            if short:  # the (redrawn) start position holds before the move
                st.x[f0 : move[0]] = st.x[move[0]]
                st.y[f0 : move[0]] = st.y[move[0]]
        if ok is None:
            return None
        info.update(direction=direction, from_colour=from_colour, to_colour=new)
        move_step = {"action": f"moves_{direction}", "start_frame": move[0], "end_frame": move[1]}
        change_step = {
            "action": "changes_colour",
            "start_frame": change[0],
            "end_frame": change[1],
            "to_colour": new,
        }
        info["steps"] = [move_step, change_step] if move_first else [change_step, move_step]
    else:  # pragma: no cover - guarded by WorldConfig
        raise ConfigError(f"unknown action {action!r}")
    st.hold_from(f1)
    return info


def _at_high(z: float, lo: float, span: float) -> bool:
    k = round((z - lo) / span)
    return k % 2 == 1


def _other_colour(rng: np.random.Generator, colours: tuple[str, ...], current: str) -> str:
    choices = [c for c in colours if c != current]
    return choices[int(rng.integers(len(choices)))]


# --------------------------------------------------------------------------------------------------
# Scene pieces
# --------------------------------------------------------------------------------------------------


def _sample_background(rng: np.random.Generator, cfg: WorldConfig) -> BackgroundSpec:
    kind = cfg.backgrounds[int(rng.integers(len(cfg.backgrounds)))]
    v = rng.uniform(15, 75)
    base = np.clip(v + rng.uniform(-8, 8, size=3), 0, 255).astype(np.float32)
    params: dict[str, Any] = {}
    if kind == "gradient":
        v2 = rng.uniform(15, 100)
        params["second"] = np.clip(v2 + rng.uniform(-12, 12, size=3), 0, 255).astype(np.float32)
        params["theta"] = float(rng.uniform(0, 2 * math.pi))
    elif kind == "noise":
        params["cells"] = int(rng.integers(4, 12))
        params["amplitude"] = float(rng.uniform(10, 18))
        params["grain"] = float(rng.uniform(2, 6))
        params["seed"] = int(rng.integers(2**62))
    elif kind == "moving_texture":
        k = 3
        params["wavelength"] = rng.uniform(8, 28, size=k).astype(np.float32)
        params["orientation"] = rng.uniform(0, math.pi, size=k).astype(np.float32)
        params["phase"] = rng.uniform(0, 2 * math.pi, size=k).astype(np.float32)
        params["amplitude"] = rng.uniform(4, 9, size=k).astype(np.float32)
        speed, heading = rng.uniform(0.5, 2.0), rng.uniform(0, 2 * math.pi)
        params["velocity"] = (float(speed * math.cos(heading)), float(speed * math.sin(heading)))
        params["tint"] = rng.uniform(0.8, 1.2, size=3).astype(np.float32)
    return BackgroundSpec(kind=kind, base=base, params=params)


def _sample_target_attrs(
    rng: np.random.Generator, cfg: WorldConfig, action: str, split: str
) -> tuple[str, str]:
    shapes = allowed_shapes(action, cfg.shapes)
    frac = cfg.comp_holdout_fraction
    if split == "comp_test":
        held = [(s, c) for s in shapes for c in cfg.colours if is_compositional_holdout(s, c, action, frac)]
        if not held:
            raise ConfigError(
                f"no held-out (shape, colour) pair for action {action!r} with this vocabulary; "
                "add shapes/colours or raise comp_holdout_fraction"
            )
        return held[int(rng.integers(len(held)))]
    for _ in range(1000):
        shape = shapes[int(rng.integers(len(shapes)))]
        colour = cfg.colours[int(rng.integers(len(cfg.colours)))]
        if not is_compositional_holdout(shape, colour, action, frac):
            return shape, colour
    raise ConfigError(
        f"every (shape, colour) pair of action {action!r} is held out; lower comp_holdout_fraction"
    )


def _texture(rng: np.random.Generator, cfg: WorldConfig) -> str:
    return cfg.textures[int(rng.integers(len(cfg.textures)))]


def _distractors(
    rng: np.random.Generator, cfg: WorldConfig, target: _State, shape: str, n: int, h: int, w: int
) -> list[ObjectTrack]:
    lo, hi = cfg.distractors
    count = int(rng.integers(lo, hi + 1))
    used_colours = set(target.colour)
    colours = [c for c in cfg.colours if c not in used_colours] or list(cfg.colours)
    shapes = [s for s in cfg.shapes if s != shape] or list(cfg.shapes)
    out = []
    s = min(h, w)
    for _ in range(count):
        r = rng.uniform(0.06 * s, 0.11 * s)
        xlo, xhi, ylo, yhi = _box(r, h, w)
        best, best_d = (0.0, 0.0), -1.0
        for _ in range(12):  # keep away from where the target is at the start, middle and end
            p = (rng.uniform(xlo, xhi), rng.uniform(ylo, yhi))
            d = min(
                math.hypot(p[0] - target.x[f], p[1] - target.y[f]) - target.r[f] - r
                for f in (0, n // 2, n - 1)
            )
            if d > best_d:
                best, best_d = p, d
            if d > 2:
                break
        name = colours[int(rng.integers(len(colours)))]
        st = _State(n, best[0], best[1], r, rng.uniform(0, 2 * math.pi), 1.0, name, _rgb(rng, name))
        d_shape = shapes[int(rng.integers(len(shapes)))]
        out.append(_track(st, "distractor", d_shape, _texture(rng, cfg), rng.uniform(1.3, 2.2)))
    return out


def _track(st: _State, role: str, shape: str, texture: str, freq: float) -> ObjectTrack:
    return ObjectTrack(
        role=role,
        shape=shape,
        texture=texture,
        texture_freq=float(freq),
        x=st.x,
        y=st.y,
        r=st.r,
        angle=st.angle,
        alpha=st.alpha,
        rgb=st.rgb,
        colour=st.colour,
    )


def _finish(
    rng: np.random.Generator,
    cfg: WorldConfig,
    split: str,
    index: int,
    st: _State,
    shape: str,
    n: int,
    fps: float,
    events: list[dict[str, Any]],
    label: int | None,
    background: BackgroundSpec,
    is_long: bool,
) -> ClipSpec:
    h, w = cfg.height, cfg.width
    texture = _texture(rng, cfg)
    target = _track(st, "target", shape, texture, rng.uniform(1.3, 2.2))
    objects = [target] + _distractors(rng, cfg, st, shape, n, h, w)
    jitter = (
        rng.normal(0.0, cfg.camera_jitter, size=(n, 2)).astype(np.float32)
        if cfg.camera_jitter > 0
        else np.zeros((n, 2), np.float32)
    )
    return ClipSpec(
        split=split,
        index=index,
        seed=cfg.seed,
        height=h,
        width=w,
        fps=float(fps),
        num_frames=n,
        objects=objects,
        background=background,
        jitter=jitter,
        sensor_noise=float(cfg.sensor_noise),
        noise_seed=int(rng.integers(2**62)),
        events=events,
        label=label,
        with_audio=cfg.with_audio,
        audio_sample_rate=cfg.audio_sample_rate,
        is_long=is_long,
    )


# --------------------------------------------------------------------------------------------------
# Public samplers
# --------------------------------------------------------------------------------------------------


def action_for_index(cfg: WorldConfig, index: int) -> str:
    """Class of short clip ``index``: clips cycle through ``cfg.actions`` (balanced classes)."""
    return cfg.actions[index % len(cfg.actions)]


def _initial_state(rng: np.random.Generator, n: int, r: float, h: int, w: int, colour: str) -> _State:
    """An ``n``-frame state at a random position inside the frame, random angle, fully opaque.

    The draw order (x, y, angle, colour jitter) is part of the world's determinism; keep it.
    """
    xlo, xhi, ylo, yhi = _box(r, h, w)
    return _State(
        n,
        rng.uniform(xlo, xhi),
        rng.uniform(ylo, yhi),
        r,
        rng.uniform(0, 2 * math.pi),
        1.0,
        colour,
        _rgb(rng, colour),
    )


def sample_clip_spec(cfg: WorldConfig, split: str, index: int) -> ClipSpec:
    """Sample the spec of short clip ``index`` of ``split`` (deterministic in (seed, split, index)).

    Clip ``index`` shows action ``cfg.actions[index % len(cfg.actions)]``; everything else is drawn
    from the clip's own random generator.
    """
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; short clips use one of {', '.join(SPLITS)}")
    rng = clip_rng(cfg.seed, split, index)
    h, w, n = cfg.height, cfg.width, cfg.num_frames
    action = action_for_index(cfg, index)
    shape, colour = _sample_target_attrs(rng, cfg, action, split)
    background = _sample_background(rng, cfg)
    s = min(h, w)
    r_hi = 0.2 if action.startswith("rotates") else 0.15
    r_lo = 0.12 if action.startswith("rotates") else RADIUS_RANGE[0]
    r = rng.uniform(r_lo * s, r_hi * s)
    st = _initial_state(rng, n, r, h, w, colour)
    info = _apply_action(action, rng, st, 0, n - 1, shape, cfg.colours, h, w, short=True)
    assert info is not None
    start, end = (0, n - 1)
    if action == "changes_colour":
        start, end = info["change_frames"]
    event = {"action": action, "label": CLASS_INDEX[action], "start_frame": start, "end_frame": end, **info}
    return _finish(
        rng, cfg, split, index, st, shape, n, cfg.fps, [event], CLASS_INDEX[action], background, False
    )


def sample_long_spec(cfg: WorldConfig, split: str, index: int) -> ClipSpec:
    """Sample a long video (``cfg.long_duration`` seconds) holding several action instances.

    Instances are separated by idle gaps (the object stays still); each event's ``start_frame`` and
    ``end_frame`` bound exactly the frames over which the object changes.
    """
    rng = clip_rng(cfg.seed, f"long_{split}", index)
    h, w = cfg.height, cfg.width
    fps = cfg.effective_long_fps
    n = int(round(cfg.long_duration * fps))
    s = min(h, w)
    pool = [a for a in cfg.actions if a != "stays_still"] or ["moves_left", "moves_right"]
    shape = cfg.shapes[int(rng.integers(len(cfg.shapes)))]
    colour = cfg.colours[int(rng.integers(len(cfg.colours)))]
    background = _sample_background(rng, cfg)
    r = rng.uniform(0.09 * s, 0.13 * s)
    st = _initial_state(rng, n, r, h, w, colour)
    events: list[dict[str, Any]] = []
    f = int(round(rng.uniform(1.0, 2.5) * fps))
    while True:
        order = rng.permutation(len(pool))
        placed = False
        for j in order:
            action = pool[int(j)]
            secs = rng.uniform(1.0, 1.6) if action == "changes_colour" else rng.uniform(2.5, 5.0)
            length = max(int(round(secs * fps)), 4)
            f1 = f + length - 1
            if f1 + int(fps) >= n:
                break
            snapshot = _snapshot(st)
            info = _apply_action(action, rng, st, f, f1, shape, cfg.colours, h, w, short=False)
            if info is None:
                _restore(st, snapshot)
                continue
            event = {"action": action, "label": CLASS_INDEX[action], "start_frame": f, "end_frame": f1}
            event["from_colour"] = info.pop("from_colour", st.colour[f])
            event.update(info)
            events.append(event)
            f = f1 + int(round(rng.uniform(1.0, 3.0) * fps))
            placed = True
            break
        if not placed or f >= n - 2 * fps:
            break
    return _finish(rng, cfg, split, index, st, shape, n, fps, events, None, background, True)


def _snapshot(st: _State) -> tuple:
    return (
        st.x.copy(),
        st.y.copy(),
        st.r.copy(),
        st.angle.copy(),
        st.alpha.copy(),
        st.rgb.copy(),
        list(st.colour),
    )


def _restore(st: _State, snap: tuple) -> None:
    st.x, st.y, st.r, st.angle, st.alpha, st.rgb, st.colour = (
        snap[0],
        snap[1],
        snap[2],
        snap[3],
        snap[4],
        snap[5],
        list(snap[6]),
    )
