"""Closed-form PnP in torch: batched, differentiable EPnP (Lepetit, Moreno-Noguer & Fua, IJCV 2009)
and a batched P3P start for 4-5 points (:func:`p3p`).

The EPnP algorithm follows OpenCV's ``SOLVEPNP_EPNP`` step by step, so that on well-posed float64
inputs the poses agree with ``cv2.solvePnP(..., flags=cv2.SOLVEPNP_EPNP)`` to rounding:

1. control points: the centroid of the model points plus their principal axes scaled by
   ``sqrt(eigenvalue / n)``. The axes' signs change the result under noise; they are reproduced by
   emulating OpenCV's one-sided Jacobi SVD (:func:`opencv_sym_eig3`);
2. the 2n × 12 system ``M`` (rows weighted by fx and fy, as OpenCV's pixel-domain rows are) and the
   four eigenvectors of ``MᵀM`` with the smallest eigenvalues;
3. three candidate β vectors (kernel dimensions 1–3 of the paper's linearisations), each polished by
   5 Gauss-Newton steps on the control-point distances;
4. for each candidate the camera-frame points, the sign that puts the first point in front, a Kabsch
   fit (rotation, translation), and the mean pixel reprojection error; the lowest error wins.

Parity needs n >= 6: with 4 or 5 points the null space of ``M`` is exactly degenerate, its basis is
arbitrary, and so are both results (EPnP is unreliable for n = 4 anyway). Other differences from
OpenCV, all in degenerate cases only: the Kabsch fit returns a proper rotation
(``U diag(1, 1, det) Vᵀ``) where OpenCV negates the last row, and the small least-squares systems are
solved by normal equations instead of SVD/QR.

Everything is plain torch (autograd works through it); ``eigh`` has a damped backward
(:class:`DampedEigh`) so that near-degenerate kernels give large but finite gradients.
"""

from __future__ import annotations

import torch

# Index pairs of the six control-point distances, in OpenCV's order.
_PAIR_A = (0, 0, 0, 1, 1, 2)
_PAIR_B = (1, 2, 3, 2, 3, 3)
_GN_STEPS = 5  # OpenCV's fixed number of Gauss-Newton steps on β
_JACOBI_SWEEPS = 8  # upper bound on Jacobi sweeps for a 3 × 3 matrix (3–5 are needed in practice)
_EIGH_DAMPING = 1e-10  # relative to the largest |eigenvalue|


def unproject_to_normalized(x2d: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Normalised image coordinates ``dehom(K⁻¹ [u, v, 1]ᵀ)`` (works for any invertible K, skew included).

    Args:
        x2d: [B, n, 2] pixels (u, v).
        K: [B, 3, 3] or [1, 3, 3] intrinsics.
    Returns:
        [B, n, 2] normalised coordinates (x/z, y/z) of the viewing rays.
    """
    homog = torch.cat((x2d, torch.ones_like(x2d[..., :1])), dim=-1)
    rays = homog @ torch.linalg.inv_ex(K)[0].mT  # _ex: a singular K gives non-finite rays, no error
    return rays[..., :2] / rays[..., 2:]


class DampedEigh(torch.autograd.Function):
    """``torch.linalg.eigh`` whose backward uses ``Δ/(Δ² + ε²)`` in place of ``1/Δ`` for eigenvalue gaps Δ.

    ε is ``1e-10 · max|λ|`` per matrix: gradients are unchanged wherever eigenvalues are separated and
    stay finite where two of them (nearly) coincide, e.g. for a near-affine EPnP kernel.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, A: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eigen-decompose symmetric ``A`` [..., m, m] → eigenvalues [..., m] (ascending), eigenvectors [..., m, m].

        Matrices with non-finite entries give NaN (LAPACK would raise).
        """
        finite = A.isfinite().all(-1).all(-1)[..., None]
        eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
        eigvals, eigvecs = torch.linalg.eigh(torch.where(finite[..., None], A, eye))
        eigvals = torch.where(finite, eigvals, torch.nan)
        eigvecs = torch.where(finite[..., None], eigvecs, torch.nan)
        ctx.save_for_backward(eigvals, eigvecs)
        return eigvals, eigvecs

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad_vals: torch.Tensor, grad_vecs: torch.Tensor
    ) -> torch.Tensor:
        """Gradient w.r.t. ``A`` [..., m, m] (symmetrised)."""
        eigvals, eigvecs = ctx.saved_tensors
        gap = eigvals[..., None, :] - eigvals[..., :, None]
        eps = _EIGH_DAMPING * eigvals.abs().amax(-1, keepdim=True)[..., None]
        inner = (gap / (gap * gap + eps * eps)) * (eigvecs.mT @ grad_vecs)
        inner = inner + torch.diag_embed(grad_vals)
        grad = eigvecs @ inner @ eigvecs.mT
        return 0.5 * (grad + grad.mT)


def opencv_sym_eig3(C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of symmetric PSD 3 × 3 matrices with OpenCV's eigenvector signs.

    Emulates ``cv::SVD::compute`` (one-sided Jacobi, ``JacobiSVDImpl_``) on a symmetric PSD input, for
    which the left singular vectors are the accumulated Jacobi rotations: the same rotation sequence,
    skip test (``|p| ≤ 10·DBL_EPSILON·sqrt(a b)``) and final descending sort give the same signs.
    Sweeps stop early on CPU once no rotation was applied; elsewhere all sweeps run (the extra ones
    are exact no-ops), so no device-to-host synchronisation happens.

    Args:
        C: [..., 3, 3] symmetric positive semi-definite matrices.
    Returns:
        eigenvalues [..., 3] in descending order, and eigenvectors [..., 3, 3] as *rows*.
    """
    eps = 10 * torch.finfo(C.dtype).eps
    # Row k: [k-th row of Aᵗ | k-th row of the accumulated rotation], rotated together.
    rows = list(torch.cat((C, torch.eye(3, dtype=C.dtype, device=C.device).expand_as(C)), -1).unbind(-2))
    norms = [(r[..., :3] ** 2).sum(-1) for r in rows]
    for _ in range(_JACOBI_SWEEPS):
        changed = torch.zeros_like(norms[0], dtype=torch.bool)
        for i, j in ((0, 1), (0, 2), (1, 2)):
            a, b = norms[i], norms[j]
            p = (rows[i][..., :3] * rows[j][..., :3]).sum(-1)
            rotate = p.abs() > eps * (a * b).sqrt()
            p2 = torch.where(rotate, 2 * p, torch.ones_like(p))
            beta = a - b
            gamma = torch.hypot(p2, beta)
            neg = beta < 0
            # The larger of (c, s) is >= 1/sqrt(2), so the smaller one's division is safe.
            big = (torch.where(neg, gamma - beta, gamma + beta) / (2 * gamma)).sqrt()
            small = p2 / (gamma * big * 2)
            c = torch.where(rotate, torch.where(neg, small, big), torch.ones_like(big))[..., None]
            s = torch.where(rotate, torch.where(neg, big, small), torch.zeros_like(big))[..., None]
            rows[i], rows[j] = c * rows[i] + s * rows[j], c * rows[j] - s * rows[i]
            norms[i], norms[j] = (rows[i][..., :3] ** 2).sum(-1), (rows[j][..., :3] ** 2).sum(-1)
            changed = changed | rotate
        if C.device.type == "cpu" and not bool(changed.any()):
            break
    singular = torch.stack(norms, -1).sqrt()
    order = torch.argsort(singular, dim=-1, descending=True, stable=True)
    vectors = torch.stack(rows, -2)[..., 3:].gather(-2, order[..., None].expand(*order.shape, 3))
    return singular.gather(-1, order), vectors


def _control_points(x3d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """World control points and barycentric coordinates of the model points.

    Args:
        x3d: [b, n, 3] model points.
    Returns:
        control points [b, 4, 3] and alphas [b, n, 4] (``x3d = alphas @ control``).
    """
    n = x3d.shape[-2]
    centroid = x3d.mean(-2, keepdim=True)
    centred = x3d - centroid
    eigvals, axes = opencv_sym_eig3(centred.mT @ centred)
    scale = (eigvals / n).sqrt()
    control = torch.cat((centroid, centroid + scale[..., None] * axes), dim=-2)
    # Pseudo-inverse semantics of OpenCV's cvInvert(CV_SVD): axes with a negligible scale (planar
    # or collinear models) get zero barycentric weight.
    keep = scale > 2 * torch.finfo(x3d.dtype).eps * scale.sum(-1, keepdim=True)
    inv_scale = torch.where(keep, 1 / torch.where(keep, scale, torch.ones_like(scale)), torch.zeros_like(scale))
    a123 = (centred @ axes.mT) * inv_scale[..., None, :]
    alphas = torch.cat((1 - a123.sum(-1, keepdim=True), a123), dim=-1)
    return control, alphas


def _positive_sqrt(x: torch.Tensor) -> torch.Tensor:
    """``sqrt(x)`` for ``x > 0`` and 0 elsewhere, with a finite gradient everywhere."""
    pos = x > 0
    return torch.where(pos, torch.where(pos, x, torch.ones_like(x)).sqrt(), torch.zeros_like(x))


def _solve_normal(A: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Least squares ``argmin |A x − b|`` by normal equations: A [..., m, k], b [..., m] → x [..., k]."""
    return torch.linalg.solve_ex(A.mT @ A, (A.mT @ b[..., None]))[0][..., 0]


def _initial_betas(L: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
    """The three linearised β estimates of EPnP (OpenCV's ``find_betas_approx_1/2/3``).

    Args:
        L: [B, 6, 10] the ``L_6x10`` matrix; rho: [b, 6] squared control-point distances.
    Returns:
        [B, 3, 4] candidate β vectors.
    """
    b4 = _solve_normal(L[..., [0, 1, 3, 6]], rho)
    m4 = torch.where(b4[..., :1] < 0, -b4, b4)
    beta0 = m4[..., 0].sqrt()
    cand1 = torch.cat((beta0[..., None], m4[..., 1:] / beta0[..., None]), -1)

    b3 = _solve_normal(L[..., [0, 1, 2]], rho)
    m3 = torch.where(b3[..., :1] < 0, -b3, b3)
    beta0 = torch.where(b3[..., 1] < 0, -m3[..., 0].sqrt(), m3[..., 0].sqrt())
    zero = torch.zeros_like(beta0)
    cand2 = torch.stack((beta0, _positive_sqrt(m3[..., 2]), zero, zero), -1)

    b5 = _solve_normal(L[..., [0, 1, 2, 3, 4]], rho)
    m5 = torch.where(b5[..., :1] < 0, -b5, b5)
    beta0 = torch.where(b5[..., 1] < 0, -m5[..., 0].sqrt(), m5[..., 0].sqrt())
    cand3 = torch.stack((beta0, _positive_sqrt(m5[..., 2]), b5[..., 3] / beta0, zero), -1)
    return torch.stack((cand1, cand2, cand3), dim=-2)


def _kabsch(src: torch.Tensor, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rigid fit ``dst ≈ src @ Rᵀ + t`` (least squares, proper rotation).

    Args:
        src: [..., n, 3] and dst: [..., n, 3] corresponding points.
    Returns:
        R [..., 3, 3] and t [..., 3] (non-finite where the inputs are).
    """
    src_c, dst_c = src.mean(-2, keepdim=True), dst.mean(-2, keepdim=True)
    cov = (dst - dst_c).mT @ (src - src_c)
    finite = cov.isfinite().all(-1).all(-1)[..., None, None]
    U, _, Vh = torch.linalg.svd(torch.where(finite, cov, torch.eye(3, dtype=cov.dtype, device=cov.device)))
    U = torch.where(finite, U, torch.nan)  # the LAPACK SVD raises on non-finite input; keep those non-finite
    d = torch.linalg.det(U @ Vh)
    ones = torch.ones_like(d)
    R = (U * torch.stack((ones, ones, d), -1)[..., None, :]) @ Vh
    t = dst_c[..., 0, :] - (src_c @ R.mT)[..., 0, :]
    return R, t


def _epnp_candidates(
    x2d: torch.Tensor, x3d: torch.Tensor, K: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The three EPnP candidate poses (kernel dimensions 1–3) and their mean pixel errors.

    Args:
        x2d: [B, n, 2] pixels (u, v), n >= 4.
        x3d: [B, n, 3] or [1, n, 3] model points.
        K: [B, 3, 3] or [1, 3, 3] intrinsics.
    Returns:
        R [B, 3, 3, 3], t [B, 3, 3] (``X_cam = R X + t``) and the mean reprojection error [B, 3] in
        pixels (``inf`` where not finite). Degenerate inputs may give non-finite poses.
    """
    B, n = x2d.shape[:2]
    xn = unproject_to_normalized(x2d, K)
    control, alphas = _control_points(x3d)

    one, zero = torch.ones_like(xn[..., 0]), torch.zeros_like(xn[..., 0])
    row_u = torch.stack((one, zero, -xn[..., 0]), -1) * K[..., 0, 0].abs()[..., None, None]
    row_v = torch.stack((zero, one, -xn[..., 1]), -1) * K[..., 1, 1].abs()[..., None, None]
    Mu = (alphas[..., :, None] * row_u[..., None, :]).reshape(B, n, 12)
    Mv = (alphas[..., :, None] * row_v[..., None, :]).reshape(B, n, 12)
    _, eigvecs = DampedEigh.apply(Mu.mT @ Mu + Mv.mT @ Mv)
    kernel = eigvecs[..., :4]  # [B, 12, 4], smallest eigenvalue first

    per_point = kernel.reshape(B, 4, 3, 4)
    diff = per_point[:, _PAIR_A] - per_point[:, _PAIR_B]  # [B, 6, 3, 4]
    gram = diff.mT @ diff  # [B, 6, 4, 4]: |Σ β_k diff_k|² = βᵀ gram β
    iu = (0, 0, 1, 0, 1, 2, 0, 1, 2, 3)
    ju = (0, 1, 1, 2, 2, 2, 3, 3, 3, 3)
    L = gram[..., iu, ju] * torch.tensor([1.0, 2, 1, 2, 2, 1, 2, 2, 2, 1], dtype=gram.dtype, device=gram.device)
    rho = (control[..., _PAIR_A, :] - control[..., _PAIR_B, :]).square().sum(-1)

    betas = _initial_betas(L, rho)  # [B, 3, 4]
    gram_c, rho_c = gram[:, None], rho[..., None, :]
    for _ in range(_GN_STEPS):
        g_beta = (gram_c @ betas[..., None, :, None])[..., 0]  # [B, 3, 6, 4]
        residual = rho_c - (g_beta * betas[..., None, :]).sum(-1)
        betas = betas + _solve_normal(2 * g_beta, residual)

    ccs = (kernel[:, None] @ betas[..., None]).reshape(B, 3, 4, 3)
    pcs = alphas[:, None] @ ccs  # [B, 3, n, 3]
    pcs = torch.where(pcs[..., :1, 2:] < 0, -pcs, pcs)
    R, t = _kabsch(x3d[:, None], pcs)

    cam = x3d[:, None] @ R.mT + t[..., None, :]
    pix = cam @ K[:, None].mT
    err = (pix[..., :2] / pix[..., 2:] - x2d[:, None]).norm(dim=-1).mean(-1)  # [B, 3]
    return R, t, torch.nan_to_num(err, nan=torch.inf)


def epnp(x2d: torch.Tensor, x3d: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form EPnP pose for a batch (the candidate with the lowest error), differentiable by autograd.

    Args:
        x2d: [B, n, 2] pixels (u, v), n >= 4.
        x3d: [B, n, 3] or [1, n, 3] model points.
        K: [B, 3, 3] or [1, 3, 3] intrinsics.
    Returns:
        R [B, 3, 3] and t [B, 3] with ``X_cam = R X + t``. Degenerate inputs may give non-finite values;
        callers check them.
    """
    R, t, err = _epnp_candidates(x2d, x3d, K)
    best = err.argmin(-1)
    B = x2d.shape[0]
    R = R.gather(1, best[:, None, None, None].expand(B, 1, 3, 3))[:, 0]
    t = t.gather(1, best[:, None, None].expand(B, 1, 3))[:, 0]
    return R, t


def _p3p_candidates(rays: torch.Tensor, world: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Grunert's P3P: up to four poses from three bearing rays and their model points.

    With distances s_i along the unit rays, ``s2 = u s1``, ``s3 = v s1``, the law of cosines gives a
    quartic in v (Haralick et al., IJCV 1994, §2.1); its roots are the eigenvalues of the companion
    matrix. The real parts of all four are kept as candidates (a pair of nearly real complex roots
    is what noise makes of a double root); invalid ones come out non-finite or badly fitting.

    Args:
        rays: [B, 3, 3] unit bearing vectors (rows) of the three image points.
        world: [B, 3, 3] the corresponding model points (rows).
    Returns:
        R [B, 4, 3, 3] and t [B, 4, 3], one pose per root.
    """
    p1, p2, p3 = world.unbind(-2)
    a2, b2, c2 = ((p2 - p3) ** 2).sum(-1), ((p1 - p3) ** 2).sum(-1), ((p1 - p2) ** 2).sum(-1)
    cos_a = (rays[:, 1] * rays[:, 2]).sum(-1)
    cos_b = (rays[:, 0] * rays[:, 2]).sum(-1)
    cos_g = (rays[:, 0] * rays[:, 1]).sum(-1)
    amc, apc = (a2 - c2) / b2, (a2 + c2) / b2
    A4 = (amc - 1) ** 2 - 4 * c2 / b2 * cos_a**2
    A3 = 4 * (amc * (1 - amc) * cos_b - (1 - apc) * cos_a * cos_g + 2 * c2 / b2 * cos_a**2 * cos_b)
    A2 = 2 * (
        amc**2 - 1 + 2 * amc**2 * cos_b**2 + 2 * (b2 - c2) / b2 * cos_a**2
        - 4 * apc * cos_a * cos_b * cos_g + 2 * (b2 - a2) / b2 * cos_g**2
    )
    A1 = 4 * (-amc * (1 + amc) * cos_b + 2 * a2 / b2 * cos_g**2 * cos_b - (1 - apc) * cos_a * cos_g)
    A0 = (1 + amc) ** 2 - 4 * a2 / b2 * cos_g**2
    companion = torch.zeros(*A4.shape, 4, 4, dtype=rays.dtype, device=rays.device)
    companion[..., 0, :] = -torch.stack((A3, A2, A1, A0), -1) / A4[..., None]
    companion[..., 1:, :3] = torch.eye(3, dtype=rays.dtype, device=rays.device)
    finite = companion.isfinite().all(-1).all(-1)[..., None]
    eye = torch.eye(4, dtype=rays.dtype, device=rays.device)
    v = torch.linalg.eigvals(torch.where(finite[..., None], companion, eye)).real
    v = torch.where(finite, v, torch.nan)  # [B, 4]
    cos_a, cos_b, cos_g, amc = (c[..., None] for c in (cos_a, cos_b, cos_g, amc))
    u = ((amc - 1) * v**2 - 2 * amc * cos_b * v + 1 + amc) / (2 * (cos_g - v * cos_a))
    s1 = (b2[..., None] / (1 + v**2 - 2 * v * cos_b)).sqrt()
    distances = torch.stack((s1, u * s1, v * s1), -1)  # [B, 4, 3]
    cam = distances[..., None] * rays[:, None]  # [B, 4, 3, 3]
    return _kabsch(world[:, None], cam)


def p3p(x2d: torch.Tensor, x3d: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form pose for few points: P3P on every triple of the first five points, best fit wins.

    The start of the iterative solver for n = 4, 5, where EPnP's kernel is degenerate. Candidates with
    a point behind the camera are discarded; the one with the lowest mean pixel error over all n
    points is returned. Not differentiated (a starting point only).

    Args:
        x2d: [B, n, 2] pixels, n >= 4; x3d: [b, n, 3]; K: [b, 3, 3].
    Returns:
        R [B, 3, 3], t [B, 3] (non-finite where no candidate is valid).
    """
    B, n = x2d.shape[:2]
    rays = torch.cat((unproject_to_normalized(x2d, K), torch.ones_like(x2d[..., :1])), -1)
    rays = rays / rays.norm(dim=-1, keepdim=True)
    triples = torch.combinations(torch.arange(min(n, 5), device=x2d.device), 3)  # [T, 3]
    world = x3d[:, triples].expand(B, -1, 3, 3)  # [B, T, 3, 3]
    R, t = _p3p_candidates(rays[:, triples].reshape(-1, 3, 3), world.reshape(-1, 3, 3))
    R, t = R.reshape(B, -1, 3, 3), t.reshape(B, -1, 3)  # [B, 4T, ...]
    cam = x3d[:, None] @ R.mT + t[..., None, :]
    pix = cam @ K[:, None].mT
    err = (pix[..., :2] / pix[..., 2:] - x2d[:, None]).norm(dim=-1).mean(-1)
    err = torch.where((cam[..., 2] > 0).all(-1), err, torch.inf).nan_to_num(nan=torch.inf)
    best = err.argmin(-1)
    R = R.gather(1, best[:, None, None, None].expand(B, 1, 3, 3))[:, 0]
    t = t.gather(1, best[:, None, None].expand(B, 1, 3))[:, 0]
    return R, t
