"""Pose metrics against hand computations and independent implementations (SciPy rotations, OpenCV projection)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from reprozoo.geometry import pose_metrics
from reprozoo.geometry.camera import intrinsics_from_fov


@pytest.fixture
def poses() -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(7)
    B = 64
    R_gt = Rotation.random(B, random_state=1).as_matrix()
    noise = Rotation.from_rotvec(rng.normal(scale=0.05, size=(B, 3)))
    R_pred = (noise * Rotation.from_matrix(R_gt)).as_matrix()
    t_gt = np.c_[rng.uniform(-0.3, 0.3, (B, 2)), rng.uniform(1.0, 2.5, B)]
    t_pred = t_gt + rng.normal(scale=0.02, size=(B, 3))
    points = rng.uniform(-0.1, 0.1, (50, 3))
    return {k: torch.from_numpy(v) for k, v in dict(R_gt=R_gt, R_pred=R_pred, t_gt=t_gt, t_pred=t_pred, points=points).items()}


def test_rotation_error_equals_scipy_geodesic(poses) -> None:
    ours = pose_metrics.rotation_error(poses["R_gt"], poses["R_pred"]).numpy()
    scipy = (Rotation.from_matrix(poses["R_gt"].numpy()) * Rotation.from_matrix(poses["R_pred"].numpy()).inv()).magnitude()
    assert np.allclose(ours, scipy, atol=1e-6)
    same = pose_metrics.rotation_error(poses["R_gt"], poses["R_gt"])
    assert torch.all(same.abs() < 1e-6)  # clamping keeps arccos finite at trace 3


def test_projection_error_equals_opencv(poses) -> None:
    K = torch.from_numpy(intrinsics_from_fov(160, 120, 64.69))
    ours = pose_metrics.projection_error(poses["R_gt"], poses["t_gt"], poses["R_pred"], poses["t_pred"], poses["points"], K).numpy()
    ref = []
    for i in range(len(ours)):
        a = cv2.projectPoints(poses["points"].numpy(), cv2.Rodrigues(poses["R_gt"][i].numpy())[0], poses["t_gt"][i].numpy(), K.numpy(), None)[0]
        b = cv2.projectPoints(poses["points"].numpy(), cv2.Rodrigues(poses["R_pred"][i].numpy())[0], poses["t_pred"][i].numpy(), K.numpy(), None)[0]
        ref.append(np.linalg.norm(a - b, axis=-1).mean())
    assert np.allclose(ours, ref, rtol=1e-6)


def test_add_and_npe_equal_explicit_loops(poses) -> None:
    ours = pose_metrics.add_error(poses["R_gt"], poses["t_gt"], poses["R_pred"], poses["t_pred"], poses["points"]).numpy()
    p = poses["points"].numpy()
    for i in range(len(ours)):
        a = p @ poses["R_gt"][i].numpy().T + poses["t_gt"][i].numpy()
        b = p @ poses["R_pred"][i].numpy().T + poses["t_pred"][i].numpy()
        assert ours[i] == pytest.approx(np.linalg.norm(a - b, axis=1).mean(), rel=1e-9)
    npe = pose_metrics.normalized_position_error(torch.tensor([[0.0, 0.0, 2.0]]), torch.tensor([[0.0, 0.1, 2.0]]))
    assert npe.item() == pytest.approx(0.05, rel=1e-6)


def test_summarize_hand_computed_thresholds() -> None:
    deg = math.pi / 180
    errors = {
        "npe": torch.tensor([0.01, 0.02, 0.09]),
        "rot_rad": torch.tensor([1 * deg, 3 * deg, 6 * deg]),
        "trans_m": torch.tensor([0.01, 0.01, 0.01]),  # 1 cm each
        "add_m": torch.tensor([0.001, 0.008, 0.05]),  # diameter 0.2: 2 % = 0.004 m, 5 % = 0.01 m
        "proj_px": torch.tensor([1.0, 4.0, 12.0]),
    }
    out = pose_metrics.summarize(errors, diameter=0.2, thresholds=(2, 5, 10))
    assert out["npe"] == pytest.approx(0.04)
    assert out["npe_median"] == pytest.approx(0.02)
    assert out["ad"] == pytest.approx(10 * deg / 3)
    assert (out["acc2"], out["acc5"], out["acc10"]) == pytest.approx((100 / 3, 200 / 3, 100.0))
    assert (out["add2"], out["add5"], out["add10"]) == pytest.approx((100 / 3, 200 / 3, 200 / 3))  # 10 % = 0.02 m
    assert (out["proj2"], out["proj5"], out["proj10"]) == pytest.approx((100 / 3, 200 / 3, 200 / 3))
