"""Batched, differentiable Perspective-n-Point (PnP): the BPnP layer and an EPnP baseline (public API).

Pose convention: ``pose = [r | t]`` [B, 6], ``r`` axis-angle (radians, angle in [0, π]) and ``t`` the
translation, so that ``X_cam = R(r) X + t`` and pixels are ``dehom(K X_cam)``, as in
:func:`reprozoo.geometry.camera.project_points`.

``"bpnp"``, ``"bpnp-fast"``: a detached iterative forward (:mod:`reprozoo.geometry.pnp_solver`: closed-form start,
then batched Levenberg–Marquardt on the pixel reprojection error in float64) and an implicit-function-theorem
backward (:mod:`reprozoo.geometry.pnp_backward`: full analytic Hessian for ``"bpnp"``, Gauss–Newton for
``"bpnp-fast"``), wrapped in one ``torch.autograd.Function``. Both are written once against a small array interface
(:mod:`reprozoo.geometry.array_ops`) and run in NumPy for CPU tensors (several times less per-call overhead than eager
torch on these small arrays) and in torch on other devices, where no data leaves the device.

``"epnp"``: closed-form EPnP (:mod:`reprozoo.geometry.epnp`) plus ``refine`` optional Gauss–Newton steps, all in
torch and differentiated by plain autograd.

Failures never produce NaN: ``converged`` is False when the optimiser did not reach ``tol`` within ``max_iter``, when
any point has depth ≤ 0 or ``t_z ≤ 0``, when the Gauss–Newton Hessian is numerically singular (Jacobi-scaled smallest
eigenvalue < 1e-10, e.g. collinear model points), when any input or output is non-finite, or when the RMS residual
exceeds ``max_residual``; the pose returned for such a sample is finite (the last accepted iterate, or
``r = 0, t = (0, 0, 1)``), and its gradients are zero.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch

from reprozoo.geometry.array_ops import NumpyOps, Ops, TorchOps
from reprozoo.geometry.camera import project_points
from reprozoo.geometry.epnp import epnp
from reprozoo.geometry.pnp_backward import implicit_vjp_batch
from reprozoo.geometry.pnp_model import camera_points, finite_pose, linearise, retract, solve, to_model_layout
from reprozoo.geometry.pnp_solver import SolverOptions, assess, solve_batch, state_at
from reprozoo.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle_batch_last

Method = Literal["bpnp", "bpnp-fast", "epnp"]
_METHODS = ("bpnp", "bpnp-fast", "epnp")


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
    options = SolverOptions(max_iter, tol, max_residual)
    return PnPResult(*_BPnPFunction.apply(x2d, x3d, K, init, method == "bpnp", options))


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


def _backend(device: torch.device) -> Ops:
    """The array backend for tensors on ``device``."""
    return NumpyOps if _use_numpy(device) else TorchOps


# --------------------------------------------------------------------------------------------------
# The BPnP layer


class _BPnPFunction(torch.autograd.Function):
    """The BPnP layer: detached iterative forward, implicit-function-theorem backward, on the same backend."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        x2d: torch.Tensor,
        x3d: torch.Tensor,
        K: torch.Tensor,
        init: torch.Tensor | None,
        second_order: bool,
        options: SolverOptions,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Solve; returns pose [B, 6], converged [B] (bool), residual [B]; see :func:`solve_pnp`."""
        ops = _backend(x2d.device)
        x, z, k = to_model_layout(ops, *(ops.from_tensor(v) for v in _batched64(x2d, x3d, K)))
        start = None if init is None else ops.from_tensor(init.double())
        solution = solve_batch(ops, x, z, k, start, options)
        ctx.save_for_backward(x2d, x3d, K)  # for autograd's in-place modification checks
        ctx.arrays = (ops, x, z, k, solution)
        ctx.second_order = second_order
        dtype = torch.promote_types(torch.promote_types(x2d.dtype, x3d.dtype), K.dtype)
        converged, residual = ops.to_tensor(solution.converged), ops.to_tensor(solution.residual).to(dtype)
        ctx.mark_non_differentiable(converged, residual)
        return ops.to_tensor(solution.pose).to(dtype), converged, residual

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(
        ctx: torch.autograd.function.FunctionCtx,
        grad_pose: torch.Tensor,
        _grad_converged: torch.Tensor,
        _grad_residual: torch.Tensor,
    ) -> tuple[torch.Tensor | None, ...]:
        """Gradients for (x2d, x3d, K); zero for samples flagged as failed."""
        inputs = ctx.saved_tensors
        ops, x, z, k, solution = ctx.arrays
        R = ops.permute(solution.R, 1, 2, 0)
        grad = ops.from_tensor(grad_pose.double())
        needs = tuple(ctx.needs_input_grad[:3])
        grads = implicit_vjp_batch(ops, x, z, k, R, solution.pose, grad, solution.converged, ctx.second_order, needs)
        out = []
        for g, like, matrix in zip(grads, inputs, (False, False, True)):
            if g is not None:  # from the model layout [3 | 2, n | 3, B] back to the input's
                g = g.sum(-1) if like.ndim == 2 else ops.permute(g, 2, 0, 1)
                g = ops.to_tensor(ops.contiguous(g if matrix else g.swapaxes(-1, -2))).to(like.dtype)
            out.append(g)
        return (*out, None, None, None)


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
    B = x.shape[0]
    x, z, k = (_FiniteRowGrad.apply(v.expand(B, *v.shape[1:])) for v in (x, z, k))
    usable = x.isfinite().all((-2, -1))
    x = torch.where(usable[:, None, None], x, torch.zeros_like(x))
    R, t = epnp(x, z, k)
    xm, zm, km = to_model_layout(TorchOps, x, z, k)
    R, t = R.permute(1, 2, 0), t.T
    for _ in range(refine):
        normal = linearise(TorchOps, xm, km, *camera_points(zm, km, R, t), None).normal
        step = solve(TorchOps, normal[:, :6], normal[:, 6])
        R, t = retract(TorchOps, step[:3], R), t + step[3:]
    with torch.no_grad():
        valid, residual = assess(TorchOps, xm, state_at(TorchOps, xm, zm, km, R, t), max_residual)
        converged = usable & valid
    pose = torch.cat((matrix_to_axis_angle_batch_last(R), t)).T
    pose = finite_pose(TorchOps, torch.where(converged[:, None], pose, pose.detach()))
    return PnPResult(pose.to(dtype), converged, residual.to(dtype))
