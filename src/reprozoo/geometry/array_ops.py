"""Array backends for the PnP solver: the same solver code runs on NumPy arrays (CPU tensors: far less per-call
overhead on small arrays) and on torch tensors (other devices). The solver only uses operators, methods common to
np.ndarray and torch.Tensor, `ops.xp.<function>` common to both modules, and the adapters below.

``ops.host`` tells whether the data is on the host (NumPy), where data-dependent shapes and control flow are free;
the torch backend avoids them so that it never waits for the device."""

from __future__ import annotations

import concurrent.futures
import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

from reprozoo.geometry.rotations import skew

# skew(v) = (v @ SKEW_BASIS).reshape(3, 3)
SKEW_BASIS = np.array(
    [[0, 0, 0, 0, 0, -1, 0, 1, 0], [0, 0, 1, 0, 0, 0, -1, 0, 0], [0, -1, 0, 1, 0, 0, 0, 0, 0]], dtype=np.float64
)


@functools.cache
def _eye(m: int, dtype: np.dtype) -> np.ndarray:
    """A read-only identity [m, m]."""
    eye = np.eye(m, dtype=dtype)
    eye.flags.writeable = False
    return eye


class NumpyOps:
    """NumPy backend (CPU). Linear algebra never raises: singular or non-finite systems give NaN."""

    xp: Any = np
    host = True

    @staticmethod
    def from_tensor(v: torch.Tensor) -> np.ndarray:
        """The array of a detached CPU tensor (shared memory)."""
        return v.detach().numpy()

    @staticmethod
    def to_tensor(a: np.ndarray) -> torch.Tensor:
        """A CPU tensor sharing the array's memory (a copy of a read-only array)."""
        return torch.from_numpy(a if a.flags.writeable else a.copy())

    @staticmethod
    def eye(m: int, like: np.ndarray) -> np.ndarray:
        """Identity [m, m] with ``like``'s dtype (a shared read-only array)."""
        return _eye(m, like.dtype)

    @staticmethod
    def permute(a: np.ndarray, *axes: int) -> np.ndarray:
        """``a`` with its axes reordered (a view)."""
        return a.transpose(axes)

    @staticmethod
    def contiguous(a: np.ndarray) -> np.ndarray:
        """``a`` in C order (a copy only if it is not)."""
        return np.ascontiguousarray(a)

    @staticmethod
    def skew(v: np.ndarray) -> np.ndarray:
        """Cross-product matrices [..., 3, 3] of v [..., 3] (one matrix product with a constant basis)."""
        return (v @ SKEW_BASIS).reshape(*v.shape[:-1], 3, 3)

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
    host = False

    @staticmethod
    def from_tensor(v: torch.Tensor) -> torch.Tensor:
        """The detached tensor."""
        return v.detach()

    @staticmethod
    def to_tensor(a: torch.Tensor) -> torch.Tensor:
        """The tensor itself."""
        return a

    @staticmethod
    def eye(m: int, like: torch.Tensor) -> torch.Tensor:
        """Identity [m, m] with ``like``'s dtype and device."""
        return torch.eye(m, dtype=like.dtype, device=like.device)

    @staticmethod
    def permute(a: torch.Tensor, *axes: int) -> torch.Tensor:
        """``a`` with its dimensions reordered (a view)."""
        return a.permute(axes)

    @staticmethod
    def contiguous(a: torch.Tensor) -> torch.Tensor:
        """``a`` in contiguous memory."""
        return a.contiguous()

    @staticmethod
    def skew(v: torch.Tensor) -> torch.Tensor:
        """Cross-product matrices [..., 3, 3] of v [..., 3] (built on the device, no host copy)."""
        return skew(v)

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
Result = TypeVar("Result")

CHUNK_POINTS = 4608  # keypoints (samples × points) per chunk of a NumPy batch (512 samples of 9 points)
PARALLEL_MIN_BATCH = 256  # NumPy batches at least this large are solved by torch.get_num_threads() threads


def chunk_ranges(ops: Ops, B: int, n: int) -> tuple[list[slice], int]:
    """How to process a batch of B samples of n points: the sample ranges of its chunks, and the threads to use.

    torch batches are never split. NumPy batches of at least ``PARALLEL_MIN_BATCH`` samples are spread over
    ``torch.get_num_threads()`` threads (NumPy releases the GIL in its kernels), one chunk per thread where possible:
    the solver makes many small NumPy calls, and the fewer and larger they are, the less the threads wait for the
    GIL. Chunks hold at most ``CHUNK_POINTS`` keypoints (samples × points), which bounds the temporaries.
    """
    workers = torch.get_num_threads() if ops.host and B >= PARALLEL_MIN_BATCH else 1
    count = max(workers, -(-B * n // CHUNK_POINTS)) if ops.host else 1
    bounds = [B * i // count for i in range(count + 1)]
    return [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])], workers


def batch_part(a: Array, chunk: slice) -> Array:
    """Samples ``chunk`` of a batch-last array a [..., B] (C-contiguous); a shared [..., 1] array is passed whole."""
    return a if a.shape[-1] == 1 else a[..., chunk].copy()


def map_chunks(fn: Callable[..., Result], jobs: Sequence[tuple[Any, ...]], workers: int) -> list[Result]:
    """``fn(*job)`` for every job, on ``workers`` threads (the calling one and a process-wide pool) if several."""
    if workers < 2 or len(jobs) < 2:
        return [fn(*job) for job in jobs]
    pool = _thread_pool(workers - 1)
    # Jobs i, i + workers, ... run in the calling thread for i = 0, and on the pool for the others.
    futures = {i: pool.submit(lambda part: [fn(*job) for job in part], jobs[i::workers]) for i in range(1, workers)}
    mine = [fn(*job) for job in jobs[::workers]]
    parts = [mine] + [futures[i].result() for i in range(1, workers)]
    return [parts[i % workers][i // workers] for i in range(len(jobs))]


@functools.cache
def _thread_pool(workers: int) -> concurrent.futures.ThreadPoolExecutor:
    """A process-wide pool of ``workers`` threads for chunked NumPy work."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reprozoo-pnp")
