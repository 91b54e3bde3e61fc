"""Nearest-neighbour search over index vectors: exact (numpy) by default, faiss when installed and large.

Vectors are L2-normalised, so the inner product is the cosine similarity. Both backends return results
ordered by score (descending), ties broken by row number, so they agree on small data exactly; faiss'
``IndexFlatIP`` is itself exact and multi-threaded, it pays off on large indexes and many queries.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["FAISS_MIN_VECTORS", "Hit", "VectorSearch", "faiss_available", "top_k"]

#: ``backend="auto"`` uses faiss from this many vectors on (when it is installed).
FAISS_MIN_VECTORS = 50_000


@dataclass(frozen=True)
class Hit:
    """One search result: ``row`` of the index and its cosine ``score``."""

    row: int
    score: float


def faiss_available() -> bool:
    """True when ``faiss`` imports (``pip install 'internvideo[index]'``)."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _import_faiss():
    try:
        import faiss
    except ImportError as e:
        raise ConfigError(
            "the faiss backend needs faiss: pip install 'internvideo[index]' (or faiss-cpu)"
        ) from e
    return faiss


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top ``k`` of ``scores (Q, N)``: ``(indices, values)`` by score, ties by lower index."""
    q, n = scores.shape
    k = min(k, n)
    if k <= 0:
        return np.zeros((q, 0), np.int64), np.zeros((q, 0), scores.dtype)
    if k < n:
        cand = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        # keep every candidate tied with the k-th score so tie-breaking by index is exact
        kth = np.take_along_axis(scores, cand, 1).min(axis=1, keepdims=True)
        out_idx, out_val = [], []
        for r in range(q):
            rows = np.flatnonzero(scores[r] >= kth[r])
            order = np.lexsort((rows, -scores[r, rows]))[:k]
            out_idx.append(rows[order])
            out_val.append(scores[r, rows[order]])
        return np.stack(out_idx), np.stack(out_val)
    order = np.lexsort((np.broadcast_to(np.arange(n), scores.shape), -scores), axis=1)
    return order, np.take_along_axis(scores, order, 1)


class VectorSearch:
    """Top-k inner-product search over ``vectors (N, D)``; ``backend`` is ``exact``, ``faiss`` or ``auto``."""

    def __init__(self, vectors: np.ndarray, backend: str = "auto") -> None:
        if backend not in ("auto", "exact", "faiss"):
            raise ConfigError(f"search backend must be auto, exact or faiss, got {backend!r}")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.vectors.ndim != 2:
            raise ConfigError(f"vectors must be (N, D), got shape {self.vectors.shape}")
        if backend == "auto":
            backend = "faiss" if len(self.vectors) >= FAISS_MIN_VECTORS and faiss_available() else "exact"
        self.backend = backend
        self._faiss = None
        if backend == "faiss":
            faiss = _import_faiss()
            self._faiss = faiss.IndexFlatIP(self.vectors.shape[1])
            self._faiss.add(self.vectors)
        logger.debug("vector search over %d vectors with the %s backend", len(self.vectors), backend)

    def __len__(self) -> int:
        return len(self.vectors)

    def search(
        self, queries: np.ndarray, k: int = 10, allowed: Sequence[int] | np.ndarray | None = None
    ) -> list[list[Hit]]:
        """The ``k`` best rows for each query ``(Q, D)``; ``allowed`` restricts the candidate rows."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if q.shape[1] != self.vectors.shape[1]:
            raise ConfigError(f"query size {q.shape[1]} does not match the index's {self.vectors.shape[1]}")
        if allowed is not None:
            rows = np.asarray(allowed, dtype=np.int64)
            idx, val = top_k(q @ self.vectors[rows].T, k)
            idx = rows[idx] if len(rows) else idx
        elif self._faiss is not None:
            kk = min(k, len(self.vectors))
            # ask for a few more and re-sort with the exact tie rule
            val, idx = self._faiss.search(q, min(len(self.vectors), kk + 8))
            out = []
            for r in range(len(q)):
                ok = idx[r] >= 0
                order = np.lexsort((idx[r][ok], -val[r][ok]))[:kk]
                out.append([Hit(int(idx[r][ok][o]), float(val[r][ok][o])) for o in order])
            return out
        else:
            idx, val = top_k(q @ self.vectors.T, k)
        return [[Hit(int(i), float(v)) for i, v in zip(ir, vr)] for ir, vr in zip(idx, val)]
