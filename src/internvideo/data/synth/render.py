"""Vectorised numpy rendering of clip specs to RGB frames.

Objects are drawn from signed distance functions evaluated on a coordinate grid (anti-aliased
edges, sub-pixel motion), only inside each object's bounding box; backgrounds are analytic or
cropped from one static image. No per-pixel Python loops.
"""

from __future__ import annotations

import math

import numpy as np

from .spec import BackgroundSpec, ClipSpec, ObjectTrack

_SQRT2 = math.sqrt(2.0)


# --------------------------------------------------------------------------------------------------
# Shapes: signed distance (pixels, negative inside) in object-local coordinates (u, v)
# --------------------------------------------------------------------------------------------------


def _polygon(u: np.ndarray, v: np.ndarray, r: float, n: int) -> np.ndarray:
    apothem = r * math.cos(math.pi / n)
    d = None
    for k in range(n):
        t = -math.pi / 2 + math.pi / n + 2 * math.pi * k / n
        e = u * math.cos(t) + v * math.sin(t)
        d = e if d is None else np.maximum(d, e)
    return d - apothem


def _star(u: np.ndarray, v: np.ndarray, r: float, points: int = 5, inner: float = 0.45) -> np.ndarray:
    sector = 2 * math.pi / points
    theta = np.arctan2(v, u) + math.pi / 2  # a tip points up
    phi = np.abs(np.mod(theta + sector / 2, sector) - sector / 2)
    rho = np.sqrt(u * u + v * v)
    px, py = rho * np.cos(phi), rho * np.sin(phi)
    tx, ty = r, 0.0
    ix, iy = inner * r * math.cos(sector / 2), inner * r * math.sin(sector / 2)
    nx, ny = iy - ty, -(ix - tx)
    norm = math.hypot(nx, ny)
    return ((px - tx) * nx + (py - ty) * ny) / norm


def shape_sdf(shape: str, u: np.ndarray, v: np.ndarray, r: float) -> np.ndarray:
    """Approximate signed distance to the boundary of ``shape`` of circumradius ``r``."""
    if shape == "circle":
        return np.sqrt(u * u + v * v) - r
    if shape == "ellipse":
        a, b = r, 0.55 * r
        return (np.sqrt((u / a) ** 2 + (v / b) ** 2) - 1.0) * b
    if shape == "square":
        h = r / _SQRT2
        return np.maximum(np.abs(u), np.abs(v)) - h
    if shape == "rectangle":
        return np.maximum(np.abs(u) - 0.894 * r, np.abs(v) - 0.447 * r)
    if shape == "diamond":
        a, b = r, 0.6 * r
        return (np.abs(u) / a + np.abs(v) / b - 1.0) * (a * b / math.hypot(a, b))
    if shape == "triangle":
        return _polygon(u, v, r, 3)
    if shape == "pentagon":
        return _polygon(u, v, r, 5)
    if shape == "hexagon":
        return _polygon(u, v, r, 6)
    if shape == "star":
        return _star(u, v, r)
    if shape == "cross":
        a = 0.949 * r
        b = a / 3.0
        au, av = np.abs(u), np.abs(v)
        return np.minimum(np.maximum(au - a, av - b), np.maximum(au - b, av - a))
    raise ValueError(f"unknown shape {shape!r}")


def _texture_factor(texture: str, u: np.ndarray, v: np.ndarray, r: float, freq: float) -> np.ndarray | None:
    """Brightness factor in [0.6, 1] of a surface pattern (``None`` for solid objects)."""
    if texture == "solid":
        return None
    k = 2 * math.pi * freq / r
    if texture == "striped":
        p = 0.5 + 0.5 * np.clip(2.5 * np.sin(k * u), -1, 1)
    elif texture == "checkered":
        p = 0.5 + 0.5 * np.clip(2.5 * np.sin(k * u), -1, 1) * np.clip(2.5 * np.sin(k * v), -1, 1)
    elif texture == "dotted":
        cell = r / freq
        du = np.mod(u / cell, 1.0) - 0.5
        dv = np.mod(v / cell, 1.0) - 0.5
        d = np.sqrt(du * du + dv * dv) * cell
        p = np.clip(0.5 + 0.3 * cell - d, 0.0, 1.0)
    else:
        raise ValueError(f"unknown texture {texture!r}")
    return 1.0 - 0.4 * p


# --------------------------------------------------------------------------------------------------
# Backgrounds
# --------------------------------------------------------------------------------------------------


def _noise_image(bg: BackgroundSpec, h: int, w: int, pad: int) -> np.ndarray:
    p = bg.params
    rng = np.random.default_rng(p["seed"])
    hh, ww = h + 2 * pad, w + 2 * pad
    cells = p["cells"]
    coarse = rng.standard_normal((cells + 2, cells + 2)).astype(np.float32)
    gy = np.linspace(0, cells, hh, dtype=np.float32)
    gx = np.linspace(0, cells, ww, dtype=np.float32)
    y0, x0 = np.floor(gy).astype(int), np.floor(gx).astype(int)
    fy, fx = (gy - y0)[:, None], (gx - x0)[None, :]
    c00 = coarse[y0][:, x0]
    c01 = coarse[y0][:, x0 + 1]
    c10 = coarse[y0 + 1][:, x0]
    c11 = coarse[y0 + 1][:, x0 + 1]
    smooth = (c00 * (1 - fx) + c01 * fx) * (1 - fy) + (c10 * (1 - fx) + c11 * fx) * fy
    fine = rng.standard_normal((hh, ww)).astype(np.float32)
    mono = p["amplitude"] * smooth + p["grain"] * fine
    return bg.base[None, None, :] + mono[:, :, None]


def render_background(spec: ClipSpec, frames: np.ndarray) -> np.ndarray:
    """Background of ``frames`` (indices) as float32 ``(t, H, W, 3)``, camera jitter applied."""
    bg = spec.background
    h, w, t = spec.height, spec.width, len(frames)
    jit = spec.jitter[frames]
    if bg.kind == "plain":
        return np.broadcast_to(bg.base, (t, h, w, 3)).copy()
    ys = np.arange(h, dtype=np.float32)[None, :, None]
    xs = np.arange(w, dtype=np.float32)[None, None, :]
    xj = xs - jit[:, 0, None, None]
    yj = ys - jit[:, 1, None, None]
    if bg.kind == "gradient":
        th = bg.params["theta"]
        half_diag = 0.5 * math.hypot(h, w)
        proj = ((xj - (w - 1) / 2) * math.cos(th) + (yj - (h - 1) / 2) * math.sin(th)) / half_diag
        g = np.clip(0.5 + 0.5 * proj, 0.0, 1.0)[..., None]
        return bg.base + (bg.params["second"] - bg.base) * g
    if bg.kind == "noise":
        pad = int(np.ceil(np.abs(spec.jitter).max())) + 1
        img = _noise_image(bg, h, w, pad)
        out = np.empty((t, h, w, 3), np.float32)
        shifts = np.rint(jit).astype(int)
        for i in range(t):
            dx, dy = shifts[i]
            out[i] = img[pad - dy : pad - dy + h, pad - dx : pad - dx + w]
        return out
    if bg.kind == "moving_texture":
        p = bg.params
        vx, vy = p["velocity"]
        tt = frames.astype(np.float32)[:, None, None]
        xm, ym = xj - vx * tt, yj - vy * tt
        val = np.zeros((t, h, w), np.float32)
        for lam, ori, ph, amp in zip(p["wavelength"], p["orientation"], p["phase"], p["amplitude"]):
            k = 2 * math.pi / float(lam)
            val += float(amp) * np.cos(k * math.cos(ori) * xm + k * math.sin(ori) * ym + float(ph))
        return bg.base + val[..., None] * p["tint"]
    raise ValueError(f"unknown background {bg.kind!r}")


# --------------------------------------------------------------------------------------------------
# Objects and frames
# --------------------------------------------------------------------------------------------------


def _draw_object(out: np.ndarray, i: int, f: int, obj: ObjectTrack, jit: np.ndarray) -> None:
    alpha = float(obj.alpha[f])
    if alpha <= 1e-3:
        return
    h, w = out.shape[1:3]
    r = float(obj.r[f])
    cx, cy = float(obj.x[f]) + float(jit[0]), float(obj.y[f]) + float(jit[1])
    x0, x1 = max(0, int(math.floor(cx - r - 2))), min(w, int(math.ceil(cx + r + 3)))
    y0, y1 = max(0, int(math.floor(cy - r - 2))), min(h, int(math.ceil(cy + r + 3)))
    if x0 >= x1 or y0 >= y1:
        return
    gx = np.arange(x0, x1, dtype=np.float32)[None, :] - cx
    gy = np.arange(y0, y1, dtype=np.float32)[:, None] - cy
    c, s = math.cos(float(obj.angle[f])), math.sin(float(obj.angle[f]))
    u = c * gx + s * gy
    v = -s * gx + c * gy
    cov = np.clip(0.5 - shape_sdf(obj.shape, u, v, r), 0.0, 1.0)
    a = (alpha * cov)[..., None]
    colour = obj.rgb[f]
    tex = _texture_factor(obj.texture, u, v, r, obj.texture_freq)
    paint = colour if tex is None else tex[..., None] * colour
    region = out[i, y0:y1, x0:x1]
    region += a * (paint - region)


def render_frames(spec: ClipSpec, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Render frames ``start..stop-1`` of ``spec`` as uint8 RGB ``(t, H, W, 3)``.

    Rendering a range gives exactly the same pixels as the same frames of a full render, so long
    videos can be produced in chunks.
    """
    stop = spec.num_frames if stop is None else min(stop, spec.num_frames)
    frames = np.arange(start, stop)
    out = render_background(spec, frames).astype(np.float32, copy=False)
    for i, f in enumerate(frames):
        for obj in reversed(spec.objects):  # distractors first, the target on top
            _draw_object(out, i, int(f), obj, spec.jitter[f])
        if spec.sensor_noise > 0:
            rng = np.random.default_rng([spec.noise_seed, int(f)])
            out[i] += spec.sensor_noise * rng.standard_normal((spec.height, spec.width, 3), dtype=np.float32)
    np.clip(out, 0.0, 255.0, out=out)
    out += 0.5
    return out.astype(np.uint8)


def render_clip(spec: ClipSpec) -> np.ndarray:
    """Render every frame of ``spec`` to a uint8 array ``(T, H, W, 3)`` (RGB), without encoding."""
    return render_frames(spec, 0, spec.num_frames)
