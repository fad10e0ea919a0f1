"""The reprojection-error model of the PnP layer, shared by the solver (:mod:`reprozoo.geometry.pnp_solver`), the
implicit backward (:mod:`reprozoo.geometry.pnp_backward`) and the EPnP refinement (:mod:`reprozoo.geometry.pnp`).

Objective: ``o(R, t) = Σ_i |π_i − x_i|²`` with pixels ``π_i = dehom(q_i)``, ``q_i = K (R z_i + t)``. Derivatives are
taken in the local chart ``R ← exp(δ) R, t ← t + τ``, ξ = (δ, τ), in which the camera point moves as
``P = exp(δ) w + t + τ`` with ``w = R z``. Everything here is backend-generic (:mod:`reprozoo.geometry.array_ops`):
NumPy arrays and torch tensors.

Layout ("batch last"): vector components lead and the batch axis is the innermost one, so that every per-point and
per-sample operation is one long contiguous loop (NumPy pays ~20 ns per inner loop, which dominates on short axes
such as n = 9 points or 3 components): keypoints and pixels [2, n, B], model points [3, n, b], intrinsics [3, 3, b],
rotations [3, 3, B], translations [3, B], camera-frame vectors [3, n, B], with b ∈ {1, B} (1: shared by the batch,
broadcast). :func:`to_model_layout` converts the usual ``[B, n, 2]``, ``[n, 3] | [B, n, 3]``, ``[3, 3] | [B, 3, 3]``
inputs.

Normal equations (:func:`linearise`) are formed for ``½ o``: ``JᵀJ`` (Gauss–Newton) or the exact Hessian
``JᵀJ + S`` (Newton), and ``Jᵀ(x − π)``. With ``∂q_j/∂ξ = [w × K_j, K_j]`` for the rows K_j of K, the Jacobian rows
are ``J_r = (∂q_r/∂ξ − π_r ∂q_2/∂ξ) / q_2`` (r = u, v). Differentiating once more, the residual terms are, per point
and with the pixel error ``e = π − x``,

    ``S = Σ_r e_r ∇²π_r = C(v, w) − (∂q_2/∂ξ hᵀ + h ∂q_2/∂ξᵀ)``,  ``h = Σ_r e_r J_r / q_2``,

where ``v = Σ_r e_r ∂π_r/∂P`` and ``C(v, w) = ½(v wᵀ + w vᵀ) − (v·w) I`` (rotation block only) is the curvature of
``exp(δ) w`` contracted with v.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from reprozoo.geometry.array_ops import Array, NumpyOps, Ops, batch_part
from reprozoo.geometry.rotations import cross

RIDGE = 1e-12  # relative ridge on normal equations (LM, DLT, backward) so that they are never singular
_ELIMINATION_MIN_BATCH = 192  # NumPy batches from which :func:`solve` eliminates instead of calling LAPACK
_MAX_PRODUCT = 1 << 17  # multiply-adds of a single 2-D product (OpenBLAS multithreads above 4 × 65536)
LINEARISE_POINTS = 2304  # NumPy linearisations of more keypoints (samples × points) run in blocks of at most this


class Camera(NamedTuple):
    """Intrinsics in the forms the model uses (b = 1 when shared by the batch).

    Attributes:
        K: [3, 3, b] intrinsics.
        K_t: [3, 3, b] their transpose.
        K_inv: [3, 3, b] their inverse (non-finite where singular).
        dq_rows, dq_const: [18, 3, b] and [18, 1, b], so that ``transform(dq_rows, w) + dq_const`` stacks
            ``∂q_j/∂ξ = [w × K_j, K_j]`` for j = 0, 1, 2 (``w × K_j = −[K_j]× w``).
    """

    K: Array
    K_t: Array
    K_inv: Array
    dq_rows: Array
    dq_const: Array


class Linearisation(NamedTuple):
    """The model linearised at one pose (batch B, n points); see :func:`linearise`.

    Attributes:
        normal: [6, 7, B] ``[H | Jᵀ(x − π)]`` with ``H = JᵀJ`` (+ S where Newton terms were requested).
        jj: [6, 6, B] ``JᵀJ`` (the Gauss–Newton part alone).
        J: [2, 6, n, B] Jacobian rows ``∂π_r/∂ξ = [w × D_r, D_r]`` (pixel row, component, point, sample), with
            ``D = J[:, 3:]`` the pixel Jacobian ``∂π/∂P``; None if not requested (see :func:`linearise`).
        e: [2, n, B] pixel error ``π − x``; None if not requested.
        v: [3, n, B] ``v = Σ_r e_r ∂π_r/∂P`` (zero for Gauss–Newton samples); None for Gauss–Newton or if not
            requested.
    """

    normal: Array
    jj: Array
    J: Array | None
    e: Array | None
    v: Array | None


def to_model_layout(ops: Ops, x2d: Array, x3d: Array, K: Array) -> tuple[Array, Array, Camera]:
    """Batch-last copies of the inputs: x [2, n, B], z [3, n, b] and the :class:`Camera` (b = 1 when shared).

    Args:
        x2d: [B, n, 2]; x3d: [n, 3] or [B, n, 3]; K: [3, 3] or [B, 3, 3].
    """
    z = x3d.T[..., None] if x3d.ndim == 2 else ops.permute(x3d, 2, 1, 0)
    k = K[..., None] if K.ndim == 2 else ops.permute(K, 1, 2, 0)
    return ops.contiguous(ops.permute(x2d, 2, 1, 0)), ops.contiguous(z), camera(ops, ops.contiguous(k))


def camera(ops: Ops, K: Array) -> Camera:
    """The :class:`Camera` of intrinsics K [3, 3, b] (memoised for shared NumPy intrinsics)."""
    if ops.host and K.shape[2] == 1:
        return _shared_camera(K.tobytes())
    return _camera(ops, K)


@functools.lru_cache(maxsize=16)
def _shared_camera(data: bytes) -> Camera:
    """:func:`camera` of shared NumPy intrinsics given by their bytes, as read-only arrays."""
    return Camera(*(read_only(v) for v in _camera(NumpyOps, np.frombuffer(data).reshape(3, 3, 1))))


def _camera(ops: Ops, K: Array) -> Camera:
    """:func:`camera`, computed."""
    xp = ops.xp
    b = K.shape[2]
    with np.errstate(all="ignore"):  # non-finite intrinsics are flagged by the solver
        cross_rows = -ops.permute(ops.skew(ops.permute(K, 2, 0, 1)), 1, 2, 3, 0)  # −[K_j]×, [j, 3, 3, b]
        K_inv = ops.solve(ops.permute(K, 2, 0, 1), xp.broadcast_to(ops.eye(3, K), K.shape[::-1]))
    dq_rows = xp.concatenate((cross_rows, xp.zeros_like(cross_rows)), 1).reshape(18, 3, b)
    dq_const = xp.concatenate((xp.zeros_like(K), K), 1).reshape(18, 1, b)
    return Camera(K, K.swapaxes(0, 1), ops.permute(K_inv, 1, 2, 0), dq_rows, dq_const)


def read_only(a: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous copy of a (for memoised values)."""
    a = np.array(a, order="C")
    a.flags.writeable = False
    return a


def transform(M: Array, p: Array) -> Array:
    """``M p`` per point and sample: M [m, k, b], p [k, n, B] → [m, n, B].

    A shared M (b = 1) is applied as one 2-D matrix product, or, for large inputs, as n products [m, k] @ [k, B]
    (as fast, and each stays below OpenBLAS's multithreading threshold: its threads would contend with ours on a
    small CPU).
    """
    if M.shape[2] == 1:
        if M.shape[0] * p.shape[0] * p.shape[1] * p.shape[2] <= _MAX_PRODUCT:
            return (M[:, :, 0] @ p.reshape(p.shape[0], -1)).reshape(-1, *p.shape[1:])
        return (M[:, :, 0] @ p.swapaxes(0, 1)).swapaxes(0, 1)
    return (M[:, :, None] * p[None]).sum(1)


def rotate(R: Array, z: Array) -> Array:
    """``w = R z``: R [3, 3, B], z [3, n, b] → [3, n, B] (three 2-D products when the model is shared)."""
    if z.shape[2] == 1:
        return z[:, :, 0].T @ R
    return (R[:, :, None] * z[None]).sum(1)


def camera_points(z: Array, cam: Camera, R: Array, t: Array) -> tuple[Array, Array, Array]:
    """Rotated model points ``w = R z``, homogeneous pixels ``q = K (w + t)`` and pixels ``π = dehom(q)``.

    Args:
        z: [3, n, b]; cam: the intrinsics; R: [3, 3, B]; t: [3, B].
    Returns:
        w [3, n, B], q [3, n, B], pix [2, n, B].
    """
    w = rotate(R, z)
    q = transform(cam.K, w + t[:, None])
    return w, q, q[:2] / q[2:]


def sq_error(x: Array, pix: Array) -> Array:
    """Sum of squared pixel errors per sample: x, pix [2, n, B] → [B]."""
    e = pix - x
    return (e * e).sum((0, 1))


def linearise(
    ops: Ops,
    x: Array,
    cam: Camera,
    w: Array,
    q: Array,
    pix: Array,
    newton: Array | bool | None,
    rows: bool = True,
) -> Linearisation:
    """Normal equations of ``½ o`` at the pose whose camera points are (w, q, pix); see the module docstring.

    NumPy inputs of more than ``LINEARISE_POINTS`` keypoints are processed in blocks: the largest temporaries of the
    solver are made here, and bounding them keeps the allocator from handing freed memory back to the OS and faulting
    it in again on every iteration (page faults cost ~3 µs each on a VM, more than the extra calls).

    Args:
        x: [2, n, B] observed pixels; cam: the intrinsics; w, q [3, n, B] and pix [2, n, B] from
            :func:`camera_points`.
        newton: None for Gauss–Newton (``H = JᵀJ``), True for the exact Hessian, or [B] bool: exact Hessian where
            True, ``JᵀJ`` elsewhere.
        rows: whether the per-point fields (J, e, v) are needed; if not, they may be None.
    Returns:
        The :class:`Linearisation`.
    """
    xp = ops.xp
    n, B = q.shape[1:]
    if ops.host and n * B > LINEARISE_POINTS:
        return _linearise_blocks(ops, x, cam, w, q, pix, newton, rows)
    inv_qz = 1 / q[2]
    e = pix - x
    pix_qz = (pix * inv_qz)[:, None]  # π_r / q_2, [2, 1, n, B]
    dq = transform(cam.dq_rows, w)
    dq += cam.dq_const  # (in place, like J below: fewer large temporaries)
    dq = dq.reshape(3, 6, n, B)  # ∂q_j/∂ξ
    J = dq[:2] * inv_qz
    J -= pix_qz * dq[2]
    J = xp.concatenate((J, -e[:, None]), 1)  # [∂π_r/∂ξ | x − π], [2, 7, n, B]
    normal = xp.einsum("ranb,rcnb->acb", J[:, :6], J)  # [6, 7, B]
    if newton is None:
        return Linearisation(normal, normal[:, :6], J[:, :6], e, None)
    jj = normal[:, :6] * 1  # a copy: normal changes below
    ew = e if newton is True else e * newton
    h = J[0, :6] * ew[0] + J[1, :6] * ew[1]  # Σ_r e_r J_r, [6, n, B]
    v = h[3:]
    A = xp.einsum("anb,cnb->acb", dq[2], h * inv_qz)  # Σ ∂q_2/∂ξ hᵀ / q_2, [6, 6, B]
    del dq  # (large temporaries are released early: re-faulting freed memory is costly)
    V = xp.einsum("inb,jnb->ijb", v, w)  # Σ v wᵀ
    A[:3, :3] -= 0.5 * (V - (V[0, 0] + V[1, 1] + V[2, 2]) * ops.eye(3, V)[:, :, None])  # −(A + Aᵀ) adds C(v, w)
    normal[:, :6] -= A + A.swapaxes(0, 1)
    return Linearisation(normal, jj, J[:, :6], e, v)


def _linearise_blocks(
    ops: Ops, x: Array, cam: Camera, w: Array, q: Array, pix: Array, newton: Array | bool | None, rows: bool
) -> Linearisation:
    """:func:`linearise` (same arguments) on blocks of at most ``LINEARISE_POINTS`` keypoints, concatenated."""
    n, B = q.shape[1:]
    size = max(1, LINEARISE_POINTS // n)
    parts = []
    for lo in range(0, B, size):
        c = slice(lo, lo + size)
        mask = newton if newton is None or newton is True else newton[c]
        block_cam = Camera(*(batch_part(v, c) for v in cam))
        parts.append(linearise(ops, x[..., c], block_cam, w[..., c], q[..., c], pix[..., c], mask, rows))
    needed = len(Linearisation._fields) if rows else 2  # normal and jj; J, e and v on request
    fields = zip(*parts)
    return Linearisation(
        *(ops.xp.concatenate(p, -1) if i < needed and p[0] is not None else None for i, p in enumerate(fields))
    )


def retract(ops: Ops, delta: Array, R: Array) -> Array:
    """``cayley(δ) R`` with ``cayley(δ) = (I − [δ/2]×)⁻¹(I + [δ/2]×)``: δ [3, B], R [3, 3, B] → [3, 3, B].

    With ``a = δ/2``, ``cayley(δ) = I + 2([a]× + a aᵀ − |a|² I) / (1 + |a|²)``. The Cayley map agrees with exp(δ)
    to second order and keeps R exactly orthonormal.
    """
    a = delta / 2
    a_sq = (a * a).sum(0)
    eye = ops.eye(3, a)[:, :, None]
    C = ops.permute(ops.skew(a.T), 1, 2, 0) + a[:, None] * a[None] - a_sq * eye
    C = (2 / (1 + a_sq)) * C + eye
    return (C[:, :, None] * R[None]).sum(1)


def solve(ops: Ops, A: Array, b: Array) -> Array:
    """``A⁻¹ b`` per sample for A [m, m, B], b [m, B] → [m, B].

    Batched LAPACK, or, for large NumPy batches, Gaussian elimination without pivoting vectorised over the batch
    (faster there than one LAPACK call per sample; meant for the damped, near positive definite LM systems, where
    a vanishing pivot gives a non-finite step that the LM rejects).
    """
    if ops.host and A.shape[2] >= _ELIMINATION_MIN_BATCH:
        m = A.shape[0]
        M = np.concatenate((A, b[:, None]), 1)  # [m, m + 1, B]
        for j in range(m):
            M[j, j + 1 :] /= M[j, j]
            if j + 1 < m:
                M[j + 1 :, j + 1 :] -= M[j + 1 :, j, None] * M[j, None, j + 1 :]
        for j in range(m - 1, 0, -1):
            M[:j, m] -= M[:j, j] * M[j, m]
        return M[:, m]
    return ops.solve(ops.permute(A, 2, 0, 1), b.T[..., None])[..., 0].T


def regularised(ops: Ops, A: Array, ridge: float = RIDGE) -> Array:
    """``A + ridge · mean(diag A) · I`` for A [..., m, m]."""
    m = A.shape[-1]
    mean_diag = ops.xp.diagonal(A, 0, -2, -1).sum(-1) / m
    return A + (ridge * mean_diag)[..., None, None] * ops.eye(m, A)


def jacobi_solve(ops: Ops, A: Array, b: Array) -> Array:
    """``A⁻¹ b`` for A [B, m, m], b [B, m] after Jacobi scaling (|diag| → 1) and a :func:`regularised` ridge."""
    scale = ops.xp.abs(ops.xp.diagonal(A, 0, -2, -1)).clip(min=np.finfo(np.float64).tiny) ** -0.5
    scaled = regularised(ops, scale[:, :, None] * A * scale[:, None, :])
    return ops.solve(scaled, (scale * b)[..., None])[..., 0] * scale


def finite_pose(ops: Ops, pose: Array) -> Array:
    """Replace non-finite rows of pose [B, 6] by ``r = 0, t = (0, 0, 1)``."""
    xp = ops.xp
    fallback = xp.concatenate((xp.zeros_like(pose[:, :5]), xp.ones_like(pose[:, 5:])), -1)
    return xp.where(xp.isfinite(pose).all(-1)[:, None], pose, fallback)
