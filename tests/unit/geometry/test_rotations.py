"""Rodrigues conversions and the SO(3) left Jacobian against OpenCV, identities and finite differences."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from reprozoo.geometry.rotations import (
    axis_angle_to_matrix,
    cross,
    left_jacobian_inverse,
    left_jacobian_inverse_transpose_apply,
    matrix_to_axis_angle,
    matrix_to_axis_angle_batch_last,
    skew,
)


def _directions(count: int, seed: int) -> torch.Tensor:
    v = torch.randn(count, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return v / v.norm(dim=-1, keepdim=True)


def test_matrix_matches_cv2_rodrigues() -> None:
    r = _directions(200, 0) * torch.linspace(0, math.pi, 200, dtype=torch.float64)[:, None]
    expected = np.stack([cv2.Rodrigues(v)[0] for v in r.numpy()])
    np.testing.assert_allclose(axis_angle_to_matrix(r).numpy(), expected, atol=1e-14)


def test_matrices_are_rotations() -> None:
    R = axis_angle_to_matrix(_directions(100, 1) * 3.0)
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(R @ R.mT, eye.expand_as(R), atol=1e-14, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(100, dtype=torch.float64), atol=1e-14, rtol=0)


def test_round_trip_random() -> None:
    r = _directions(500, 2) * torch.rand(500, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 3.1
    torch.testing.assert_close(matrix_to_axis_angle(axis_angle_to_matrix(r)), r, atol=1e-13, rtol=0)


@pytest.mark.parametrize("angle", [0.0, 1e-15, 1e-10, 1e-6, 9.99e-3, 1e-2, 1.001e-2, 1e-1])
def test_small_angles(angle: float) -> None:
    r = _directions(8, 4) * angle
    R = axis_angle_to_matrix(r)
    # Second-order expansion is exact to rounding for these angles.
    k = skew(r)
    eye = torch.eye(3, dtype=torch.float64)
    if angle <= 1e-6:
        torch.testing.assert_close(R, eye + k + 0.5 * k @ k, atol=1e-17, rtol=0)
    expected = np.stack([cv2.Rodrigues(v)[0] for v in r.numpy()])
    np.testing.assert_allclose(R.numpy(), expected, atol=1e-16)
    back = matrix_to_axis_angle(R)
    torch.testing.assert_close(back, r, atol=1e-16 + 1e-15 * angle, rtol=0)


@pytest.mark.parametrize("gap", [0.0, 1e-12, 1e-8, 1e-5, 1e-2])
def test_angles_near_pi(gap: float) -> None:
    r = _directions(16, 5) * (math.pi - gap)
    R = axis_angle_to_matrix(r)
    back = matrix_to_axis_angle(R)
    assert torch.all(back.norm(dim=-1) <= math.pi + 1e-12)
    # The matrix is recovered exactly; the vector too, up to the ±axis ambiguity at exactly π.
    torch.testing.assert_close(axis_angle_to_matrix(back), R, atol=1e-14, rtol=0)
    err = (back - r).norm(dim=-1)
    if gap == 0.0:
        err = torch.minimum(err, (back + r).norm(dim=-1))
    assert err.max() < 1e-6


def test_skew_is_cross_product() -> None:
    a, b = _directions(10, 6), _directions(10, 7)
    torch.testing.assert_close((skew(a) @ b[..., None])[..., 0], torch.linalg.cross(a, b), atol=1e-15, rtol=0)


@pytest.mark.parametrize("angle", [1e-4, 0.05, 0.5, 2.0, 3.0])
def test_left_jacobian_inverse_matches_finite_differences(angle: float) -> None:
    r = _directions(6, 8) * angle
    eps = 1e-6
    numeric = []
    for k in range(3):
        d = torch.zeros(3, dtype=torch.float64)
        d[k] = eps
        plus = matrix_to_axis_angle(axis_angle_to_matrix(d) @ axis_angle_to_matrix(r))
        minus = matrix_to_axis_angle(axis_angle_to_matrix(-d) @ axis_angle_to_matrix(r))
        numeric.append((plus - minus) / (2 * eps))
    torch.testing.assert_close(left_jacobian_inverse(r), torch.stack(numeric, -1), atol=1e-8, rtol=0)


@pytest.mark.parametrize("scale", [0.0, 1e-7, 1e-3, 1.0, 3.0])
def test_gradcheck_axis_angle_to_matrix(scale: float) -> None:
    r = (_directions(3, 9) * scale).requires_grad_()
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (r,))


@pytest.mark.parametrize("scale", [1e-7, 1e-3, 1.0, math.pi - 1e-3])
def test_gradcheck_matrix_to_axis_angle(scale: float) -> None:
    # Both on SO(3) (through the exponential map) and on raw matrices (gradcheck perturbs each entry).
    r = (_directions(3, 10) * scale).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: matrix_to_axis_angle(axis_angle_to_matrix(v)), (r,))
    R = axis_angle_to_matrix(r.detach()).requires_grad_()
    assert torch.autograd.gradcheck(matrix_to_axis_angle, (R,))


@pytest.mark.parametrize("scale", [1e-6, 0.05, 1.0, 3.0])
def test_gradcheck_left_jacobian_inverse(scale: float) -> None:
    r = (_directions(2, 11) * scale).requires_grad_()
    assert torch.autograd.gradcheck(left_jacobian_inverse, (r,))


def test_float32_and_broadcasting() -> None:
    r = _directions(12, 12).float().reshape(2, 2, 3, 3) * 0.7
    R = axis_angle_to_matrix(r)
    assert R.shape == (2, 2, 3, 3, 3) and R.dtype == torch.float32
    torch.testing.assert_close(matrix_to_axis_angle(R), r, atol=1e-6, rtol=0)


def test_numpy_arrays_give_the_same_results() -> None:
    r = _directions(64, 13) * torch.linspace(0, math.pi, 64, dtype=torch.float64)[:, None]
    R = axis_angle_to_matrix(r)
    np.testing.assert_allclose(axis_angle_to_matrix(r.numpy()), R.numpy(), atol=1e-15)
    np.testing.assert_allclose(matrix_to_axis_angle(R.numpy()), matrix_to_axis_angle(R).numpy(), atol=1e-15)
    np.testing.assert_allclose(left_jacobian_inverse(r.numpy()), left_jacobian_inverse(r).numpy(), atol=1e-15)
    np.testing.assert_allclose(skew(r.numpy()), skew(r).numpy(), atol=0)


def test_batch_last_variants_match() -> None:
    # The PnP solver keeps components first and the batch last; these helpers must agree with the batch-first API.
    r = _directions(64, 14) * torch.linspace(0, math.pi, 64, dtype=torch.float64)[:, None]
    g = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(15))
    R = axis_angle_to_matrix(r)
    for lib in (torch, np):
        R_last = R.permute(1, 2, 0) if lib is torch else R.permute(1, 2, 0).numpy()
        got = matrix_to_axis_angle_batch_last(R_last)
        np.testing.assert_allclose(np.asarray(got).T, matrix_to_axis_angle(R).numpy(), atol=1e-15)
        r_last, g_last = (r.T, g.T) if lib is torch else (r.T.numpy(), g.T.numpy())
        expected = (left_jacobian_inverse(r).mT @ g[..., None])[..., 0]
        got = left_jacobian_inverse_transpose_apply(r_last, g_last)
        np.testing.assert_allclose(np.asarray(got).T, expected.numpy(), atol=1e-14)
    a, b = _directions(10, 16), _directions(10, 17)
    torch.testing.assert_close(cross(a.T, b.T).T, torch.linalg.cross(a, b), atol=1e-15, rtol=0)
