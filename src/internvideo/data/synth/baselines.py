"""Simple classifiers that show which classes of the world need time to be told apart.

Three feature sets feed the same L2-regularised logistic regression (numpy, full-batch gradient
descent on standardised features):

* ``middle``: the middle frame, box-downsampled to 16x16x3;
* ``mean``: the mean frame over time, downsampled the same way;
* ``temporal``: trajectories computed from frame differences -- the motion-energy map of each pair of
  consecutive frames gives a centroid, a spread, an orientation and a total energy per step; their
  signed changes over time (and the change in contrast against the border colour) form the feature.

For each temporal pair the classifier is trained on the two classes of the pair only (chance 50%),
so a single frame or an unordered set of frames cannot do better than guessing.
"""

from __future__ import annotations

import numpy as np


def _downsample(frames: np.ndarray, side: int) -> np.ndarray:
    """Box-downsample ``(..., H, W, C)`` to ``(..., side, side, C)`` (H, W multiples of side or cropped)."""
    h, w = frames.shape[-3:-1]
    fh, fw = h // side, w // side
    x = frames[..., : fh * side, : fw * side, :].astype(np.float32)
    x = x.reshape(*x.shape[:-3], side, fh, side, fw, x.shape[-1])
    return x.mean(axis=(-4, -2))


def middle_frame_features(videos: np.ndarray, side: int = 16) -> np.ndarray:
    """Features of the middle frame of each video ``(N, T, H, W, 3)`` uint8 -> ``(N, side*side*3)``."""
    t = videos.shape[1] // 2
    return _downsample(videos[:, t], side).reshape(len(videos), -1) / 255.0


def mean_frame_features(videos: np.ndarray, side: int = 16) -> np.ndarray:
    """Features of the mean frame over time of each video -> ``(N, side*side*3)``."""
    return _downsample(videos.astype(np.float32).mean(axis=1), side).reshape(len(videos), -1) / 255.0


def temporal_features(videos: np.ndarray, energy_floor: float = 12.0) -> np.ndarray:
    """Trajectory features from consecutive frame differences of videos ``(N, T, H, W, 3)`` uint8.

    Per step: motion-energy centroid velocity (x, y), speed, total energy and spread (both relative to
    their clip mean), the signed change of the energy orientation, and the signed change of the
    frame's contrast against the clip's border colour.
    """
    n, t, h, w, _ = videos.shape
    f = videos.astype(np.float32)
    if h >= 96:  # half resolution is plenty for trajectories
        f = _downsample(f, h // 2) if h == w else f
        h, w = f.shape[2:4]
    d = np.abs(f[:, 1:] - f[:, :-1]).sum(-1)  # (N, T-1, h, w) motion energy
    d = np.maximum(d - np.median(d, axis=1, keepdims=True) - energy_floor, 0.0)
    ys = np.arange(h, dtype=np.float32)[:, None]
    xs = np.arange(w, dtype=np.float32)[None, :]
    m0 = d.sum(axis=(2, 3)) + 1e-3
    cx = (d * xs).sum(axis=(2, 3)) / m0
    cy = (d * ys).sum(axis=(2, 3)) / m0
    dx, dy = xs - cx[..., None, None], ys - cy[..., None, None]
    mu20 = (d * dx * dx).sum(axis=(2, 3)) / m0
    mu02 = (d * dy * dy).sum(axis=(2, 3)) / m0
    mu11 = (d * dx * dy).sum(axis=(2, 3)) / m0
    spread = np.sqrt(mu20 + mu02)
    ox, oy = mu20 - mu02, 2 * mu11
    norm = np.sqrt(ox**2 + oy**2) + 1e-6
    ox, oy = ox / norm, oy / norm
    turn = ox[:, :-1] * oy[:, 1:] - oy[:, :-1] * ox[:, 1:]  # sin of the doubled-angle change

    border = np.concatenate(
        [f[:, :, 0], f[:, :, -1], f[:, :, :, 0], f[:, :, :, -1]], axis=2
    )  # (N, T, 2h+2w, 3)
    bg = np.median(border.reshape(n, -1, 3), axis=1)  # (N, 3)
    contrast = np.sqrt(((f - bg[:, None, None, None, :]) ** 2).sum(-1)).mean(axis=(2, 3))  # (N, T)
    dcontrast = np.diff(contrast, axis=1)
    dcontrast = dcontrast / (np.abs(dcontrast).mean(axis=1, keepdims=True) + 1e-3)

    vx, vy = np.diff(cx, axis=1) / w, np.diff(cy, axis=1) / h
    speed = np.sqrt(vx**2 + vy**2)
    feats = [
        vx,
        vy,
        speed,
        m0 / m0.mean(axis=1, keepdims=True),
        spread / (spread.mean(axis=1, keepdims=True) + 1e-3),
        turn,
        dcontrast,
    ]
    return np.concatenate(feats, axis=1).astype(np.float32)


class LogisticRegression:
    """Binary or multi-class logistic regression (softmax), L2-regularised, on standardised features."""

    def __init__(self, l2: float = 1e-2, steps: int = 400, lr: float = 0.5) -> None:
        self.l2, self.steps, self.lr = l2, steps, lr

    def fit(self, x: np.ndarray, y: np.ndarray) -> LogisticRegression:
        """Fit on features ``x`` (N, D) and integer labels ``y`` (N,)."""
        x = np.asarray(x, np.float64)
        self.classes_ = np.unique(y)
        self.mean_ = x.mean(0)
        self.std_ = x.std(0) + 1e-6
        z = (x - self.mean_) / self.std_
        onehot = (np.asarray(y)[:, None] == self.classes_[None, :]).astype(np.float64)
        k = len(self.classes_)
        self.w_ = np.zeros((z.shape[1], k))
        self.b_ = np.zeros(k)
        for _ in range(self.steps):
            logits = z @ self.w_ + self.b_
            logits -= logits.max(1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(1, keepdims=True)
            g = (p - onehot) / len(z)
            self.w_ -= self.lr * (z.T @ g + self.l2 * self.w_)
            self.b_ -= self.lr * g.sum(0)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted labels of ``x``."""
        z = (np.asarray(x, np.float64) - self.mean_) / self.std_
        return self.classes_[np.argmax(z @ self.w_ + self.b_, axis=1)]


def pair_accuracies(
    feats_train: np.ndarray,
    labels_train: np.ndarray,
    feats_test: np.ndarray,
    labels_test: np.ndarray,
    pairs: list[tuple[int, int]],
) -> dict[tuple[int, int], float]:
    """Test accuracy of a classifier trained on each pair of classes alone (chance 0.5 each)."""
    out = {}
    for a, b in pairs:
        tr = np.isin(labels_train, (a, b))
        te = np.isin(labels_test, (a, b))
        clf = LogisticRegression().fit(feats_train[tr], labels_train[tr])
        out[(a, b)] = float((clf.predict(feats_test[te]) == labels_test[te]).mean())
    return out
