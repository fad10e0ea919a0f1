"""Array backends for the PnP solver: the same solver code runs on NumPy arrays (CPU tensors: far less per-call
overhead on small arrays) and on torch tensors (other devices). The solver only uses operators, methods common to
np.ndarray and torch.Tensor, `ops.xp.<function>` common to both modules, and the adapters below."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from reprozoo.geometry.rotations import skew

YZX, ZXY = [1, 2, 0], [2, 0, 1]  # component permutations for the cross product
# skew(v) = (v @ SKEW_BASIS).reshape(3, 3)
SKEW_BASIS = np.array(
    [[0, 0, 0, 0, 0, -1, 0, 1, 0], [0, 0, 1, 0, 0, 0, -1, 0, 0], [0, -1, 0, 1, 0, 0, 0, 0, 0]], dtype=np.float64
)


class NumpyOps:
    """NumPy backend (CPU). Linear algebra never raises: singular or non-finite systems give NaN."""

    xp: Any = np

    @staticmethod
    def eye(m: int, like: np.ndarray) -> np.ndarray:
        """Identity [m, m] with ``like``'s dtype."""
        return np.eye(m, dtype=like.dtype)

    @staticmethod
    def empty(shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
        """Uninitialised array of ``like``'s dtype."""
        return np.empty(shape, dtype=like.dtype)

    @staticmethod
    def skew(v: np.ndarray) -> np.ndarray:
        """Cross-product matrices [..., 3, 3] of v [..., 3] (one matrix product with a constant basis)."""
        return (v @ SKEW_BASIS).reshape(*v.shape[:-1], 3, 3)

    @staticmethod
    def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Broadcasting cross product over the last axis (leaner than ``np.cross`` for small arrays)."""
        return a[..., YZX] * b[..., ZXY] - a[..., ZXY] * b[..., YZX]

    @staticmethod
    def solve(A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Batched ``A⁻¹ B`` for A [..., m, m], B [..., m, k] with B.ndim == A.ndim; non-finite A give NaN."""
        try:
            return np.linalg.solve(A, B)
        except np.linalg.LinAlgError:  # an exactly singular matrix somewhere in the batch
            finite = np.isfinite(A).all((-2, -1))[..., None, None]
            X = np.linalg.pinv(np.where(finite, A, np.eye(A.shape[-1]))) @ B
            return np.where(finite, X, np.nan)

    @staticmethod
    def eigh(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues (ascending) and eigenvectors (columns) of symmetric A [..., m, m]; NaN if A is not finite."""
        finite = np.isfinite(A).all((-2, -1))[..., None]
        vals, vecs = np.linalg.eigh(np.where(finite[..., None], A, np.eye(A.shape[-1])))
        return np.where(finite, vals, np.nan), np.where(finite[..., None], vecs, np.nan)

    @staticmethod
    def smallest_eigenvalue(A: np.ndarray, needed: np.ndarray) -> np.ndarray:
        """Smallest eigenvalue of symmetric A [B, m, m] where ``needed`` [B] (only those are computed)."""
        out = np.full(A.shape[0], np.inf)
        subset = A[needed]
        finite = np.isfinite(subset).all((-2, -1))
        vals = np.linalg.eigvalsh(np.where(finite[:, None, None], subset, np.eye(A.shape[-1])))[:, 0]
        out[needed] = np.where(finite, vals, np.nan)
        return out

    @staticmethod
    def det(A: np.ndarray) -> np.ndarray:
        """Determinants of A [..., m, m]."""
        return np.linalg.det(A)


class TorchOps:
    """torch backend (any device). Same contract as :class:`NumpyOps`, without host synchronisation."""

    xp: Any = torch

    @staticmethod
    def eye(m: int, like: torch.Tensor) -> torch.Tensor:
        """Identity [m, m] with ``like``'s dtype and device."""
        return torch.eye(m, dtype=like.dtype, device=like.device)

    @staticmethod
    def empty(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """Uninitialised tensor with ``like``'s dtype and device."""
        return torch.empty(shape, dtype=like.dtype, device=like.device)

    @staticmethod
    def skew(v: torch.Tensor) -> torch.Tensor:
        """Cross-product matrices [..., 3, 3] of v [..., 3] (built on the device, no host copy)."""
        return skew(v)

    @staticmethod
    def cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Broadcasting cross product over the last dimension."""
        return torch.linalg.cross(a, b)

    @staticmethod
    def solve(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
        """Batched ``A⁻¹ B`` for A [..., m, m], B [..., m, k] with B.ndim == A.ndim (LU; no error if singular)."""
        return torch.linalg.solve_ex(A, B)[0]

    @staticmethod
    def eigh(A: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eigenvalues (ascending) and eigenvectors (columns) of symmetric A [..., m, m]; NaN if A is not finite."""
        finite = A.isfinite().all(-1).all(-1)[..., None]
        eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
        vals, vecs = torch.linalg.eigh(torch.where(finite[..., None], A, eye))
        return torch.where(finite, vals, torch.nan), torch.where(finite[..., None], vecs, torch.nan)

    @staticmethod
    def smallest_eigenvalue(A: torch.Tensor, needed: torch.Tensor) -> torch.Tensor:
        """Smallest eigenvalue of symmetric positive semi-definite A [B, m, m] where ``needed`` [B].

        Four steps of inverse iteration on a Cholesky factor, for all samples: unlike
        ``torch.linalg.eigvalsh`` this never synchronises with the host. It can only over-estimate,
        and is tight when the eigenvalue is small next to the others (the case that matters here);
        a failed factorisation (singular or indefinite A) counts as 0.
        """
        chol, info = torch.linalg.cholesky_ex(A)
        vec = torch.full_like(A[..., :1], A.shape[-1] ** -0.5)
        for _ in range(4):
            vec = torch.cholesky_solve(vec, chol)
            vec = vec / vec.norm(dim=(-2, -1), keepdim=True)
        estimate = 1 / torch.cholesky_solve(vec, chol).norm(dim=(-2, -1))
        estimate = torch.where((info == 0) & estimate.isfinite(), estimate, 0.0)
        return torch.where(needed, estimate, torch.inf)

    @staticmethod
    def det(A: torch.Tensor) -> torch.Tensor:
        """Determinants of A [..., m, m]."""
        return torch.linalg.det(A)


Ops = type[NumpyOps] | type[TorchOps]
Array = Any  # np.ndarray or torch.Tensor, per backend
