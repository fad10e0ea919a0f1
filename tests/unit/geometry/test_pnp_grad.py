"""Gradients of solve_pnp: implicit-function theorem vs finite differences and independent formulas."""

from __future__ import annotations

import pytest
import torch

from reprozoo.geometry.pnp import project, solve_pnp

from .test_pnp import make_problem


def _pose_fn(method: str, **kwargs):
    return lambda x2d, x3d, K: solve_pnp(x2d, x3d, K, method=method, **kwargs).pose


def _leaf(*tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.clone().requires_grad_() for t in tensors]


@pytest.mark.parametrize("shared", [True, False])
def test_bpnp_gradcheck_noisy(shared: bool) -> None:
    # σ = 1 px: the residual (second-order) terms of the Hessian and of ∂f/∂(x2d, x3d, K) matter here,
    # so the Gauss–Newton form would fail this check (see test_second_order_terms_matter).
    x2d, x3d, K, _ = make_problem(2, 6, noise=1.0, seed=1, shared=shared, per_sample_K=not shared)
    inputs = _leaf(x2d, x3d, K)
    assert solve_pnp(*inputs).converged.all()
    assert torch.autograd.gradcheck(_pose_fn("bpnp", tol=1e-12), inputs, atol=1e-6, rtol=1e-4)


def test_second_order_terms_matter() -> None:
    x2d, x3d, K, _ = make_problem(2, 6, noise=1.0, seed=1)
    inputs = _leaf(x2d, x3d, K)
    full = torch.autograd.functional.jacobian(_pose_fn("bpnp"), tuple(inputs))
    fast = torch.autograd.functional.jacobian(_pose_fn("bpnp-fast"), tuple(inputs))
    for a, b in zip(full, fast):
        assert (a - b).norm() > 1e-3 * a.norm()


def test_gradients_match_finite_differences_per_input() -> None:
    # A direct central-difference Jacobian (h = 1e-6) of the pose w.r.t. each input, noisy keypoints.
    x2d, x3d, K, _ = make_problem(1, 8, noise=1.0, seed=2)
    f = _pose_fn("bpnp", tol=1e-13, max_iter=50)
    analytic = torch.autograd.functional.jacobian(f, (x2d, x3d, K))
    for i, value in enumerate((x2d, x3d, K)):
        numeric = torch.zeros_like(analytic[i])
        flat = value.reshape(-1)
        for k in range(flat.numel()):
            plus, minus = flat.clone(), flat.clone()
            plus[k] += 1e-6
            minus[k] -= 1e-6
            args_p = [x2d, x3d, K]
            args_m = [x2d, x3d, K]
            args_p[i], args_m[i] = plus.reshape(value.shape), minus.reshape(value.shape)
            column = (f(*args_p) - f(*args_m)) / 2e-6
            numeric.reshape(6, -1)[:, k] = column.reshape(-1)
        scale = numeric.abs().max()
        assert (analytic[i] - numeric).abs().max() < 1e-6 * scale + 1e-9


def test_fast_gradients_equal_gauss_newton_formula() -> None:
    # Independent check of "bpnp-fast" (and of the chart change to axis-angle): with Jy = ∂π/∂y from
    # autograd through `project`, the Gauss–Newton implicit derivative is (JyᵀJy)⁻¹ Jyᵀ ∂π/∂w.
    x2d, x3d, K, _ = make_problem(1, 9, noise=1.0, seed=3)
    pose = solve_pnp(x2d, x3d, K, tol=1e-13).pose.detach()
    Jy = torch.autograd.functional.jacobian(lambda p: project(p, x3d, K), pose).reshape(18, 6)
    Jz = torch.autograd.functional.jacobian(lambda z: project(pose, z, K), x3d).reshape(18, 27)
    JK = torch.autograd.functional.jacobian(lambda k: project(pose, x3d, k), K).reshape(18, 9)
    gauss_newton = torch.linalg.solve(Jy.T @ Jy, Jy.T)  # [6, 18] = ∂y/∂x2d
    expected = (gauss_newton, -gauss_newton @ Jz, -gauss_newton @ JK)
    fast = torch.autograd.functional.jacobian(_pose_fn("bpnp-fast", tol=1e-13), (x2d, x3d, K))
    for got, want in zip(fast, expected):
        torch.testing.assert_close(got.reshape(want.shape), want, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize(("noise", "tolerance"), [(0.0, 1e-9), (0.01, 2e-4), (0.1, 2e-3)])
def test_fast_matches_full_near_zero_residual(noise: float, tolerance: float) -> None:
    # Stated tolerance: relative difference <= 2e-2 · σ/px for this camera (f = 800 px, 4–8 m), and
    # equality to rounding at σ = 0 (where the second-order terms vanish).
    x2d, x3d, K, _ = make_problem(16, 9, noise=noise, seed=4)
    g = torch.randn(16, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    grads = []
    for method in ("bpnp", "bpnp-fast"):
        inputs = _leaf(x2d, x3d, K)
        pose = solve_pnp(*inputs, method=method).pose
        grads.append(torch.autograd.grad(pose, inputs, g))
    for full, fast in zip(*grads):
        assert (full - fast).norm() <= tolerance * full.norm()


def test_epnp_gradcheck() -> None:
    # fast_mode checks random projections of the Jacobian (the full check of EPnP takes ~10 s).
    x2d, x3d, K, _ = make_problem(1, 6, noise=1.0, seed=5)
    inputs = _leaf(x2d, x3d, K)
    assert torch.autograd.gradcheck(_pose_fn("epnp"), inputs, atol=1e-6, rtol=1e-4, fast_mode=True)
    assert torch.autograd.gradcheck(_pose_fn("epnp", refine=1), inputs, atol=1e-6, rtol=1e-4, fast_mode=True)


def test_epnp_refinement_approaches_the_optimum() -> None:
    x2d, x3d, K, _ = make_problem(8, 9, noise=1.0, seed=6)
    optimum = solve_pnp(x2d, x3d, K).pose
    closed = solve_pnp(x2d, x3d, K, method="epnp").pose
    refined = solve_pnp(x2d, x3d, K, method="epnp", refine=3).pose
    assert (refined - optimum).abs().max() < 1e-8 < (closed - optimum).abs().max()


def test_float32_gradients() -> None:
    x2d, x3d, K, _ = make_problem(4, 9, noise=1.0, seed=7)
    g = torch.randn(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ref = torch.autograd.grad(solve_pnp(*(inputs := _leaf(x2d, x3d, K))).pose, inputs, g)
    inputs32 = _leaf(x2d.float(), x3d.float(), K.float())
    got = torch.autograd.grad(solve_pnp(*inputs32).pose, inputs32, g.float())
    for a, b in zip(got, ref):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a.double(), b, rtol=2e-3, atol=1e-6 * b.abs().max().item())


def test_gradient_only_flows_to_requested_inputs() -> None:
    x2d, x3d, K, _ = make_problem(3, 9, seed=8)
    x2d.requires_grad_()
    pose = solve_pnp(x2d, x3d, K).pose
    (grad,) = torch.autograd.grad(pose.square().sum(), x2d)
    assert grad.shape == x2d.shape and grad.isfinite().all() and grad.abs().sum() > 0
    assert x3d.grad is None and K.grad is None
