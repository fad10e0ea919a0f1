"""Backward of the BPnP layer: implicit-function-theorem gradients of the PnP solution (backend-generic).

At the solution y* of ``min_y o(y)``, with f = ∂o/∂y, ``∂y*/∂w = −(∂f/∂y)⁻¹ ∂f/∂w`` for every input w ∈ {x2d, x3d, K}.
The Hessian and the mixed derivatives are evaluated analytically in the local chart ``R ← exp(δ) R, t ← t + τ``
(:mod:`reprozoo.geometry.pnp_model`); at a stationary point the chart change to axis-angle is exact through the
inverse left Jacobian of SO(3).

- ``second_order=True`` (``"bpnp"``): the exact Hessian and mixed derivatives (residual × second derivatives of the
  projection);
- ``second_order=False`` (``"bpnp-fast"``): the Gauss–Newton form ``∂f/∂y ≈ 2JᵀJ``, ``∂f/∂w ≈ 2Jᵀ ∂π/∂w``, exact at
  zero residual.

The 6 × 6 systems are Jacobi-scaled, regularised (``+1e-12·I``) and solved in batch (no explicit inverse); gradients
of samples flagged as failed are zero.
"""

from __future__ import annotations

import numpy as np

from reprozoo.geometry.array_ops import Array, Ops, batch_part, chunk_ranges, map_chunks
from reprozoo.geometry.pnp_model import Camera, camera_points, jacobi_solve, linearise, transform
from reprozoo.geometry.rotations import cross, left_jacobian_inverse_transpose_apply


def implicit_vjp(
    ops: Ops,
    x: Array,
    z: Array,
    cam: Camera,
    R: Array,
    pose: Array,
    grad_pose: Array,
    valid: Array,
    second_order: bool,
    needs: tuple[bool, bool, bool],
) -> tuple[Array | None, Array | None, Array | None]:
    """Vector-Jacobian products of the PnP solution w.r.t. (x2d, x3d, K), float64.

    With ``e = π − x`` and ``λ = H⁻¹ g_ξ`` (H the Hessian of ``½ o`` in the chart, g_ξ the upstream gradient in the
    chart), the gradient of the loss w.r.t. an input w is ``−∂(Jᵀe)/∂w · λ`` at fixed pose. Per point, with
    ``dP = λ_δ × w + λ_τ`` the camera-point motion along λ and ``D = ∂π/∂P``:

    - x2d: ``D dP``;
    - camera point P: ``−Dᵀ D dP − (k μᵀ + μ kᵀ) dP`` (projection curvature, see
      :mod:`reprozoo.geometry.pnp_model`), and the model point through ``w = R z`` with the extra ``−v × λ_δ`` from
      the curvature of ``exp(δ) w``;
    - K: through ``q = K P`` (both D and the curvature depend on K).

    Args:
        x: [2, n, B]; z: [3, n, b]; cam: the intrinsics (:func:`~reprozoo.geometry.pnp_model.to_model_layout`).
        R: [3, 3, B] and pose: [B, 6] the solution.
        grad_pose: [B, 6] upstream gradient w.r.t. the axis-angle | translation pose.
        valid: [B] bool; other samples get zero gradients.
        second_order: exact (``"bpnp"``) or Gauss–Newton (``"bpnp-fast"``) derivatives.
        needs: whether the x2d, x3d and K gradients are needed.
    Returns:
        per-sample grad_x [2, n, B], grad_z [3, n, B] and grad_K [3, 3, B] (the layout of x, z and K), None where
        not needed.
    """
    xp = ops.xp
    need_x, need_z, need_K = needs
    K = cam.K
    with np.errstate(all="ignore"):  # failed samples get zero gradients below
        pose, grad_pose = pose.T, grad_pose.T  # [6, B]
        t = pose[3:]
        g_rot = left_jacobian_inverse_transpose_apply(pose[:3], grad_pose[:3])
        g_xi = xp.concatenate((g_rot, grad_pose[3:]), 0).T  # the upstream gradient in the chart, [B, 6]
        w, q, pix = camera_points(z, cam, R, t)
        lin = linearise(ops, x, cam, w, q, pix, True if second_order else None)
        lam = jacobi_solve(ops, ops.permute(lin.normal[:, :6], 2, 0, 1), g_xi).T  # [6, B]
        D_dP = xp.einsum("ranb,ab->rnb", lin.J, lam)  # D dP = J λ, [2, n, B]
        grads: list[Array | None] = [D_dP if need_x else None, None, None]
        if need_z or need_K:
            D = lin.J[:, 3:]
            dP = cross(lam[:3, None], w) + lam[3:, None]  # [3, n, B]
            inv_qz = 1 / q[2]
            grad_P = -(D * D_dP[:, None]).sum(0)  # [3, n, B]
            if second_order:  # the projection curvature Σ_r e_r ∇²_P π_r = k μᵀ + μ kᵀ, μ = Kᵀ m
                m = xp.concatenate((-lin.e, (lin.e * pix).sum(0)[None]), 0) * (inv_qz * inv_qz)
                mu = transform(cam.K_t, m)
                k = K[2, :, None]
                grad_P = grad_P - k * (mu * dP).sum(0) - mu * (k * dP).sum(0)
            if need_z:
                grad_w = grad_P - cross(lin.v, lam[:3, None]) if second_order else grad_P
                grads[1] = (R[:, :, None] * grad_w[:, None]).sum(0)  # Rᵀ grad_w
            if need_K:
                P = w + t[:, None]

                def dehom_t(a: Array) -> Array:  # (∂π/∂q)ᵀ a for a [2, n, B] → [3, n, B]
                    return xp.concatenate((a, -(a * pix).sum(0)[None]), 0) * inv_qz

                lhs = dehom_t(D_dP)
                if second_order:
                    u = transform(K, dP)  # K dP
                    Qu = m * u[2]  # (e₃mᵀ + m e₃ᵀ) u
                    Qu[2] += (m * u).sum(0)
                    lhs = lhs + Qu
                grad_K = -(lhs[:, None] * P[None]).sum(2)
                if second_order:
                    grad_K = grad_K - (dehom_t(lin.e)[:, None] * dP[None]).sum(2)
                grads[2] = grad_K
    return tuple(None if grad is None else xp.where(valid, grad, 0.0) for grad in grads)


def implicit_vjp_batch(
    ops: Ops,
    x: Array,
    z: Array,
    cam: Camera,
    R: Array,
    pose: Array,
    grad_pose: Array,
    valid: Array,
    second_order: bool,
    needs: tuple[bool, bool, bool],
) -> tuple[Array | None, Array | None, Array | None]:
    """:func:`implicit_vjp`, with large NumPy batches split into chunks (see
    :func:`~reprozoo.geometry.array_ops.chunk_ranges`) processed by parallel threads where available. Same arguments
    and result as :func:`implicit_vjp`."""
    chunks, workers = chunk_ranges(ops, x.shape[2], x.shape[1])
    if len(chunks) == 1:
        return implicit_vjp(ops, x, z, cam, R, pose, grad_pose, valid, second_order, needs)
    jobs = [
        (
            ops,
            batch_part(x, c),
            batch_part(z, c),
            Camera(*(batch_part(v, c) for v in cam)),
            batch_part(R, c),
            pose[c],
            grad_pose[c],
            valid[c],
            second_order,
            needs,
        )
        for c in chunks
    ]
    parts = map_chunks(implicit_vjp, jobs, workers)
    return tuple(None if part[0] is None else np.concatenate(part, -1) for part in zip(*parts))
