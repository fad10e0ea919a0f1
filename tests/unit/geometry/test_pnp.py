"""solve_pnp forward: parity with OpenCV, failure flags and input validation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from reprozoo.geometry.epnp import opencv_sym_eig3
from reprozoo.geometry.array_ops import NumpyOps, TorchOps
from reprozoo.geometry.pnp_model import solve, transform
from reprozoo.geometry import pnp as pnp_module
from reprozoo.geometry.pnp import PnPResult, project, solve_pnp

K_NP = np.array([[800.0, 0.0, 320.0], [0.0, 780.0, 240.0], [0.0, 0.0, 1.0]])


def make_problem(
    B: int,
    n: int,
    *,
    noise: float = 1.0,
    seed: int = 0,
    shared: bool = True,
    planar: bool = False,
    per_sample_K: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random well-posed PnP problems: model points in [-1, 1]³ (z = 0 if planar) seen at 4–8 m.

    Returns:
        x2d [B, n, 2] (Gaussian pixel noise of std ``noise``), x3d [n, 3] or [B, n, 3], K [3, 3] or
        [B, 3, 3], and the ground-truth poses [B, 6]; all float64.
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (B if not shared else 1, n, 3))
    if planar:
        X[..., 2] = 0.0
    Ks = np.repeat(K_NP[None], B, 0)
    if per_sample_K:
        Ks[:, :2, :2] *= rng.uniform(0.8, 1.2, (B, 1, 1))
        Ks[:, :2, 2] += rng.uniform(-20, 20, (B, 2))
    poses, x2d = [], []
    for b in range(B):
        axis = rng.normal(size=3)
        r = axis / np.linalg.norm(axis) * rng.uniform(0.2, 2.5)
        t = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), rng.uniform(4.0, 8.0)])
        cam = X[0 if shared else b] @ cv2.Rodrigues(r)[0].T + t
        pix = cam @ Ks[b].T
        x2d.append(pix[:, :2] / pix[:, 2:] + rng.normal(scale=noise, size=(n, 2)))
        poses.append(np.r_[r, t])
    x3d = torch.from_numpy(X[0] if shared else X)
    K = torch.from_numpy(Ks if per_sample_K else K_NP.copy())
    return torch.from_numpy(np.stack(x2d)), x3d, K, torch.from_numpy(np.stack(poses))


def _per_sample(x2d: torch.Tensor, x3d: torch.Tensor, K: torch.Tensor, b: int) -> tuple[np.ndarray, ...]:
    return (
        x2d[b].numpy(),
        (x3d if x3d.ndim == 2 else x3d[b]).numpy(),
        (K if K.ndim == 2 else K[b]).numpy(),
    )


def opencv_iterative(x2d: torch.Tensor, x3d: torch.Tensor, K: torch.Tensor) -> np.ndarray:
    """``cv2.solvePnP(SOLVEPNP_ITERATIVE)`` per sample, polished by ``cv2.solvePnPRefineLM``.

    OpenCV's ITERATIVE stops at a relative step of FLT_EPSILON after at most 20 LM iterations, which
    leaves up to ~1e-5 relative error on some noisy problems; the extra refinement (same objective,
    same minimum) brings the reference to ~1e-8.
    """
    out = []
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 100, 1e-15)
    for b in range(x2d.shape[0]):
        pts2, pts3, k = _per_sample(x2d, x3d, K, b)
        ok, rvec, tvec = cv2.solvePnP(pts3, pts2, k, None, flags=cv2.SOLVEPNP_ITERATIVE)
        assert ok
        rvec, tvec = cv2.solvePnPRefineLM(pts3, pts2, k, None, rvec, tvec, criteria)
        out.append(np.r_[rvec.ravel(), tvec.ravel()])
    return np.stack(out)


def opencv_epnp(x2d: torch.Tensor, x3d: torch.Tensor, K: torch.Tensor) -> np.ndarray:
    """``cv2.solvePnP(SOLVEPNP_EPNP)`` per sample → [B, 6]."""
    out = []
    for b in range(x2d.shape[0]):
        pts2, pts3, k = _per_sample(x2d, x3d, K, b)
        ok, rvec, tvec = cv2.solvePnP(pts3, pts2, k, None, flags=cv2.SOLVEPNP_EPNP)
        assert ok
        out.append(np.r_[rvec.ravel(), tvec.ravel()])
    return np.stack(out)


def relative_pose_error(pose: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per sample max(|Δr| / max(|r|, 1), |Δt| / |t|)."""
    dr = np.linalg.norm(pose[:, :3] - ref[:, :3], axis=1) / np.maximum(np.linalg.norm(ref[:, :3], axis=1), 1.0)
    dt = np.linalg.norm(pose[:, 3:] - ref[:, 3:], axis=1) / np.linalg.norm(ref[:, 3:], axis=1)
    return np.maximum(dr, dt)


@pytest.mark.parametrize(
    ("n", "shared", "per_sample_K"),
    [(9, True, False), (32, True, False), (9, False, True), (12, False, False)],
)
def test_bpnp_matches_opencv_iterative(n: int, shared: bool, per_sample_K: bool) -> None:
    x2d, x3d, K, _ = make_problem(48, n, seed=n, shared=shared, per_sample_K=per_sample_K)
    result = solve_pnp(x2d, x3d, K)
    assert isinstance(result, PnPResult)
    assert result.converged.all()
    err = relative_pose_error(result.pose.numpy(), opencv_iterative(x2d, x3d, K))
    assert err.max() < 1e-6, err.max()
    # The residual output is the RMS pixel error at the returned pose.
    rms = (project(result.pose, x3d, K) - x2d).square().sum(-1).mean(-1).sqrt()
    torch.testing.assert_close(result.residual, rms, rtol=1e-10, atol=0)


def test_planar_model_matches_opencv_iterative() -> None:
    # Planar targets are ill-conditioned (a flat valley in rotation): even the polished OpenCV
    # reference stops ~1e-6 short of the minimum, so check the same minimum and a cost at least as low.
    x2d, x3d, K, _ = make_problem(32, 16, seed=3, planar=True, noise=0.5)
    result = solve_pnp(x2d, x3d, K, tol=1e-12, max_iter=50)
    assert result.converged.all()
    ref = torch.from_numpy(opencv_iterative(x2d, x3d, K))
    err = relative_pose_error(result.pose.numpy(), ref.numpy())
    assert err.max() < 1e-5, err.max()
    ref_residual = (project(ref, x3d, K) - x2d).square().sum(-1).mean(-1).sqrt()
    assert (result.residual <= ref_residual * (1 + 1e-12)).all()


@pytest.mark.parametrize("n", [6, 9, 32])
def test_epnp_matches_opencv_epnp(n: int) -> None:
    x2d, x3d, K, _ = make_problem(48, n, seed=100 + n, shared=n != 9)
    result = solve_pnp(x2d, x3d, K, method="epnp")
    assert result.converged.all()
    err = relative_pose_error(result.pose.numpy(), opencv_epnp(x2d, x3d, K))
    assert err.max() < 1e-6, err.max()


def test_opencv_sym_eig3_signs_match_cv2_svd() -> None:
    rng = np.random.default_rng(0)
    A = rng.normal(size=(64, 7, 3))
    C = A.transpose(0, 2, 1) @ A
    values, vectors = opencv_sym_eig3(torch.from_numpy(C))
    for c, val, vec in zip(C, values.numpy(), vectors.numpy()):
        w, u, _ = cv2.SVDecomp(c)
        np.testing.assert_allclose(val, w.ravel(), rtol=1e-12)
        np.testing.assert_allclose(vec, u.T, atol=1e-10)


@pytest.mark.parametrize("n", [5, 6, 9])
def test_zero_noise_recovers_ground_truth(n: int) -> None:
    x2d, x3d, K, gt = make_problem(32, n, noise=0.0, seed=7 + n)
    for method in ("bpnp", "epnp"):
        result = solve_pnp(x2d, x3d, K, method=method)
        assert result.converged.all()
        err = relative_pose_error(result.pose.numpy(), gt.numpy())
        assert err.max() < (1e-9 if method == "bpnp" else 1e-6), err.max()


@pytest.mark.parametrize("n", [4, 5])
def test_few_points_recover_ground_truth_where_epnp_fails(n: int) -> None:
    # n = 4, 5 start from P3P: EPnP's kernel is exactly degenerate there (OpenCV's EPnP recovers
    # ~4 % of these P4P problems, and LM from it ~60 %).
    x2d, x3d, K, gt = make_problem(64, n, noise=0.0, seed=11)
    result = solve_pnp(x2d, x3d, K)
    assert result.converged.all()
    assert relative_pose_error(result.pose.numpy(), gt.numpy()).max() < 1e-9
    noisy = solve_pnp(*make_problem(64, n, noise=1.0, seed=12)[:3])
    assert noisy.converged.all()


@pytest.mark.parametrize("n", [4, 9])
def test_negative_focal_length(n: int) -> None:
    # UAVA's intrinsics have fx < 0 (a mirrored image axis); nothing may assume fx > 0.
    _, x3d, K, gt = make_problem(16, n, noise=0.0, seed=30)
    K = K.clone()
    K[0, 0] = -K[0, 0]
    x2d = project(gt, x3d, K)
    for method in ("bpnp", "epnp") if n >= 6 else ("bpnp",):
        result = solve_pnp(x2d, x3d, K, method=method)
        assert result.converged.all()
        assert relative_pose_error(result.pose.numpy(), gt.numpy()).max() < 1e-9


def test_init_is_used_and_converges_to_the_same_minimum() -> None:
    x2d, x3d, K, gt = make_problem(16, 9, seed=11)
    reference = solve_pnp(x2d, x3d, K, tol=1e-12)
    noise = torch.randn(16, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    start = gt + noise * torch.tensor([0.2, 0.2, 0.2, 0.3, 0.3, 0.3], dtype=torch.float64)
    warm = solve_pnp(x2d, x3d, K, init=start, tol=1e-12)
    assert warm.converged.all()
    assert relative_pose_error(warm.pose.numpy(), reference.pose.numpy()).max() < 1e-9
    capped = solve_pnp(x2d, x3d, K, init=start, max_iter=1)
    assert not capped.converged.all()  # one LM step from 0.2 rad away cannot reach 1e-10


@pytest.mark.parametrize("noise", [1.0, 3.0])
def test_exact_hessian_steps_converge_in_few_iterations(noise: float) -> None:
    # Gauss–Newton converges only linearly on noisy data (5–7 iterations on this batch); with exact-Hessian steps
    # near the optimum every sample reaches tol within 4.
    x2d, x3d, K, _ = make_problem(64, 9, noise=noise, seed=2)
    assert solve_pnp(x2d, x3d, K, max_iter=4).converged.all()


def test_iteration_cap_keeps_finished_samples() -> None:
    # A converged sample is frozen: any cap at or after its last iteration returns the same pose and residual
    # (including caps that end the loop right after finished samples left the working set).
    x2d, x3d, K, _ = make_problem(128, 9, noise=1.0, seed=24)
    full = solve_pnp(x2d, x3d, K)
    assert full.converged.all()
    for max_iter in range(1, 6):
        capped = solve_pnp(x2d, x3d, K, max_iter=max_iter)
        assert capped.pose.isfinite().all() and not capped.residual.isnan().any()
        done = capped.converged
        assert torch.equal(capped.pose[done], full.pose[done])
        assert torch.equal(capped.residual[done], full.residual[done])


def test_shared_and_per_sample_inputs_agree() -> None:
    # A shared model and intrinsics take the memoised, single-product paths; per-sample copies the batched ones.
    x2d, x3d, K, _ = make_problem(24, 9, seed=25)
    B = x2d.shape[0]
    results, grads = [], []
    for model, intrinsics in ((x3d, K), (x3d.expand(B, 9, 3), K.expand(B, 3, 3))):
        inputs = [v.clone().requires_grad_() for v in (x2d, model, intrinsics)]
        result = solve_pnp(*inputs, tol=1e-12)
        results.append(result)
        grads.append(torch.autograd.grad(result.pose.square().sum(), inputs))
    (shared, per_sample), (g_shared, g_per_sample) = results, grads
    assert shared.converged.all() and torch.equal(shared.converged, per_sample.converged)
    torch.testing.assert_close(per_sample.pose, shared.pose, atol=1e-10, rtol=0)
    for got, want in zip((g_per_sample[0], g_per_sample[1].sum(0), g_per_sample[2].sum(0)), g_shared):
        torch.testing.assert_close(got, want, atol=1e-8 * want.abs().max().item(), rtol=1e-6)
    # The memoised model and intrinsics are unchanged by use.
    assert torch.equal(solve_pnp(x2d, x3d, K, tol=1e-12).pose, shared.pose.detach())


def test_float32_inputs() -> None:
    x2d, x3d, K, _ = make_problem(8, 9, seed=12)
    ref = solve_pnp(x2d, x3d, K)
    result = solve_pnp(x2d.float(), x3d.float(), K.float())
    assert result.pose.dtype == torch.float32 and result.residual.dtype == torch.float32
    assert result.converged.all()
    torch.testing.assert_close(result.pose.double(), ref.pose, atol=1e-4, rtol=1e-4)


def test_project_matches_cv2() -> None:
    x2d, x3d, K, gt = make_problem(4, 9, seed=13)
    pix = project(gt, x3d, K)
    for b in range(4):
        ref, _ = cv2.projectPoints(x3d.numpy(), gt[b, :3].numpy(), gt[b, 3:].numpy(), K.numpy(), None)
        np.testing.assert_allclose(pix[b].numpy(), ref[:, 0], atol=1e-10)


def test_max_residual_flags_outliers() -> None:
    x2d, x3d, K, _ = make_problem(4, 9, seed=14)
    x2d[1, 3] += 80.0
    result = solve_pnp(x2d, x3d, K, max_residual=5.0)
    assert result.converged.tolist() == [True, False, True, True]
    assert result.residual[1] > 5.0
    assert solve_pnp(x2d, x3d, K).converged.all()


# ----------------------------------------------------------------------------------------------
# Degenerate inputs: flagged, finite, never NaN


@pytest.mark.parametrize("method", ["bpnp", "bpnp-fast", "epnp"])
def test_collinear_points_are_flagged(method: str) -> None:
    x2d, _, K, gt = make_problem(3, 8, seed=15)
    direction = torch.tensor([[0.3, -0.5, 0.8]], dtype=torch.float64)
    line = torch.linspace(-1, 1, 8, dtype=torch.float64)[:, None] * direction
    x2d = project(gt, line, K) + 0.5 * torch.randn(3, 8, 2, dtype=torch.float64)
    x2d.requires_grad_()
    result = solve_pnp(x2d, line, K, method=method)
    assert not result.converged.any()
    assert result.pose.isfinite().all() and not result.residual.isnan().any()
    (grad,) = torch.autograd.grad(result.pose.sum(), x2d)
    assert (grad == 0).all()


@pytest.mark.parametrize("method", ["bpnp", "bpnp-fast", "epnp"])
def test_points_behind_the_camera_are_flagged(method: str) -> None:
    x2d, x3d, K, gt = make_problem(4, 9, seed=16, noise=0.0)
    straddling = gt.clone()
    straddling[:, 5] = 0.3  # the model (radius ~1.7) crosses the camera plane
    result = solve_pnp(project(straddling, x3d, K), x3d, K, method=method)
    assert not result.converged.any()
    assert result.pose.isfinite().all() and not result.residual.isnan().any()
    behind = gt.clone()
    behind[:, 5] = -behind[:, 5]
    x2d = project(behind, x3d, K)
    if method != "epnp":
        # Started at the exact (all-behind) solution, the optimiser stays there and flags it.
        assert not solve_pnp(x2d, x3d, K, method=method, init=behind).converged.any()
    # From the closed-form start the best pose in front of the camera fits badly.
    result = solve_pnp(x2d, x3d, K, method=method, max_residual=5.0)
    assert not result.converged.any() and result.pose.isfinite().all()


def test_non_finite_keypoints_flag_only_their_sample() -> None:
    x2d, x3d, K, _ = make_problem(4, 9, seed=17)
    x2d[2, 0, 0] = float("nan")
    x2d[3, 5, 1] = float("inf")
    x2d.requires_grad_()
    for method in ("bpnp", "bpnp-fast", "epnp"):
        result = solve_pnp(x2d, x3d, K, method=method)
        assert result.converged.tolist() == [True, True, False, False]
        assert result.pose.isfinite().all() and not result.residual.isnan().any()
        (grad,) = torch.autograd.grad(result.pose.sum(), x2d)
        assert grad[:2].isfinite().all() and grad[:2].abs().sum() > 0
        assert (grad[2:] == 0).all()


@pytest.mark.parametrize("method", ["bpnp", "bpnp-fast", "epnp"])
def test_non_finite_model_or_intrinsics(method: str) -> None:
    x2d, x3d, K, _ = make_problem(3, 9, seed=21, shared=False, per_sample_K=True)
    x3d[1, 2, 0] = float("nan")
    K[2, 0, 0] = float("inf")
    inputs = [v.clone().requires_grad_() for v in (x2d, x3d, K)]
    result = solve_pnp(*inputs, method=method)
    assert result.converged.tolist() == [True, False, False]
    assert result.pose.isfinite().all() and not result.residual.isnan().any()
    grads = torch.autograd.grad(result.pose.sum(), inputs)
    for grad in grads:
        assert grad.isfinite().all() and (grad[1:] == 0).all() and grad[0].abs().sum() > 0
    # A non-finite shared model fails every sample, without raising.
    x3d_shared = make_problem(3, 9, seed=21)[1]
    x3d_shared[0, 0] = float("nan")
    assert not solve_pnp(x2d, x3d_shared, K, method=method).converged.any()


def test_singular_intrinsics_do_not_produce_nan() -> None:
    x2d, x3d, _, _ = make_problem(2, 9, seed=18)
    result = solve_pnp(x2d, x3d, torch.zeros(3, 3, dtype=torch.float64))
    assert not result.converged.any()
    assert result.pose.isfinite().all() and not result.residual.isnan().any()


def test_invalid_inputs_raise_value_error() -> None:
    x2d, x3d, K, _ = make_problem(2, 9, seed=19)
    bad = [
        dict(x2d=x2d[:, :3], x3d=x3d[:3], K=K),  # n < 4
        dict(x2d=x2d[0], x3d=x3d, K=K),  # unbatched keypoints
        dict(x2d=x2d[..., :1], x3d=x3d, K=K),
        dict(x2d=x2d, x3d=x3d[:8], K=K),
        dict(x2d=x2d, x3d=x3d.expand(3, 9, 3), K=K),
        dict(x2d=x2d, x3d=x3d, K=K[:2]),
        dict(x2d=x2d, x3d=x3d, K=K.expand(3, 3, 3)),
        dict(x2d=x2d.long(), x3d=x3d, K=K),
        dict(x2d=x2d, x3d=x3d, K=K, init=torch.zeros(2, 3, dtype=torch.float64)),
        dict(x2d=x2d, x3d=x3d, K=K, method="dlt"),
        dict(x2d=x2d, x3d=x3d, K=K, max_iter=0),
    ]
    for kwargs in bad:
        with pytest.raises(ValueError):
            solve_pnp(**kwargs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    x2d, x3d, K, _ = make_problem(64, 9, seed=20)
    x2d[5, 0, 0] = float("nan")
    for method in ("bpnp", "epnp"):
        cpu = solve_pnp(x2d, x3d, K, method=method)
        gpu = solve_pnp(x2d.cuda(), x3d.cuda(), K.cuda(), method=method)
        assert gpu.pose.device.type == "cuda"
        assert torch.equal(gpu.converged.cpu(), cpu.converged)
        torch.testing.assert_close(gpu.pose.cpu(), cpu.pose, atol=1e-9, rtol=1e-9)


def test_torch_backend_matches_numpy_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    # The accelerator code path (torch ops, fixed iteration count, no host synchronisation), run on CPU.
    x2d, x3d, K, _ = make_problem(16, 9, seed=22, shared=False, per_sample_K=True)
    x2d[3, 0, 0] = float("nan")
    results = {}
    for use_numpy in (True, False):
        monkeypatch.setattr(pnp_module, "_use_numpy", lambda device, flag=use_numpy: flag)
        inputs = [v.clone().requires_grad_() for v in (x2d, x3d, K)]
        result = solve_pnp(*inputs, tol=1e-12)
        grads = torch.autograd.grad(result.pose.square().sum(), inputs)
        results[use_numpy] = (result, grads)
    (np_result, np_grads), (torch_result, torch_grads) = results[True], results[False]
    assert torch.equal(np_result.converged, torch_result.converged) and np_result.converged.sum() == 15
    torch.testing.assert_close(torch_result.pose, np_result.pose, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(torch_result.residual, np_result.residual, atol=1e-10, rtol=1e-10)
    for a, b in zip(torch_grads, np_grads):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-7)


def test_large_cpu_batches_split_across_threads_give_the_same_result() -> None:
    x2d, x3d, K, _ = make_problem(300, 9, seed=23, shared=False)
    x2d[7, 0, 0] = float("nan")
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = solve_pnp(x2d, x3d, K)
        torch.set_num_threads(3)
        chunked = solve_pnp(x2d, x3d, K)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(serial.converged, chunked.converged) and serial.converged.sum() == 299
    torch.testing.assert_close(chunked.pose, serial.pose, atol=1e-12, rtol=0)
    torch.testing.assert_close(chunked.residual, serial.residual, atol=1e-12, rtol=0)


@pytest.mark.parametrize(("B", "n"), [(300, 9), (100, 32)])
def test_chunked_batches_match_unchunked_sub_batches(B: int, n: int) -> None:
    # Large CPU batches (B·n > 2304 keypoints) are solved and differentiated chunk by chunk; every sample must get
    # what it gets in a small batch of its own.
    x2d, x3d, K, _ = make_problem(B, n, seed=26, shared=False, per_sample_K=True)
    g = torch.randn(B, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    results = []
    for part in (slice(None), slice(B - 20, None)):
        inputs = [v[part].clone().requires_grad_() for v in (x2d, x3d, K)]
        result = solve_pnp(*inputs)
        results.append((result, torch.autograd.grad(result.pose, inputs, g[part])))
    (whole, whole_grads), (tail, tail_grads) = results
    assert whole.converged.all() and tail.converged.all()
    torch.testing.assert_close(whole.pose[B - 20 :], tail.pose, atol=1e-12, rtol=0)
    for a, b in zip(whole_grads, tail_grads):
        torch.testing.assert_close(a[B - 20 :], b, atol=1e-9 * b.abs().max().item(), rtol=1e-9)


@pytest.mark.parametrize("size", [(9, 32), (40, 300)])
def test_transform_paths_agree(size: tuple[int, int]) -> None:
    # Shared matrices use one 2-D product for small inputs and per-point products for large ones.
    n, B = size
    rng = np.random.default_rng(27)
    M, p, per_sample = rng.normal(size=(18, 3, 1)), rng.normal(size=(3, n, B)), rng.normal(size=(18, 3, B))
    for lib in (np.asarray, torch.from_numpy):
        got = transform(lib(M), lib(p))
        np.testing.assert_allclose(np.asarray(got), np.einsum("mk,knb->mnb", M[:, :, 0], p), atol=1e-12)
        got = transform(lib(per_sample), lib(p))
        np.testing.assert_allclose(np.asarray(got), np.einsum("mkb,knb->mnb", per_sample, p), atol=1e-12)


@pytest.mark.parametrize("B", [16, 256])
def test_batched_solve_paths_agree(B: int) -> None:
    # Small batches call LAPACK, large NumPy ones eliminate without pivoting (damped LM systems are near SPD).
    rng = np.random.default_rng(28)
    X = rng.normal(size=(B, 6, 18))
    A = np.ascontiguousarray((X @ X.transpose(0, 2, 1) + 1e-3 * np.eye(6)).transpose(1, 2, 0))  # [6, 6, B]
    b = rng.normal(size=(6, B))
    expected = np.linalg.solve(A.transpose(2, 0, 1), b.T[..., None])[..., 0].T
    np.testing.assert_allclose(solve(NumpyOps, A, b), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(solve(TorchOps, torch.from_numpy(A), torch.from_numpy(b)).numpy(), expected, rtol=1e-9)
