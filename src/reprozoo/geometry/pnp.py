"""Batched, differentiable Perspective-n-Point (PnP): the BPnP layer and an EPnP baseline.

Pose convention: ``pose = [r | t]`` [B, 6], ``r`` axis-angle (radians, angle in [0, π]) and ``t`` the
translation, so that ``X_cam = R(r) X + t`` and pixels are ``dehom(K X_cam)``, as in
:func:`reprozoo.geometry.camera.project_points`.

Forward (``"bpnp"``, ``"bpnp-fast"``): a closed-form start (a scale-normalised DLT for n ≥ 6, P3P on
the triples of the first points for n = 4, 5, or the caller's ``init``), then batched
Levenberg–Marquardt on the pixel reprojection error ``o(y) = Σ_i |x_i − π_i(y)|²`` with an analytic
Jacobian, in float64. No per-sample Python loop. The solver is written once against a small array
interface (:mod:`reprozoo.geometry.array_ops`) and runs in NumPy for CPU tensors (several times
less per-call overhead than eager torch on these small arrays; finished samples leave the working set
and the loop stops once all have converged) and in torch on other devices, where no data leaves the
device: all ``max_iter`` iterations run with finished samples frozen, and the only host
synchronisations are LAPACK error checks of ``torch.linalg.eigh`` on the model's 3 × 3 covariance
(DLT start) and ``torch.linalg.eigvals`` in the P3P start (n < 6).

Backward: the implicit-function theorem at the solution y*. With f = ∂o/∂y,
``∂y*/∂w = −(∂f/∂y)⁻¹ ∂f/∂w`` for w ∈ {x2d, x3d, K}. The Hessian and the mixed derivatives are
evaluated analytically in the local chart ``R ← exp(δ) R, t ← t + τ`` (at a stationary point the
chart change to axis-angle is exact through the inverse left Jacobian of SO(3)):

- ``"bpnp"``: full second-order terms (residual × second derivatives of the projection);
- ``"bpnp-fast"``: the Gauss–Newton form ``∂f/∂y ≈ 2JᵀJ``, ``∂f/∂w ≈ 2Jᵀ ∂π/∂w``, exact at zero
  residual.

The 6 × 6 systems are Jacobi-scaled, regularised (``+1e-12·I``) and solved in batch (no explicit
inverse); gradients of samples flagged as failed are zero. The backward runs on the same backend as
the forward.

``"epnp"``: closed-form EPnP (:mod:`reprozoo.geometry.epnp`) plus ``refine`` optional Gauss–Newton
steps, all in torch and differentiated by plain autograd.

Failures never produce NaN: ``converged`` is False when the optimiser did not reach ``tol`` within
``max_iter``, when any point has depth ≤ 0 or ``t_z ≤ 0``, when the Gauss–Newton Hessian is
numerically singular (Jacobi-scaled smallest eigenvalue < 1e-10, e.g. collinear model points), when
any input or output is non-finite, or when the RMS residual exceeds ``max_residual``; the pose
returned for such a sample is finite (the last accepted iterate, or ``r = 0, t = (0, 0, 1)``).
"""

from __future__ import annotations

import concurrent.futures
import functools
from typing import Literal, NamedTuple

import numpy as np
import torch

from reprozoo.geometry.array_ops import Array, NumpyOps, Ops, TorchOps
from reprozoo.geometry.camera import project_points
from reprozoo.geometry.epnp import epnp, p3p
from reprozoo.geometry.rotations import axis_angle_to_matrix, left_jacobian_inverse, matrix_to_axis_angle

Method = Literal["bpnp", "bpnp-fast", "epnp"]
_METHODS = ("bpnp", "bpnp-fast", "epnp")

_MU_START = 1e-3  # initial Levenberg–Marquardt damping, relative to diag(JᵀJ)
_MU_MIN = 1e-12
_MU_CONVERGED = 1.0  # a step below tol only signals convergence if the damping was at most this
_COST_SLACK = 1e-12  # relative cost increase still accepted (rounding level of the sum of squares)
_RIDGE = 1e-12  # relative ridge on the normal equations (LM, DLT, backward) so that they are never singular
_MIN_SCALED_EIGENVALUE = 1e-10  # smallest eigenvalue of the Jacobi-scaled JᵀJ (~ 1 / condition number)
_DET_BOUND = 2.5  # > (6/5)^5, bound on the product of five eigenvalues of a unit-diagonal 6x6 PSD matrix
_PARALLEL_MIN_BATCH = 256  # CPU batches at least this large are split across torch.get_num_threads() threads
_PLANAR_RATIO = 1e-4  # smallest / largest principal variance of the model below which it counts as planar


class PnPResult(NamedTuple):
    """Output of :func:`solve_pnp`.

    Attributes:
        pose: [B, 6] axis-angle (3) | translation (3); differentiable w.r.t. x2d, x3d and K.
        converged: [B] bool, False for every sample whose pose must not be trusted.
        residual: [B] root-mean-square reprojection error in pixels at the returned pose (detached;
            ``inf`` where it is not finite).
    """

    pose: torch.Tensor
    converged: torch.Tensor
    residual: torch.Tensor


def project(pose: torch.Tensor, x3d: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Project model points with a batch of poses (differentiable).

    Args:
        pose: [B, 6] axis-angle | translation.
        x3d: [n, 3] shared or [B, n, 3] per-sample model points.
        K: [3, 3] shared or [B, 3, 3] per-sample intrinsics.
    Returns:
        [B, n, 2] pixels (u, v).
    """
    R = axis_angle_to_matrix(pose[:, :3])
    return project_points(x3d, R, pose[:, 3:], K)


def solve_pnp(
    x2d: torch.Tensor,
    x3d: torch.Tensor,
    K: torch.Tensor,
    *,
    method: Method = "bpnp",
    init: torch.Tensor | None = None,
    max_iter: int = 20,
    tol: float = 1e-8,
    max_residual: float | None = None,
    refine: int = 0,
) -> PnPResult:
    """Solve a batch of PnP problems, differentiably.

    Args:
        x2d: [B, n, 2] keypoints in pixels (u, v), n >= 4.
        x3d: [n, 3] model points shared by the batch, or [B, n, 3].
        K: [3, 3] shared intrinsics, or [B, 3, 3].
        method: ``"bpnp"`` (implicit gradients, full Hessian), ``"bpnp-fast"`` (Gauss–Newton implicit
            gradients) or ``"epnp"`` (closed form differentiated by autograd).
        init: optional [B, 6] starting poses for the iterative methods (e.g. the previous step's
            detached output); replaces the closed-form start. Ignored by ``"epnp"``.
        max_iter: maximum Levenberg–Marquardt iterations (``"bpnp"``/``"bpnp-fast"``); on accelerators
            all of them run (finished samples are frozen), so lower it there if it is enough.
        tol: convergence threshold on the step: rotation (radians) and translation relative to |t|.
            A sample stops when its step, or the next step predicted from the observed rate, is
            below tol; the returned pose is then typically within ~1e-2·tol of the exact optimum
            (pass 1e-12 for finite-difference checks).
        max_residual: if given, samples whose RMS reprojection error (pixels) exceeds it are flagged.
        refine: ``"epnp"`` only: Gauss–Newton steps applied after the closed form (differentiated).
    Returns:
        :class:`PnPResult` with pose [B, 6], converged [B] and residual [B]; pose and residual have the
        promoted floating dtype of the inputs, computation is float64.
    Raises:
        ValueError: on bad shapes (including n < 4), dtypes, devices or options.
    """
    _validate(x2d, x3d, K, init, method, max_iter, refine)
    if method == "epnp":
        return _solve_epnp(x2d, x3d, K, refine, max_residual)
    return PnPResult(*_BPnPFunction.apply(x2d, x3d, K, init, method == "bpnp", max_iter, tol, max_residual))


# --------------------------------------------------------------------------------------------------
# Input handling


def _validate(
    x2d: torch.Tensor,
    x3d: torch.Tensor,
    K: torch.Tensor,
    init: torch.Tensor | None,
    method: str,
    max_iter: int,
    refine: int,
) -> None:
    """Raise ``ValueError`` for anything :func:`solve_pnp` cannot handle."""
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if max_iter < 1 or refine < 0:
        raise ValueError(f"need max_iter >= 1 and refine >= 0, got max_iter={max_iter}, refine={refine}")
    tensors = {"x2d": x2d, "x3d": x3d, "K": K} | ({} if init is None else {"init": init})
    for name, value in tensors.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor")
        if value.device != x2d.device:
            raise ValueError(f"{name} is on {value.device} but x2d is on {x2d.device}")
    if x2d.ndim != 3 or x2d.shape[-1] != 2 or x2d.shape[0] == 0:
        raise ValueError(f"x2d must have shape [B, n, 2] with B >= 1, got {tuple(x2d.shape)}")
    B, n = x2d.shape[:2]
    if n < 4:
        raise ValueError(f"PnP needs at least 4 correspondences, got n={n}")
    if tuple(x3d.shape) not in ((n, 3), (B, n, 3)):
        raise ValueError(f"x3d must have shape [{n}, 3] or [{B}, {n}, 3], got {tuple(x3d.shape)}")
    if tuple(K.shape) not in ((3, 3), (B, 3, 3)):
        raise ValueError(f"K must have shape [3, 3] or [{B}, 3, 3], got {tuple(K.shape)}")
    if init is not None and tuple(init.shape) != (B, 6):
        raise ValueError(f"init must have shape [{B}, 6], got {tuple(init.shape)}")


def _batched64(x2d: torch.Tensor, x3d: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Float64 copies with a batch dimension: x2d [B, n, 2], x3d [b, n, 3], K [b, 3, 3], b ∈ {1, B}."""
    z = x3d if x3d.ndim == 3 else x3d[None]
    k = K if K.ndim == 3 else K[None]
    return x2d.double(), z.double(), k.double()


def _use_numpy(device: torch.device) -> bool:
    """Whether the solver and the backward run in NumPy (CPU tensors) rather than torch."""
    return device.type == "cpu"


# --------------------------------------------------------------------------------------------------
# Geometry shared by the solver, the backward pass and the EPnP refinement (backend-generic)


def _camera_points(z: Array, K: Array, R: Array, t: Array) -> tuple[Array, Array, Array]:
    """Rotated model points w = R z [B, n, 3], homogeneous pixels q = K (w + t) [B, n, 3], pixels [B, n, 2].

    Args:
        z: [b, n, 3]; K: [b, 3, 3]; R: [B, 3, 3]; t: [B, 3]. A shared z or K (b = 1) is applied as one
        2-D matrix product instead of B small ones.
    """
    B = R.shape[0]
    if z.shape[0] == 1:
        w = (R.reshape(-1, 3) @ z[0].swapaxes(-1, -2)).reshape(B, 3, -1).swapaxes(-1, -2)
    else:
        w = z @ R.swapaxes(-1, -2)
    P = w + t[:, None]
    q = (P.reshape(-1, 3) @ K[0].swapaxes(-1, -2)).reshape(P.shape) if K.shape[0] == 1 else P @ K.swapaxes(-1, -2)
    return w, q, q[..., :2] / q[..., 2:]


def _dpi_dp(q: Array, pix: Array, K: Array) -> Array:
    """Jacobian of the pixels w.r.t. the camera-frame point, ``(K[:2] − π K[2]ᵀ) / q_z`` → [B, n, 2, 3].

    Args:
        q: [B, n, 3] homogeneous pixels; pix: [B, n, 2] pixels; K: [b, 3, 3].
    """
    return (K[:, None, :2, :] - pix[..., :, None] * K[:, None, 2:, :]) / q[..., 2:, None]


def _pose_jacobian(ops: Ops, w: Array, dpi_dp: Array, residual: Array | None = None) -> Array:
    """∂π/∂ξ for the chart ``P = exp(δ) w + t + τ``: rows ``[w × b, b]`` with b a row of ∂π/∂P.

    Args:
        w: [B, n, 3] rotated model points; dpi_dp: [B, n, 2, 3]; residual: optional [B, n, 2],
            appended as a 7th column (so that one product gives both JᵀJ and Jᵀr).
    Returns:
        [B, 2n, 6] (or [B, 2n, 7] with the residual).
    """
    B, n = w.shape[:2]
    J = ops.empty((B, n, 2, 6 if residual is None else 7), like=w)
    wx, wy, wz = w[..., None, 0], w[..., None, 1], w[..., None, 2]
    bx, by, bz = dpi_dp[..., 0], dpi_dp[..., 1], dpi_dp[..., 2]
    J[..., 0] = wy * bz - wz * by
    J[..., 1] = wz * bx - wx * bz
    J[..., 2] = wx * by - wy * bx
    J[..., 3:6] = dpi_dp
    if residual is not None:
        J[..., 6] = residual
    return J.reshape(B, 2 * n, -1)


def _retract(ops: Ops, delta: Array, R: Array) -> Array:
    """``cayley(δ) R`` with ``cayley(δ) = (I − [δ/2]×)⁻¹(I + [δ/2]×)``: δ [B, 3], R [B, 3, 3] → [B, 3, 3].

    The Cayley map agrees with exp(δ) to second order and keeps R exactly orthonormal.
    """
    h = ops.skew(delta / 2)
    scale = 2 / (1 + (delta * delta).sum(-1) / 4)
    hR = h @ R
    return R + scale[:, None, None] * (hR + h @ hR)


def _regularised(ops: Ops, A: Array, ridge: float) -> Array:
    """``A + ridge · mean(diag A) · I`` for A [..., m, m]."""
    m = A.shape[-1]
    mean_diag = ops.xp.diagonal(A, 0, -2, -1).sum(-1) / m
    return A + (ridge * mean_diag)[..., None, None] * ops.eye(m, A)


def _norm(x: Array) -> Array:
    """Euclidean norm over the last axis."""
    return (x * x).sum(-1) ** 0.5


def _orthonormal_pair(a: Array, b: Array) -> tuple[Array, Array]:
    """The orthonormal pair closest to the directions of a, b [..., 3] (symmetric in a and b)."""
    tiny = np.finfo(np.float64).tiny
    a = a / _norm(a).clip(min=tiny)[..., None]
    b = b / _norm(b).clip(min=tiny)[..., None]
    s, d = a + b, a - b
    s = s / _norm(s).clip(min=tiny)[..., None]
    d = d / _norm(d).clip(min=tiny)[..., None]
    return (s + d) / 2**0.5, (s - d) / 2**0.5


def _finite_pose(ops: Ops, pose: Array) -> Array:
    """Replace non-finite rows of pose [B, 6] by ``r = 0, t = (0, 0, 1)``."""
    xp = ops.xp
    fallback = xp.concatenate((xp.zeros_like(pose[:, :5]), xp.ones_like(pose[:, 5:])), -1)
    return xp.where(xp.isfinite(pose).all(-1)[:, None], pose, fallback)


# --------------------------------------------------------------------------------------------------
# Forward: closed-form start and Levenberg–Marquardt (backend-generic, no autograd)


def _dlt_init(ops: Ops, x: Array, z: Array, K: Array) -> tuple[Array, Array]:
    """Closed-form start for n >= 6: linear DLT with the model centroid's depth fixed to 1.

    In the model's principal frame X' (centred), solve ``u = (p1·X' + q1) / (p3·X' + 1)`` (and v) for
    the 11 unknowns by normal equations, eliminating (p1, q1), (p2, q2) through their shared 4 × 4 block.
    The rotation comes from the rows p1, p2 (well determined even for near-affine views) for solid
    models, and from the first two columns of [p1; p2; p3] (the plane's homography) for planar ones.

    Args:
        x: [B, n, 2] pixels; z: [b, n, 3] model points; K: [b, 3, 3].
    Returns:
        R [B, 3, 3], t [B, 3].
    """
    xp = ops.xp
    B, n = x.shape[:2]
    K_inv = ops.solve(K, xp.broadcast_to(ops.eye(3, K), K.shape))
    rays = xp.concatenate((x, xp.ones_like(x[..., :1])), -1) @ K_inv.swapaxes(-1, -2)
    u, v = rays[..., 0:1] / rays[..., 2:], rays[..., 1:2] / rays[..., 2:]
    centroid = z.sum(-2)[:, None] / n
    centred = z - centroid
    variances, axes = ops.eigh(centred.swapaxes(-1, -2) @ centred)
    axes = axes[..., [2, 1, 0]]  # columns by decreasing spread
    axes = xp.concatenate((axes[..., :2], axes[..., 2:] * ops.det(axes)[..., None, None]), -1)  # proper
    zp = centred @ axes  # [b, n, 3]
    h = xp.concatenate((zp, xp.ones_like(zp[..., :1])), -1)  # [b, n, 4]
    hu, hv, uv2 = h * u, h * v, u * u + v * v  # [B, n, 4], [B, n, 4], [B, n, 1]
    G = _regularised(ops, h.swapaxes(-1, -2) @ h, _RIDGE)
    Cu, Cv = hu.swapaxes(-1, -2) @ zp, hv.swapaxes(-1, -2) @ zp  # [B, 4, 3]
    bu, bv = hu.sum(-2)[..., None], hv.sum(-2)[..., None]  # [B, 4, 1]
    rhs = xp.concatenate((Cu, Cv, bu, bv), -1)  # [B, 4, 8]
    if G.shape[0] == 1:  # shared model: invert once, then one 2-D product
        G_inv = ops.solve(G, xp.broadcast_to(ops.eye(4, G), G.shape))[0]
        sol = (rhs.swapaxes(-1, -2).reshape(-1, 4) @ G_inv.swapaxes(-1, -2)).reshape(B, 8, 4).swapaxes(-1, -2)
    else:
        sol = ops.solve(G, rhs)  # G⁻¹ [Cu Cv bu bv]
    GCu, GCv, Gb = sol[..., :3], sol[..., 3:6], sol[..., 6:]
    S = (zp * uv2).swapaxes(-1, -2) @ zp - Cu.swapaxes(-1, -2) @ GCu - Cv.swapaxes(-1, -2) @ GCv
    rhs = Cu.swapaxes(-1, -2) @ Gb[..., :1] + Cv.swapaxes(-1, -2) @ Gb[..., 1:] - (zp * uv2).sum(-2)[..., None]
    p3 = ops.solve(_regularised(ops, S, _RIDGE), rhs)  # [B, 3, 1]
    row_u = (Gb[..., 0:1] + GCu @ p3)[..., 0]  # (p1, q1) [B, 4]
    row_v = (Gb[..., 1:2] + GCv @ p3)[..., 0]  # (p2, q2)
    p1, p2, p3 = row_u[..., :3], row_v[..., :3], p3[..., 0]

    r1, r2 = _orthonormal_pair(p1, p2)
    rot_rows = xp.stack((r1, r2, ops.cross(r1, r2)), -2)  # R · axes
    depth_rows = 2 / (_norm(p1) + _norm(p2))
    c1 = xp.stack((p1[..., 0], p2[..., 0], p3[..., 0]), -1)
    c2 = xp.stack((p1[..., 1], p2[..., 1], p3[..., 1]), -1)
    e1, e2 = _orthonormal_pair(c1, c2)
    rot_cols = xp.stack((e1, e2, ops.cross(e1, e2)), -1)
    depth_cols = 2 / (_norm(c1) + _norm(c2))
    planar = xp.broadcast_to(variances[..., 0] <= _PLANAR_RATIO * variances[..., 2], (B,))
    R = xp.where(planar[:, None, None], rot_cols, rot_rows) @ axes.swapaxes(-1, -2)
    depth = xp.where(planar, depth_cols, depth_rows)
    centre_cam = depth[:, None] * xp.stack((row_u[..., 3], row_v[..., 3], xp.ones_like(depth)), -1)
    t = centre_cam - (centroid @ R.swapaxes(-1, -2))[:, 0]
    return R, t


class _Solution(NamedTuple):
    """Final state of :func:`_levenberg_marquardt` (float64, batch B)."""

    R: Array  # [B, 3, 3]
    t: Array  # [B, 3]
    cost: Array  # [B] sum of squared pixel errors
    hessian: Array  # [B, 6, 6] JᵀJ at the last linearisation
    done: Array  # [B] reached tol


def _levenberg_marquardt(
    ops: Ops, x: Array, z: Array, K: Array, R: Array, t: Array, max_iter: int, tol: float, compact: bool
) -> _Solution:
    """Batched LM on ``Σ |x − π(R, t)|²`` with steps ``R ← cayley(δ) R, t ← t + τ``.

    A step is accepted when it does not increase the cost beyond rounding; the damping (Marquardt,
    relative to diag(JᵀJ)) shrinks ×10 on acceptance and grows ×10 on rejection. With the step size
    ``s = max(|δ|, |τ|/|t|)``, a sample is done (and frozen) once a step with damping <= 1 has
    ``s <= tol``, or an accepted one predicts the next to be below tol (``s² <= tol · s_previous``).

    Args:
        x: [B, n, 2]; z: [b, n, 3]; K: [b, 3, 3]; R: [B, 3, 3]; t: [B, 3] starting pose.
        max_iter: iteration cap; tol: step threshold (radians, and relative to |t|).
        compact: NumPy only: drop finished samples from the working set and stop once all are done
            (data-dependent shapes and host decisions, which the torch path avoids).
    Returns:
        The final :class:`_Solution`.
    """
    xp = ops.xp
    B = x.shape[0]
    w, q, pix = _camera_points(z, K, R, t)
    cost = ((x - pix) ** 2).sum((-2, -1))
    mu = xp.full_like(cost, _MU_START)
    last_step = xp.zeros_like(cost)  # no prediction before the first accepted step
    done = cost < 0  # all False (a sum of squares; NaN compares False)
    eye = ops.eye(6, x)
    if compact:
        index = np.arange(B)
        final = _Solution(R.copy(), t.copy(), cost.copy(), np.empty((B, 6, 6)), np.zeros(B, dtype=bool))
    for _ in range(max_iter):
        normal = _pose_jacobian(ops, w, _dpi_dp(q, pix, K), x - pix)
        normal = normal.swapaxes(-1, -2) @ normal  # [JᵀJ, Jᵀr; ·, rᵀr]
        hessian = normal[:, :6, :6]
        diag = xp.diagonal(hessian, 0, -2, -1)
        damping = diag * mu[:, None] + (_RIDGE / 6) * diag.sum(-1)[:, None]
        step = ops.solve(hessian + damping[..., None] * eye, normal[:, :6, 6:])[..., 0]
        R_new, t_new = _retract(ops, step[:, :3], R), t + step[:, 3:]
        w_new, q_new, pix_new = _camera_points(z, K, R_new, t_new)
        cost_new = ((x - pix_new) ** 2).sum((-2, -1))
        live = ~done
        # The slack lets steps whose cost change is below rounding through, so that the damping does
        # not blow up at the optimum. NaN steps or costs are never accepted nor done.
        accept = live & (cost_new <= cost * (1 + _COST_SLACK))
        size = xp.maximum((step[:, :3] ** 2).sum(-1), (step[:, 3:] ** 2).sum(-1) / (t * t).sum(-1)) ** 0.5
        converging = (size <= tol) | (accept & (size * size <= tol * last_step))
        done = done | (live & (mu <= _MU_CONVERGED) & converging)
        last_step = xp.where(accept, size, last_step)
        a3 = accept[:, None, None]
        R, t = xp.where(a3, R_new, R), xp.where(accept[:, None], t_new, t)
        w, q, pix = xp.where(a3, w_new, w), xp.where(a3, q_new, q), xp.where(a3, pix_new, pix)
        cost = xp.where(accept, cost_new, cost)
        mu = xp.where(accept, (mu * 0.1).clip(min=_MU_MIN), mu * 10)
        if compact and done.any():
            for field, value in zip(final, (R, t, cost, hessian, done)):
                field[index[done]] = value[done]
            keep = ~done
            index = index[keep]
            R, t, w, q, pix, cost, mu, last_step, done, hessian, x = (
                v[keep] for v in (R, t, w, q, pix, cost, mu, last_step, done, hessian, x)
            )
            z, K = (v if v.shape[0] == 1 else v[keep] for v in (z, K))
            if index.size == 0:
                break
    if not compact:
        return _Solution(R, t, cost, hessian, done)
    for field, value in zip(final, (R, t, cost, hessian, done)):
        field[index] = value
    return final


def _well_conditioned(ops: Ops, hessian: Array) -> Array:
    """[B] True where the Jacobi-scaled JᵀJ [B, 6, 6] has its smallest eigenvalue >= 1e-10.

    The scaled matrix has unit diagonal, so the product of its other five eigenvalues is at most
    (6/5)⁵ < 2.5 and ``λ_min >= det / 2.5``: a determinant >= 2.5e-10 settles it (nearly every
    sample); the eigenvalue is computed for the rest.
    """
    diag = ops.xp.diagonal(hessian, 0, -2, -1).clip(min=np.finfo(np.float64).tiny)
    scale = diag**-0.5
    scaled = scale[:, :, None] * hessian * scale[:, None, :]
    settled = ops.det(scaled) >= _DET_BOUND * _MIN_SCALED_EIGENVALUE
    return settled | (ops.smallest_eigenvalue(scaled, ~settled) >= _MIN_SCALED_EIGENVALUE)


def _assess(ops: Ops, x: Array, z: Array, R: Array, t: Array, residual: Array, max_residual: float | None) -> Array:
    """[B] validity: finite inputs, pose and residual; every depth > 0 and t_z > 0; residual within bound."""
    xp = ops.xp
    depth = (z @ R.swapaxes(-1, -2))[..., 2] + t[:, 2:]
    ok = (depth > 0).all(-1) & (t[:, 2] > 0) & xp.isfinite(residual)
    ok = ok & xp.isfinite(R).all((-2, -1)) & xp.isfinite(t).all(-1) & xp.isfinite(x).all((-2, -1))
    if max_residual is not None:
        ok = ok & (residual <= max_residual)
    return ok


def _solve_iterative(
    x: torch.Tensor,
    z: torch.Tensor,
    K: torch.Tensor,
    init: torch.Tensor | None,
    max_iter: int,
    tol: float,
    max_residual: float | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Closed-form start + LM in float64, without autograd; NumPy on CPU, torch elsewhere.

    On CPU, batches of at least 256 are split into ``torch.get_num_threads()`` chunks solved by
    parallel threads (NumPy releases the GIL in its kernels).

    Args:
        x: [B, n, 2]; z: [b, n, 3]; K: [b, 3, 3] (float64); init: [B, 6] or None.
    Returns:
        pose [B, 6] and R [B, 3, 3] (finite), converged [B], residual [B] (RMS pixels, ``inf`` if not finite).
    """
    B, workers = x.shape[0], torch.get_num_threads()
    if not _use_numpy(x.device) or workers < 2 or B < _PARALLEL_MIN_BATCH:
        return _solve_chunk(x, z, K, init, max_iter, tol, max_residual)
    bounds = [B * i // workers for i in range(workers + 1)]
    chunks = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
    per_sample = [v.shape[0] > 1 for v in (z, K)]
    jobs = [
        (x[c], z[c] if per_sample[0] else z, K[c] if per_sample[1] else K, None if init is None else init[c])
        for c in chunks
    ]
    pool = _thread_pool(workers)
    parts = list(pool.map(lambda job: _solve_chunk(*job, max_iter, tol, max_residual), jobs))
    pose, R, converged, residual = (torch.cat(values) for values in zip(*parts))
    return pose, R, converged, residual


@functools.cache
def _thread_pool(workers: int) -> concurrent.futures.ThreadPoolExecutor:
    """A process-wide pool of ``workers`` threads for the chunked CPU solver."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reprozoo-pnp")


def _solve_chunk(
    x: torch.Tensor,
    z: torch.Tensor,
    K: torch.Tensor,
    init: torch.Tensor | None,
    max_iter: int,
    tol: float,
    max_residual: float | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_solve_iterative` on one batch, in the calling thread (same arguments and returns)."""
    n = x.shape[1]
    on_cpu = _use_numpy(x.device)
    ops: Ops = NumpyOps if on_cpu else TorchOps
    to_array = (lambda v: v.detach().numpy()) if on_cpu else (lambda v: v.detach())
    xa, za, Ka = to_array(x), to_array(z), to_array(K)
    with np.errstate(all="ignore"):  # non-finite samples are flagged below, not reported
        if init is not None:
            init = init.detach().double()
            R, t = to_array(axis_angle_to_matrix(init[:, :3])), to_array(init[:, 3:])
        elif n >= 6:
            R, t = _dlt_init(ops, xa, za, Ka)
        else:
            R, t = (to_array(v) for v in p3p(x, z, K))
        sol = _levenberg_marquardt(ops, xa, za, Ka, R, t, max_iter, tol, compact=on_cpu)
        residual = (sol.cost / n) ** 0.5
        residual = ops.xp.where(ops.xp.isfinite(residual), residual, np.inf)
        well = _well_conditioned(ops, sol.hessian)
        converged = sol.done & well & _assess(ops, xa, za, sol.R, sol.t, residual, max_residual)
        pose = ops.xp.concatenate((matrix_to_axis_angle(sol.R), sol.t), -1)
        finite = ops.xp.isfinite(pose).all(-1)[:, None]
        pose = _finite_pose(ops, pose)
        R = ops.xp.where(finite[..., None], sol.R, ops.eye(3, pose))
    to_tensor = (lambda a: torch.from_numpy(a)) if on_cpu else (lambda a: a)
    return to_tensor(pose), to_tensor(R), to_tensor(converged), to_tensor(residual)


# --------------------------------------------------------------------------------------------------
# Backward: implicit-function theorem (backend-generic)


def _implicit_vjp(
    ops: Ops,
    x: Array,
    z: Array,
    K: Array,
    R: Array,
    t: Array,
    g_xi: Array,
    second_order: bool,
    need_z: bool,
    need_K: bool,
) -> tuple[Array, Array | None, Array | None]:
    """Per-sample vector-Jacobian products of the PnP solution (float64) in the local chart ξ = (δ, τ).

    With ω = 2(π − x), φ = f·λ = Σ_i ω_i · D_i where D_i = ∂π_i/∂ξ λ, and λ = H⁻¹ g_ξ, the gradient
    of the loss w.r.t. any input w is ``−∂φ/∂w`` at fixed pose. The second-order pieces are:

    - the curvature of the projection, ``T_i = Kᵀ(Σ_k ω_ik ∇²_q π_ik)K = k μ_iᵀ + μ_i kᵀ`` (rank 2: k is
      the third row of K, ``μ_i = Kᵀ m_i`` with ``m_i = (−ω_i0, −ω_i1, ω_i·π_i) / q_z²``);
    - the curvature of ``exp(δ) w``, through ``v_i = (∂π_i/∂P)ᵀ ω_i``;
    - the explicit dependence of ∂π/∂P on K.

    Everything is per-point vector algebra plus one small matrix product per sample.

    Args:
        x: [B, n, 2]; z: [b, n, 3]; K: [b, 3, 3]; R: [B, 3, 3], t: [B, 3] the solution.
        g_xi: [B, 6] upstream gradient in the chart (``[J_l⁻ᵀ g_r, g_t]``).
        second_order: include the residual terms (``"bpnp"``) or not (``"bpnp-fast"``).
        need_z, need_K: whether to form the x3d / K gradients.
    Returns:
        grad_x [B, n, 2], grad_z [B, n, 3] or None, grad_K [B, 3, 3] or None (per sample).
    """
    xp = ops.xp
    w, q, pix = _camera_points(z, K, R, t)
    inv_qz = 1 / q[..., 2:]  # [B, n, 1]
    dpi_dp = _dpi_dp(q, pix, K)  # [B, n, 2, 3]
    J = _pose_jacobian(ops, w, dpi_dp)
    H = 2 * J.swapaxes(-1, -2) @ J
    if second_order:
        omega = 2 * (pix - x)
        v = (dpi_dp * omega[..., None]).sum(-2)  # [B, n, 3]
        m = xp.concatenate((-omega, (omega * pix).sum(-1)[..., None]), -1) * (inv_qz * inv_qz)
        k = xp.broadcast_to(K[:, None, 2, :], w.shape)  # [B, n, 3]
        mu = m @ K  # μ_iᵀ = m_iᵀ K
        alpha = xp.concatenate((ops.cross(w, k), k), -1)  # Γᵀ k with Γ = ∂P/∂ξ = [−[w]×, I]
        beta = xp.concatenate((ops.cross(w, mu), mu), -1)  # Γᵀ μ
        ab = alpha.swapaxes(-1, -2) @ beta
        H = H + ab + ab.swapaxes(-1, -2)  # Σ Γᵀ T Γ
        vw = v.swapaxes(-1, -2) @ w  # Σ v wᵀ
        H[:, :3, :3] += 0.5 * (vw + vw.swapaxes(-1, -2))  # curvature of exp(δ) w, contracted with v
        H[:, :3, :3] -= xp.diagonal(vw, 0, -2, -1).sum(-1)[:, None, None] * ops.eye(3, x)
    # Jacobi-scaled, ridge-regularised solve H λ = g_ξ.
    scale = xp.abs(xp.diagonal(H, 0, -2, -1)).clip(min=np.finfo(np.float64).tiny) ** -0.5
    scaled = _regularised(ops, scale[:, :, None] * H * scale[:, None, :], _RIDGE)
    lam = ops.solve(scaled, (scale * g_xi)[..., None])[..., 0] * scale
    lam_rot = lam[:, None, :3]
    dP = ops.cross(lam_rot, w) + lam[:, None, 3:]  # [B, n, 3]
    D = (dpi_dp * dP[..., None, :]).sum(-1)  # [B, n, 2]
    grad_x = 2 * D
    grad_z = grad_K = None
    if need_z or need_K:
        grad_P = -2 * (dpi_dp * D[..., None]).sum(-2)
        if second_order:
            grad_P = grad_P - k * (mu * dP).sum(-1)[..., None] - mu * (k * dP).sum(-1)[..., None]  # T dP
        if need_z:
            grad_w = grad_P - ops.cross(v, lam_rot) if second_order else grad_P
            grad_z = grad_w @ R
        if need_K:
            P = w + t[:, None]

            def dehom_t(a: Array) -> Array:  # (∂π/∂q)ᵀ a for a [B, n, 2]
                return xp.concatenate((a, -(a * pix).sum(-1)[..., None]), -1) * inv_qz

            grad_K = -2 * dehom_t(D).swapaxes(-1, -2) @ P
            if second_order:
                u = dP @ K.swapaxes(-1, -2)  # K dP
                Qu = m * u[..., 2:]  # (e₃mᵀ + m e₃ᵀ) u
                Qu[..., 2] += (m * u).sum(-1)
                grad_K = grad_K - Qu.swapaxes(-1, -2) @ P - dehom_t(omega).swapaxes(-1, -2) @ dP
    return grad_x, grad_z, grad_K


class _BPnPFunction(torch.autograd.Function):
    """The BPnP layer: detached iterative forward, implicit-function-theorem backward."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        x2d: torch.Tensor,
        x3d: torch.Tensor,
        K: torch.Tensor,
        init: torch.Tensor | None,
        second_order: bool,
        max_iter: int,
        tol: float,
        max_residual: float | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Solve; returns pose [B, 6], converged [B] (bool), residual [B]; see :func:`solve_pnp`."""
        x, z, k = _batched64(x2d, x3d, K)
        pose, R, converged, residual = _solve_iterative(x, z, k, init, max_iter, tol, max_residual)
        ctx.save_for_backward(x2d, x3d, K, pose, R, converged)
        ctx.second_order = second_order
        dtype = torch.promote_types(torch.promote_types(x2d.dtype, x3d.dtype), K.dtype)
        ctx.mark_non_differentiable(converged, residual)
        return pose.to(dtype), converged, residual.to(dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(
        ctx: torch.autograd.function.FunctionCtx,
        grad_pose: torch.Tensor,
        _grad_converged: torch.Tensor,
        _grad_residual: torch.Tensor,
    ) -> tuple[torch.Tensor | None, ...]:
        """Gradients for (x2d, x3d, K); zero for samples flagged as failed."""
        x2d, x3d, K, pose, R, converged = ctx.saved_tensors
        need_x, need_z, need_K = ctx.needs_input_grad[:3]
        on_cpu = _use_numpy(x2d.device)
        ops: Ops = NumpyOps if on_cpu else TorchOps
        x, z, k, R, pose, g = (
            v.detach().numpy() if on_cpu else v for v in (*_batched64(x2d, x3d, K), R, pose, grad_pose.double())
        )
        with np.errstate(all="ignore"):  # failed samples get zero gradients below
            g_rot = (left_jacobian_inverse(pose[:, :3]).swapaxes(-1, -2) @ g[:, :3, None])[..., 0]
            g_xi = ops.xp.concatenate((g_rot, g[:, 3:]), -1)  # the upstream gradient in the chart
            grads = _implicit_vjp(ops, x, z, k, R, pose[:, 3:], g_xi, ctx.second_order, need_z, need_K)
        valid = converged[:, None, None]
        out = []
        for grad, like, needed in zip(grads, (x2d, x3d, K), (need_x, need_z, need_K)):
            if not needed:
                out.append(None)
                continue
            grad = torch.from_numpy(grad) if on_cpu else grad
            grad = torch.where(valid, grad, torch.zeros_like(grad))
            out.append((grad if like.ndim == 3 else grad.sum(0)).to(like.dtype))
        return (*out, None, None, None, None, None)


# --------------------------------------------------------------------------------------------------
# EPnP (autograd, torch)


class _FiniteRowGrad(torch.autograd.Function):
    """Identity whose backward zeroes the rows (leading index) of the gradient that are not finite.

    EPnP's autograd graph is row-independent over the batch, so a degenerate sample can only poison
    its own rows; zeroing them keeps the gradients of shared inputs (summed over the batch) finite.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, value: torch.Tensor) -> torch.Tensor:
        """Return ``value`` [B, ...] unchanged."""
        return value.view_as(value)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        """``grad`` [B, ...] with non-finite rows set to zero."""
        finite = grad.isfinite().reshape(grad.shape[0], -1).all(-1)
        return torch.where(finite.reshape(-1, *([1] * (grad.ndim - 1))), grad, torch.zeros_like(grad))


def _solve_epnp(
    x2d: torch.Tensor, x3d: torch.Tensor, K: torch.Tensor, refine: int, max_residual: float | None
) -> PnPResult:
    """EPnP + ``refine`` Gauss–Newton steps in float64 with autograd; see :func:`solve_pnp`.

    Flagged samples get zero gradients, as in the implicit layer.
    """
    dtype = torch.promote_types(torch.promote_types(x2d.dtype, x3d.dtype), K.dtype)
    x, z, k = _batched64(x2d, x3d, K)
    B, n = x.shape[:2]
    x, z, k = (_FiniteRowGrad.apply(v.expand(B, *v.shape[1:])) for v in (x, z, k))
    usable = x.isfinite().all((-2, -1))
    x = torch.where(usable[:, None, None], x, torch.zeros_like(x))
    R, t = epnp(x, z, k)
    for _ in range(refine):
        w, q, pix = _camera_points(z, k, R, t)
        J = _pose_jacobian(TorchOps, w, _dpi_dp(q, pix, k))
        step = torch.linalg.solve_ex(J.mT @ J, J.mT @ (x - pix).reshape(B, 2 * n, 1))[0][..., 0]
        R, t = _retract(TorchOps, step[:, :3], R), t + step[:, 3:]
    with torch.no_grad():
        w, q, pix = _camera_points(z, k, R, t)
        J = _pose_jacobian(TorchOps, w, _dpi_dp(q, pix, k))
        residual = ((pix - x) ** 2).sum((-2, -1)).div(n).sqrt()
        residual = torch.where(residual.isfinite(), residual, torch.inf)
        finite_J = J.isfinite().all((-2, -1))
        hessian = torch.where(finite_J[:, None, None], J.mT @ J, torch.eye(6, dtype=J.dtype, device=J.device))
        well = _well_conditioned(TorchOps, hessian) & finite_J
        converged = usable & well & _assess(TorchOps, x, z, R, t, residual, max_residual)
    pose = torch.cat((matrix_to_axis_angle(R), t), -1)
    pose = _finite_pose(TorchOps, torch.where(converged[:, None], pose, pose.detach()))
    return PnPResult(pose.to(dtype), converged, residual.to(dtype))
