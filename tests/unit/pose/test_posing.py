"""Evaluation's keypoints → pose: OpenCV solvers, the least-reprojection-error choice, failures flagged."""

from __future__ import annotations

import cv2
import numpy as np

from reprozoo.papers.pose.posing import FLAGS, solve_poses

K = np.array([[277.0, 0.0, 80.0], [0.0, 277.0, 60.0], [0.0, 0.0, 1.0]])


def _scene(rng: np.random.Generator, batch: int, noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A drone-sized model of 9 points, `batch` poses 1.5-3 m ahead, and their noisy projections [B, 9, 2]."""
    model = rng.uniform(-0.15, 0.15, (9, 3))
    rvecs = rng.normal(0.0, 0.6, (batch, 3))
    t = np.column_stack([rng.uniform(-0.3, 0.3, batch), rng.uniform(-0.2, 0.2, batch), rng.uniform(1.5, 3.0, batch)])
    pixels = np.stack([cv2.projectPoints(model, r, tt, K, None)[0][:, 0] for r, tt in zip(rvecs, t)])
    return model, rvecs, t, pixels + rng.normal(0.0, noise, pixels.shape)


def _rms(model: np.ndarray, R: np.ndarray, t: np.ndarray, pixels: np.ndarray) -> float:
    camera = model @ R.T + t
    projected = camera @ K.T
    return float(np.sqrt(np.mean(np.sum((projected[:, :2] / projected[:, 2:] - pixels) ** 2, axis=1))))


def test_exact_keypoints_recover_the_pose() -> None:
    model, rvecs, t, pixels = _scene(np.random.default_rng(0), 16, noise=0.0)
    R, t_est, ok = solve_poses(pixels, model, K)
    assert ok.all()
    np.testing.assert_allclose(t_est, t, atol=1e-6)
    np.testing.assert_allclose(R, np.stack([cv2.Rodrigues(r)[0] for r in rvecs]), atol=1e-6)


def test_kept_pose_reprojects_no_worse_than_any_single_solver() -> None:
    model, _, _, pixels = _scene(np.random.default_rng(1), 40, noise=6.0)
    R, t, ok = solve_poses(pixels, model, K)
    assert ok.all()
    for i in range(len(pixels)):
        chosen = _rms(model, R[i], t[i], pixels[i])
        for flag in FLAGS.values():
            solved, rvec, tvec = cv2.solvePnP(model, pixels[i], K, None, flags=flag)
            camera_z = (model @ cv2.Rodrigues(rvec)[0].T + tvec.ravel())[:, 2]
            if solved and (camera_z > 0).all():
                assert chosen <= _rms(model, cv2.Rodrigues(rvec)[0], tvec.ravel(), pixels[i]) + 1e-9


def test_a_bad_local_minimum_is_replaced_by_a_better_solver(monkeypatch) -> None:
    """When the first solver returns a far, poorly reprojecting pose, the better one wins."""
    model, _, t_true, pixels = _scene(np.random.default_rng(2), 1, noise=0.5)
    real_solve = cv2.solvePnP

    def stuck_iterative(points3d, points2d, camera, dist, flags):
        if flags == cv2.SOLVEPNP_ITERATIVE:
            return True, np.zeros((3, 1)), np.array([[40.0], [-30.0], [9700.0]])
        return real_solve(points3d, points2d, camera, dist, flags=flags)

    monkeypatch.setattr(cv2, "solvePnP", stuck_iterative)
    _, t, ok = solve_poses(pixels, model, K, method="iterative")
    assert ok[0] and np.linalg.norm(t[0] - t_true[0]) < 0.05


def test_unsolvable_samples_are_flagged_with_a_finite_placeholder() -> None:
    model, _, _, pixels = _scene(np.random.default_rng(3), 2, noise=0.0)
    pixels[1] = np.nan
    R, t, ok = solve_poses(pixels, model, K)
    assert ok.tolist() == [True, False]
    np.testing.assert_array_equal(R[1], np.eye(3))
    np.testing.assert_array_equal(t[1], [0.0, 0.0, 1.0])
