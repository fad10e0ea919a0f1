"""Batched, differentiable SO(3) helpers: Rodrigues (axis-angle ↔ matrix) and the left Jacobian.

Conventions: an axis-angle vector ``r`` [..., 3] has angle ``θ = |r|`` (radians) about ``r/|r|``;
``R = axis_angle_to_matrix(r)`` rotates column vectors (``R @ x``). All functions broadcast over
leading batch dimensions, work on any device and dtype, and have finite gradients everywhere,
including ``r = 0`` and ``θ = π``. They accept torch tensors and, for the NumPy fast path of
:mod:`reprozoo.geometry.pnp`, NumPy arrays (same formulas, returned as arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", torch.Tensor, np.ndarray)

# Below these thresholds the coefficients are evaluated by Taylor series; the truncation error and the
# cancellation error of the closed forms are both below ~1e-15 (relative) on either side.
_SMALL_ANGLE_SQ = 1e-4  # θ² for the Rodrigues coefficients (next Taylor term θ⁶/5040)
_SMALL_TAN_SQ = 1e-6  # tan²(θ/2) for the quaternion → angle factor (next term u³/7)
_SMALL_JAC_SQ = 1e-2  # θ² for the inverse left Jacobian (next term ~2e-8 θ⁸)
_YZX, _ZXY = [1, 2, 0], [2, 0, 1]  # component permutations of the cross product


def _namespace(a: Array) -> ModuleType:
    """``numpy`` for arrays, ``torch`` for tensors."""
    return np if isinstance(a, np.ndarray) else torch


def _eye3(like: Array) -> Array:
    """3 × 3 identity with ``like``'s type, dtype (and device)."""
    if isinstance(like, np.ndarray):
        return np.eye(3, dtype=like.dtype)
    return torch.eye(3, dtype=like.dtype, device=like.device)


def skew(v: Array) -> Array:
    """Cross-product matrix: ``skew(v) @ u == cross(v, u)``.

    Args:
        v: [..., 3] vectors.
    Returns:
        [..., 3, 3] skew-symmetric matrices.
    """
    xp = _namespace(v)
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    o = xp.zeros_like(x)
    return xp.stack((o, -z, y, z, o, -x, -y, x, o), -1).reshape(*v.shape[:-1], 3, 3)


def axis_angle_to_matrix(r: Array) -> Array:
    """Rodrigues' formula ``R = I + a(θ) [r]× + b(θ) [r]×²`` with ``a = sin θ/θ``, ``b = (1 − cos θ)/θ²``.

    Small angles (θ < 1e-2) use the Taylor series of ``a`` and ``b``, so values and gradients are exact
    to rounding at and near ``r = 0``.

    Args:
        r: [..., 3] axis-angle vectors.
    Returns:
        [..., 3, 3] rotation matrices.
    """
    xp = _namespace(r)
    theta_sq = (r * r).sum(-1)
    small = theta_sq < _SMALL_ANGLE_SQ
    theta = xp.where(small, 1.0, theta_sq) ** 0.5
    half_sinc = xp.sin(theta / 2) / theta
    a = xp.where(small, 1 - theta_sq / 6 * (1 - theta_sq / 20), xp.sin(theta) / theta)
    b = xp.where(small, 0.5 - theta_sq / 24 * (1 - theta_sq / 30), 2 * half_sinc * half_sinc)
    k = skew(r)
    return _eye3(r) + a[..., None, None] * k + b[..., None, None] * (k @ k)


def matrix_to_axis_angle(R: Array) -> Array:
    """Inverse of :func:`axis_angle_to_matrix`, with angle in [0, π].

    Goes through the unit quaternion (Shepperd's method: the largest of the four candidate components
    is computed first), so it is accurate near θ = 0 and θ = π alike. At exactly θ = π either of the two
    equivalent vectors ±π·axis may be returned.

    Args:
        R: [..., 3, 3] rotation matrices.
    Returns:
        [..., 3] axis-angle vectors.
    """
    xp = _namespace(R)
    return xp.moveaxis(_rotation_vector(xp, [[R[..., i, j] for j in range(3)] for i in range(3)]), 0, -1)


def matrix_to_axis_angle_batch_last(R: Array) -> Array:
    """:func:`matrix_to_axis_angle` for batch-last rotations R [3, 3, ...] → [3, ...] (component first)."""
    return _rotation_vector(_namespace(R), R)


def _rotation_vector(xp: ModuleType, R: Array | Sequence[Sequence[Array]]) -> Array:
    """Axis-angle vectors [3, ...] of rotations given by their entries ``R[i][j]`` (each [...])."""
    (r00, r01, r02), (r10, r11, r12), (r20, r21, r22) = R[0], R[1], R[2]
    # 4 q_k^2 for (w, x, y, z); one of them is >= 1 because they sum to 4.
    sq4 = xp.stack((1 + r00 + r11 + r22, 1 + r00 - r11 - r22, 1 - r00 + r11 - r22, 1 - r00 - r11 + r22))
    # Candidate k: 4 q_k (w, x, y, z), each an exact expression in R once q_k is known. Clamping keeps
    # the discarded candidates finite (and their gradients zero); the chosen one has sq4 >= 1.
    candidates = (
        (sq4[0], r21 - r12, r02 - r20, r10 - r01),
        (r21 - r12, sq4[1], r10 + r01, r02 + r20),
        (r02 - r20, r10 + r01, sq4[2], r12 + r21),
        (r10 - r01, r20 + r02, r21 + r12, sq4[3]),
    )
    denom = 2 * sq4.clip(min=0.1) ** 0.5
    best = sq4.argmax(0)
    q = xp.stack(candidates[3]) / denom[3]
    for k in (2, 1, 0):
        q = xp.where(best == k, xp.stack(candidates[k]) / denom[k], q)
    q = xp.where(q[0] < 0, -q, q)  # w >= 0, so the angle is in [0, π]
    w, v = q[0], q[1:]
    s_sq = (v * v).sum(0)
    small = s_sq < _SMALL_TAN_SQ * w * w
    s = xp.where(small, 1.0, s_sq) ** 0.5
    # θ / sin(θ/2) = 2 atan2(s, w) / s, with its Taylor series 2/w (1 − u/3 + u²/5), u = (s/w)², near s = 0.
    u = s_sq / xp.where(small, w * w, 1.0)
    factor = xp.where(small, 2 / w * (1 - u / 3 + u * u / 5), 2 * xp.arctan2(s, w) / s)
    return v * factor


def left_jacobian_inverse(r: Array) -> Array:
    """Inverse left Jacobian of SO(3), ``J_l⁻¹(r) = I − ½[r]× + c(θ)[r]×²``, ``c = 1/θ² − cot(θ/2)/(2θ)``.

    With ``exp(r + dr) ≈ exp(J_l(r) dr) exp(r)``, a left perturbation ``R ← exp(δ) R`` changes the
    axis-angle vector by ``dr = J_l⁻¹(r) δ``. Valid for θ < 2π; small angles use the Taylor series
    ``c = 1/12 + θ²/720 + θ⁴/30240 + θ⁶/1209600``.

    Args:
        r: [..., 3] axis-angle vectors.
    Returns:
        [..., 3, 3] matrices.
    """
    xp = _namespace(r)
    c = _jacobian_coefficient(xp, (r * r).sum(-1))
    k = skew(r)
    return _eye3(r) - 0.5 * k + c[..., None, None] * (k @ k)


def left_jacobian_inverse_transpose_apply(r: Array, g: Array) -> Array:
    """``J_l⁻¹(r)ᵀ g = g + ½ r × g + c(θ) r × (r × g)`` for batch-last r, g [3, ...] → [3, ...].

    Maps a gradient w.r.t. the axis-angle vector to one w.r.t. the left perturbation δ (see
    :func:`left_jacobian_inverse`).
    """
    theta_sq = (r * r).sum(0)
    r_x_r_x_g = r * (r * g).sum(0) - theta_sq * g  # r × (r × g)
    return g + 0.5 * cross(r, g) + _jacobian_coefficient(_namespace(r), theta_sq) * r_x_r_x_g


def _jacobian_coefficient(xp: ModuleType, theta_sq: Array) -> Array:
    """``c(θ) = 1/θ² − cot(θ/2)/(2θ)`` of :func:`left_jacobian_inverse`, from θ²."""
    small = theta_sq < _SMALL_JAC_SQ
    theta = xp.where(small, 1.0, theta_sq) ** 0.5
    half = theta / 2
    return xp.where(
        small,
        1.0 / 12 + theta_sq * (1.0 / 720 + theta_sq * (1.0 / 30240 + theta_sq / 1209600)),
        1 / (theta * theta) - xp.cos(half) / (2 * theta * xp.sin(half)),
    )


def cross(a: Array, b: Array) -> Array:
    """Cross product over the leading (component) axis of a, b [3, ...], broadcasting the others."""
    return a[_YZX] * b[_ZXY] - a[_ZXY] * b[_YZX]
