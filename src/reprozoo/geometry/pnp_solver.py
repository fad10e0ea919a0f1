"""Batched forward of the BPnP layer: a closed-form start and Levenberg–Marquardt on the reprojection error.

Start: a scale-normalised DLT for n ≥ 6 (:func:`dlt_init`, its model-only part memoised), P3P on the triples of the
first points for n = 4, 5 (:func:`reprozoo.geometry.epnp.p3p`), or the caller's ``init``. Then batched
Levenberg–Marquardt in float64 (:func:`levenberg_marquardt`): Gauss–Newton steps far from the optimum, exact-Hessian
(Newton) steps once a sample converges, which turns the linear convergence of Gauss–Newton on noisy data into
quadratic convergence (4–5 iterations from the DLT start on typical problems). No per-sample Python loop; all arrays
are batch-last (:mod:`reprozoo.geometry.pnp_model`).

Backends (:mod:`reprozoo.geometry.array_ops`): with NumPy (CPU tensors) finished samples leave the working set, the
loop stops once all have converged, and large batches are solved in chunks on parallel threads (:func:`solve_batch`);
with torch (other devices) no data leaves the device, all ``max_iter`` iterations run with finished samples frozen,
and the only host synchronisations are LAPACK error checks of ``torch.linalg.eigh`` on the model's 3 × 3 covariance
(DLT start) and ``torch.linalg.eigvals`` in the P3P start (n < 6).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from reprozoo.geometry.array_ops import Array, NumpyOps, Ops, batch_part, chunk_ranges, map_chunks
from reprozoo.geometry.epnp import p3p
from reprozoo.geometry.pnp_model import (
    RIDGE,
    Camera,
    camera_points,
    finite_pose,
    linearise,
    read_only,
    regularised,
    retract,
    solve as solve_system,
    sq_error,
    transform,
)
from reprozoo.geometry.rotations import axis_angle_to_matrix, cross, matrix_to_axis_angle_batch_last

_MU_START = 1e-3  # initial Levenberg–Marquardt damping, relative to diag(JᵀJ)
_MU_MIN = 1e-12
_MU_CONVERGED = 1.0  # a step below tol only signals convergence if the damping was at most this
_NEWTON_BELOW = 0.1  # exact-Hessian steps once the last accepted step (radians, relative |t|) is below this,
_NEWTON_CONTRACTION = 0.25  # and at most this fraction of the accepted step before it (the iteration converges)
_CONTRACTION_SQ = _NEWTON_CONTRACTION**2
_LM_RIDGE = RIDGE / 6  # ridge of the LM system, relative to trace(JᵀJ)
_COST_SLACK = 1e-12  # relative cost increase still accepted (rounding level of the sum of squares)
_MIN_SCALED_EIGENVALUE = 1e-10  # smallest eigenvalue of the Jacobi-scaled JᵀJ (~ 1 / condition number)
_DET_BOUND = 2.5  # > (6/5)^5, bound on the product of five eigenvalues of a unit-diagonal 6x6 PSD matrix
_COMPACT_MIN = 64  # NumPy working sets at least this large drop finished samples,
_STRAGGLING = 5  # smaller ones from this iteration on (typical samples are done by then), once half of them are
_PLANAR_RATIO = 1e-4  # smallest / largest principal variance of the model below which it counts as planar


class SolverOptions(NamedTuple):
    """Options of the iterative solver (see :func:`reprozoo.geometry.pnp.solve_pnp`)."""

    max_iter: int
    tol: float
    max_residual: float | None


class Solution(NamedTuple):
    """Output of :func:`solve`, all [B]-batched, float64 where floating.

    Attributes:
        pose: [B, 6] axis-angle | translation (finite).
        R: [B, 3, 3] rotation of ``pose`` (finite).
        converged: [B] bool.
        residual: [B] RMS reprojection error in pixels (``inf`` where not finite).
    """

    pose: Array
    R: Array
    converged: Array
    residual: Array


# --------------------------------------------------------------------------------------------------
# Closed-form start


def _orthonormal_pair(a: Array, b: Array) -> tuple[Array, Array, Array]:
    """The orthonormal pair closest to the directions of a, b [3, B] (symmetric in a, b), and ``(|a| + |b|) / 2``."""
    tiny = np.finfo(np.float64).tiny  # (added to norms: a zero vector stays zero instead of NaN)
    norm_a, norm_b = (a * a).sum(0) ** 0.5, (b * b).sum(0) ** 0.5
    a, b = a / (norm_a + tiny), b / (norm_b + tiny)
    cos = (a * b).sum(0)  # a + b ⟂ a − b, with |a ± b|² = 2 ± 2 cos
    s, d = (a + b) / ((4 + 4 * cos) ** 0.5 + tiny), (a - b) / ((4 - 4 * cos) ** 0.5 + tiny)
    return s + d, s - d, (norm_a + norm_b) / 2


def _solve3(A: Array, b: Array) -> Array:
    """``A⁻¹ b`` for 3 × 3 systems, by cofactors: A [3, 3, B], b [3, B] → [3, B] (non-finite where singular)."""
    rows = A.swapaxes(0, 1)  # [component, row, B]
    adj = cross(rows[:, [1, 2, 0]], rows[:, [2, 0, 1]])  # columns a1 × a2, a2 × a0, a0 × a1
    det = (rows[:, 0] * adj[:, 0]).sum(0)
    return (adj * b).sum(1) / det


class ModelFrame(NamedTuple):
    """Model-only quantities of the DLT start (b = 1 for a shared model), see :func:`dlt_init`.

    Attributes:
        centroid: [3, b] model centroid.
        axes: [3, 3, b] principal axes (columns, by decreasing spread, a proper rotation).
        hh: [16, n, b] the products ``h_k h_l`` (row k·4 + l) of ``h = [X', 1]``, X' the centred model point in the
            principal frame.
        G_inv: [4, 4, b] ``(Σ_i h_i h_iᵀ)⁻¹`` (ridge-regularised).
        planar: [b] bool, the model's smallest principal variance is negligible.
    """

    centroid: Array
    axes: Array
    hh: Array
    G_inv: Array
    planar: Array


def model_frame(ops: Ops, z: Array) -> ModelFrame:
    """The :class:`ModelFrame` of model points z [3, n, b] (memoised for a shared NumPy model)."""
    if ops.host and z.shape[2] == 1:
        return _shared_model_frame(z.shape[1], z.tobytes())
    return _model_frame(ops, z)


@functools.lru_cache(maxsize=16)
def _shared_model_frame(n: int, data: bytes) -> ModelFrame:
    """:func:`model_frame` of a shared NumPy model given by its bytes, as read-only arrays."""
    with np.errstate(all="ignore"):  # non-finite models are flagged by the solver
        frame = _model_frame(NumpyOps, np.frombuffer(data).reshape(3, n, 1))
    return ModelFrame(*(read_only(v) for v in frame))


def _model_frame(ops: Ops, z: Array) -> ModelFrame:
    """:func:`model_frame`, computed."""
    xp = ops.xp
    n = z.shape[1]
    centroid = z.sum(1) / n  # [3, b]
    centred = z - centroid[:, None]
    variances, axes = ops.eigh(ops.permute((centred[:, None] * centred[None]).sum(2), 2, 0, 1))
    axes = axes[..., [2, 1, 0]]  # columns by decreasing spread
    axes = xp.concatenate((axes[..., :2], axes[..., 2:] * ops.det(axes)[..., None, None]), -1)  # proper, [b, 3, 3]
    axes = ops.permute(axes, 1, 2, 0)  # [3, 3, b]
    h = xp.concatenate((transform(axes.swapaxes(0, 1), centred), xp.ones_like(centred[:1])), 0)  # [X'; 1], [4, n, b]
    hh = (h[:, None] * h[None]).reshape(16, n, -1)
    G = regularised(ops, ops.permute(hh.sum(1).reshape(4, 4, -1), 2, 0, 1))
    G_inv = ops.permute(ops.solve(G, xp.broadcast_to(ops.eye(4, G), G.shape)), 1, 2, 0)
    planar = variances[..., 0] <= _PLANAR_RATIO * variances[..., 2]
    return ModelFrame(centroid, axes, hh, G_inv, planar)


def dlt_init(ops: Ops, x: Array, frame: ModelFrame, cam: Camera) -> tuple[Array, Array]:
    """Closed-form start for n >= 6: linear DLT with the model centroid's depth fixed to 1.

    In the model's principal frame X' (centred), solve ``c (p3·X' + 1) = p_c·X' + q_c`` for the normalised image
    coordinates c ∈ {u, v} and the 11 unknowns by linear least squares. With ``h = [X', 1]`` and ``p̃ = [p3; 1]`` the
    residuals are ``h·θ_c − c h·p̃``, ``θ_c = (p_c, q_c)``; eliminating θ_c (``θ_c = G⁻¹ Y_c p̃``) leaves
    ``min p̃ᵀ M p̃`` with ``M = Σ_c (Z_c − Y_c G⁻¹ Y_c)``, ``Y_c = Σ_i c_i h_i h_iᵀ``, ``Z_c = Σ_i c_i² h_i h_iᵀ`` and
    ``G = Σ_i h_i h_iᵀ`` (model-only), i.e. ``M[:3, :3] p3 = −M[:3, 3]``: a few 4 × 4 products per sample. The
    rotation comes from the rows p1, p2 (well determined even for near-affine views) for solid models, and from the
    first two columns of [p1; p2; p3] (the plane's homography) for planar ones.

    Args:
        x: [2, n, B] pixels; frame: the model's :class:`ModelFrame`; cam: the intrinsics.
    Returns:
        R [3, 3, B], t [3, B].
    """
    xp = ops.xp
    n, B = x.shape[1:]
    hh, G_inv, planar = frame.hh, frame.G_inv, frame.planar
    rays = transform(cam.K_inv[:, :2], x) + cam.K_inv[:, 2, None]
    c = rays[:2] / rays[2:]  # normalised image coordinates (u, v), [2, n, B]
    c = xp.concatenate((c, c * c), 0)  # [u, v, u², v²]
    if hh.shape[2] == 1:  # shared model: matrix products
        YZ = transform(hh.reshape(16, n, 1), c.swapaxes(0, 1)).reshape(4, 4, 4, B)  # [Y_u, Y_v, Z_u, Z_v]
        T = transform(G_inv, YZ[:, :, :2].reshape(4, 8, B)).reshape(4, 4, 2, B)  # G⁻¹ Y_c
    else:
        YZ = xp.einsum("knb,cnb->kcb", hh, c).reshape(4, 4, 4, B)
        T = xp.einsum("kmb,mlcb->klcb", G_inv, YZ[:, :, :2])
    M = YZ[:3, :, 2] + YZ[:3, :, 3] - xp.einsum("kmcb,mlcb->klb", YZ[:3, :, :2], T)  # rows 0-2 of M, [3, 4, B]
    S = M[:, :3] + (RIDGE / 3 * (M[0, 0] + M[1, 1] + M[2, 2])) * ops.eye(3, M)[:, :, None]
    p3 = _solve3(S, -M[:, 3])  # [3, B]
    rows = xp.einsum("kmcb,mb->kcb", T, xp.concatenate((p3, xp.ones_like(p3[:1])), 0))  # [4, 2, B]: (p_c, q_c)
    candidates = []
    if not (ops.host and bool(planar.all())):  # solid: rows p1, p2 (a scaled copy of the rotation's rows)
        r1, r2, scale = _orthonormal_pair(rows[:3, 0], rows[:3, 1])
        candidates.append((xp.stack((r1, r2, cross(r1, r2))), scale))
    if not (ops.host and not bool(planar.any())):  # planar: first two columns of [p1; p2; p3]
        columns = xp.concatenate((rows[:2], p3[:2, None]), 1)  # [2, 3, B]
        e1, e2, scale = _orthonormal_pair(columns[0], columns[1])
        candidates.append((xp.stack((e1, e2, cross(e1, e2)), 1), scale))
    if len(candidates) == 1:
        rot, scale = candidates[0]
    else:
        rot = xp.where(planar, candidates[1][0], candidates[0][0])
        scale = xp.where(planar, candidates[1][1], candidates[0][1])
    R = (rot[:, None] * frame.axes[None]).sum(2)  # rot · axesᵀ
    depth = 1 / scale
    t = depth * xp.concatenate((rows[3], xp.ones_like(depth[None])), 0) - (R * frame.centroid[None]).sum(1)
    return R, t


# --------------------------------------------------------------------------------------------------
# Levenberg–Marquardt


class State(NamedTuple):
    """A pose and what :func:`assess` needs to know about it (float64, batch B); see :func:`levenberg_marquardt`."""

    R: Array  # [3, 3, B]
    t: Array  # [3, B]
    cost: Array  # [B] sum of squared pixel errors
    done: Array  # [B] reached tol
    hessian: Array  # [6, 6, B] JᵀJ at the last linearisation
    in_front: Array  # [B] every point has depth > 0


def levenberg_marquardt(
    ops: Ops, x: Array, z: Array, cam: Camera, R: Array, t: Array, max_iter: int, tol: float
) -> State:
    """Batched LM on ``Σ |x − π(R, t)|²`` with steps ``R ← cayley(δ) R, t ← t + τ``.

    A step is accepted when it does not increase the cost beyond rounding; the damping (Marquardt, relative to
    diag(JᵀJ)) shrinks ×10 on acceptance and grows ×10 on rejection, from at least its starting value (after a run
    of accepted steps it is tiny, and growing it from there wastes iterations). Steps are Gauss–Newton until a
    sample's last step was accepted, below ``_NEWTON_BELOW`` and below ``_NEWTON_CONTRACTION`` times the accepted
    step before it (the iteration converges: near a minimum, where the exact Hessian is positive definite); then
    they use the exact Hessian. With the step size ``s = max(|δ|, |τ|/|t|)``, a sample is done (and frozen) once a
    step with damping <= 1 has ``s <= tol``, or an accepted one predicts the next to be below tol
    (``s² <= tol · s_previous``).

    With NumPy (``ops.host``) the loop stops once all samples are done, and finished samples leave the working set
    while it has at least ``_COMPACT_MIN`` samples, or, for the few slow samples still running after ``_STRAGGLING``
    iterations, once they are half of it (otherwise gathering costs more than it saves); with torch all
    ``max_iter`` iterations run (no data-dependent shapes or host decisions). Finished samples that stay in the
    working set are frozen by masks.

    Args:
        x: [2, n, B]; z: [3, n, b]; cam: the intrinsics; R: [3, 3, B]; t: [3, B] starting pose.
        max_iter: iteration cap; tol: step threshold (radians, and relative to |t|).
    Returns:
        The final :class:`State`.
    """
    xp = ops.xp
    B = x.shape[2]
    w, q, pix = camera_points(z, cam, R, t)
    cost = sq_error(x, pix)
    mu = xp.full_like(cost, _MU_START)
    last_step = xp.zeros_like(cost)  # squared size of the last accepted step; 0: none yet
    newton = None  # [B] bool: use the exact Hessian (None in the first iteration: all Gauss–Newton)
    done = cost < 0  # all False (a sum of squares; NaN compares False)
    frozen = False  # (host) whether the working set holds finished samples
    eye = ops.eye(6, x)[:, :, None]
    tol_sq = tol * tol
    if ops.host:
        index = np.arange(B)
        final = State(R.copy(), t.copy(), cost.copy(), np.zeros(B, bool), np.empty((6, 6, B)), np.empty(B, bool))
    for iteration in range(max_iter):
        mode = newton
        if ops.host and newton is not None:  # skip the masks where all samples agree
            mode = True if newton.all() else newton if newton.any() else None
        lin = linearise(ops, x, cam, w, q, pix, mode, rows=False)
        hessian, normal = lin.jj, lin.normal
        del lin  # (large temporaries are released early: re-faulting freed memory is costly)
        diag = xp.diagonal(hessian, 0, 0, 1).T  # [6, B]
        damping = eye * (diag * mu + _LM_RIDGE * diag.sum(0))
        step = solve_system(ops, normal[:, :6] + damping, normal[:, 6])  # [6, B]
        R_new, t_new = retract(ops, step[:3], R), t + step[3:]
        w_new, q_new, pix_new = camera_points(z, cam, R_new, t_new)
        cost_new = sq_error(x, pix_new)
        # The slack lets steps whose cost change is below rounding through, so that the damping does not blow up
        # at the optimum. NaN steps or costs are never accepted nor done.
        accept = cost_new <= cost * (1 + _COST_SLACK)
        step = (step * step).reshape(2, 3, -1).sum(1)  # |δ|², |τ|²
        size_sq = xp.maximum(step[0], step[1] / (t * t).sum(0))
        converging = (size_sq <= tol_sq) | (accept & (size_sq * size_sq <= tol_sq * last_step))
        contracting = (size_sq < _NEWTON_BELOW**2) & ((last_step == 0) | (size_sq < _CONTRACTION_SQ * last_step))
        if ops.host and not frozen and bool(accept.all()):  # the common case: no masks needed
            R, t, w, q, pix, cost, last_step = R_new, t_new, w_new, q_new, pix_new, cost_new, size_sq
            newton = contracting
            done = (mu <= _MU_CONVERGED) & converging
            mu = (mu * 0.1).clip(min=_MU_MIN)
        else:
            live = ~done
            accept = accept & live
            done = done | (live & (mu <= _MU_CONVERGED) & converging)
            last_step = xp.where(accept, size_sq, last_step)
            newton = accept & contracting  # back to Gauss–Newton after a rejected step
            R, t = xp.where(accept, R_new, R), xp.where(accept, t_new, t)
            w, q, pix = xp.where(accept, w_new, w), xp.where(accept, q_new, q), xp.where(accept, pix_new, pix)
            cost = xp.where(accept, cost_new, cost)
            mu = xp.where(accept, (mu * 0.1).clip(min=_MU_MIN), mu.clip(min=_MU_START) * 10)
        if not ops.host:
            continue
        finished = int(np.count_nonzero(done))
        if finished == done.shape[0]:
            break
        frozen = finished > 0
        if frozen and (done.shape[0] >= _COMPACT_MIN or (iteration >= _STRAGGLING and 2 * finished >= done.shape[0])):
            out = index[done]
            final.R[..., out], final.t[:, out], final.cost[out] = R[..., done], t[:, done], cost[done]
            final.hessian[..., out], final.done[out] = hessian[..., done], True
            final.in_front[out] = (w[2][:, done] + t[2][done] > 0).all(0)
            keep = np.flatnonzero(~done)
            index, cost, mu, last_step, done, newton = (v[keep] for v in (index, cost, mu, last_step, done, newton))
            R, t, w, q, pix, x, hessian = (v[..., keep] for v in (R, t, w, q, pix, x, hessian))
            z = z if z.shape[2] == 1 else z[..., keep]
            cam = cam if cam.K.shape[2] == 1 else Camera(*(v[..., keep] for v in cam))
            frozen = False
    in_front = (w[2] + t[2] > 0).all(0)
    if not ops.host:
        return State(R, t, cost, done, hessian, in_front)
    final.R[..., index], final.t[:, index], final.cost[index], final.done[index] = R, t, cost, done
    final.hessian[..., index], final.in_front[index] = hessian, in_front
    return final


# --------------------------------------------------------------------------------------------------
# Assessment and the whole forward


def _well_conditioned(ops: Ops, hessian: Array) -> Array:
    """[B] True where the Jacobi-scaled JᵀJ [B, 6, 6] has its smallest eigenvalue >= 1e-10.

    The scaled matrix has unit diagonal, so the product of its other five eigenvalues is at most (6/5)⁵ < 2.5 and
    ``λ_min >= det / 2.5``: a determinant >= 2.5e-10 settles it (nearly every sample); the eigenvalue is computed
    for the rest.
    """
    diag = ops.xp.diagonal(hessian, 0, -2, -1).clip(min=np.finfo(np.float64).tiny)
    scale = diag**-0.5
    scaled = scale[:, :, None] * hessian * scale[:, None, :]
    settled = ops.det(scaled) >= _DET_BOUND * _MIN_SCALED_EIGENVALUE
    if ops.host and bool(settled.all()):
        return settled
    return settled | (ops.smallest_eigenvalue(scaled, ~settled) >= _MIN_SCALED_EIGENVALUE)


def assess(ops: Ops, x: Array, state: State, max_residual: float | None) -> tuple[Array, Array]:
    """Validity and RMS residual of final poses.

    Valid: finite inputs, pose and residual; every depth > 0 and t_z > 0; a well-conditioned Gauss–Newton Hessian
    JᵀJ (see :func:`_well_conditioned`); residual within ``max_residual`` when given.

    Args:
        x: [2, n, B] observed pixels; state: the final :class:`State` (from :func:`levenberg_marquardt` or
            :func:`state_at`).
    Returns:
        valid [B] bool and residual [B] (RMS pixels, ``inf`` where not finite).
    """
    xp = ops.xp
    residual = (state.cost / x.shape[1]) ** 0.5
    residual = xp.where(xp.isfinite(residual), residual, np.inf)
    ok = state.in_front & (state.t[2] > 0) & xp.isfinite(residual) & xp.isfinite(x).all(0).all(0)
    ok = ok & xp.isfinite(state.R).all(0).all(0) & xp.isfinite(state.t).all(0)
    if max_residual is not None:
        ok = ok & (residual <= max_residual)
    return ok & _well_conditioned(ops, ops.permute(state.hessian, 2, 0, 1)), residual


def state_at(ops: Ops, x: Array, z: Array, cam: Camera, R: Array, t: Array) -> State:
    """The :class:`State` of poses R [3, 3, B], t [3, B] (done: all False), for :func:`assess`."""
    w, q, pix = camera_points(z, cam, R, t)
    jj = linearise(ops, x, cam, w, q, pix, None, rows=False).jj
    cost = sq_error(x, pix)
    return State(R, t, cost, cost < 0, jj, (w[2] + t[2] > 0).all(0))


def solve(ops: Ops, x: Array, z: Array, cam: Camera, init: Array | None, options: SolverOptions) -> Solution:
    """Closed-form start + LM + assessment for one batch, in float64, without autograd.

    Args:
        ops: the backend of the arrays.
        x: [2, n, B]; z: [3, n, b]; cam: the intrinsics (float64, :func:`~reprozoo.geometry.pnp_model.to_model_layout`,
            b ∈ {1, B}); init: [B, 6] or None.
        options: iteration cap, tolerance, residual bound.
    Returns:
        The :class:`Solution`.
    """
    xp = ops.xp
    n = x.shape[1]
    with np.errstate(all="ignore"):  # non-finite samples are flagged below, not reported
        if init is not None:
            R, t = ops.permute(axis_angle_to_matrix(init[:, :3]), 1, 2, 0), init[:, 3:].T
        elif n >= 6:
            R, t = dlt_init(ops, x, model_frame(ops, z), cam)
        else:
            inputs = (ops.permute(x, 2, 1, 0), ops.permute(z, 2, 1, 0), ops.permute(cam.K, 2, 0, 1))
            R, t = (ops.from_tensor(v) for v in p3p(*(ops.to_tensor(v) for v in inputs)))
            R, t = ops.permute(R, 1, 2, 0), t.T
        state = levenberg_marquardt(ops, x, z, cam, R, t, options.max_iter, options.tol)
        valid, residual = assess(ops, x, state, options.max_residual)
        pose = xp.concatenate((matrix_to_axis_angle_batch_last(state.R), state.t), 0).T
        finite = xp.isfinite(pose).all(-1)
        pose = finite_pose(ops, pose)
        R = xp.where(finite[:, None, None], ops.permute(state.R, 2, 0, 1), ops.eye(3, pose))
    return Solution(pose, R, state.done & valid, residual)


def solve_batch(ops: Ops, x: Array, z: Array, cam: Camera, init: Array | None, options: SolverOptions) -> Solution:
    """:func:`solve`, with large NumPy batches split into chunks (see :func:`~reprozoo.geometry.array_ops.chunk_ranges`)
    solved by parallel threads where available. Same arguments and result as :func:`solve`."""
    chunks, workers = chunk_ranges(ops, x.shape[2], x.shape[1])
    if len(chunks) == 1:
        return solve(ops, x, z, cam, init, options)
    jobs = [
        (ops, batch_part(x, c), batch_part(z, c), Camera(*(batch_part(v, c) for v in cam)), _rows(init, c), options)
        for c in chunks
    ]
    return Solution(*(np.concatenate(values) for values in zip(*map_chunks(solve, jobs, workers))))


def _rows(a: Array | None, chunk: slice) -> Array | None:
    """Rows ``chunk`` of a batch-first array (None stays None)."""
    return None if a is None else a[chunk]
