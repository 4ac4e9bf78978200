"""Interfaces shared by the enrichment stages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
"""A (n, dim) float32 matrix of L2-normalised rows: a dot product is a cosine similarity."""


def unit_rows(vectors: npt.ArrayLike) -> Vectors:
    """``vectors`` as float32 rows of length 1 (zero rows stay zero): cosine becomes a dot product."""
    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1, norms)).astype(np.float32)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit vectors. Implementations batch internally and are safe to call with
    an empty sequence (they return a (0, dim) matrix)."""

    name: str  # stable identifier stored beside each vector ("all-MiniLM-L6-v2/onnx-fp32")
    dim: int

    def embed(self, texts: Sequence[str]) -> Vectors: ...
